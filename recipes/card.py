"""Model cards: `recipes/cards/<recipe>.md`, str.format templates filled by `render_card`."""

from pathlib import Path

CARDS = Path(__file__).resolve().parent / "cards"


def render_card(recipe, **fields):
    """The card template of `recipe` (recipes/cards/<recipe>.md) with `fields` filled in, as str.format
    fills them (`{config.units}`, `{result[nats]:.4f}`; `{{` is a literal brace)."""
    return (CARDS / f"{recipe}.md").read_text(encoding="utf-8").format(**fields)
