"""Model cards: `recipes/cards/<recipe>.md`, str.format templates filled by `render_card`."""

from pathlib import Path

CARDS = Path(__file__).resolve().parent / "cards"


def render_card(recipe, **fields):
    """The card template of `recipe` (recipes/cards/<recipe>.md) with `fields` filled in, as str.format
    fills them (`{config.units}`, `{result[nats]:.4f}`; `{{` is a literal brace)."""
    return (CARDS / f"{recipe}.md").read_text(encoding="utf-8").format(**fields)


def training_summary(history, monitor="val_loss", best=min):
    """The card fields of a training history (history.csv's rows): `epochs` trained, `chosen_epoch` (the
    row `best` by `monitor`: min for a loss, max for an accuracy), `minutes` of training, and `best`, that row."""
    row = best(history, key=lambda row: float(row[monitor]))
    return {"epochs": len(history), "chosen_epoch": int(row["epoch"]),
            "minutes": float(history[-1]["train_seconds"]) / 60, "best": row}
