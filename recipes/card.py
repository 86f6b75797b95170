"""Model cards: `recipes/cards/<recipe>.md`, str.format templates filled by `render_card`."""

from pathlib import Path

from recipes.card_checks import checks_section
from zoo.training.provenance import provenance_text

CARDS = Path(__file__).resolve().parent / "cards"


_BFLOAT16 = ("Trained under Keras' mixed_bfloat16 policy (`--precision bfloat16`): the matmuls in\n"
             "bfloat16; the weights, the recurrent states and the gate math in float32.")
# The card's precision section, by (the precision it trained in, the one the shipped model runs in).
PRECISION_SECTIONS = {
    ("float32", "float32"): "## Precision\n\nTrained and evaluated in float32 (`--precision float32`, Keras' \"float32\" policy).\n",
    ("bfloat16", "bfloat16"): f"## Precision\n\n{_BFLOAT16} The model keeps the\npolicy: it was evaluated, and runs, the same way.\n",
    ("bfloat16", "float32"): f"## Precision\n\n{_BFLOAT16} Shipped to run in\nfloat32 (the same float32 weights), and every number on this card was measured so.\n",
}


def render_card(recipe, precision, provenance=None, checks=None, **fields):
    """The card template of `recipe` (recipes/cards/<recipe>.md) with `fields` filled in, as str.format
    fills them (`{config.units}`, `{result[nats]:.4f}`; `{{` is a literal brace), and closing sections on
    precision (the one the run recorded it trained in, and `precision`, the shipped model's:
    `zoo.training.precision.precision_of`) and, where given, how its run was made (`provenance`: the
    run's recorded starts, `zoo.training.provenance`; `{cpu}` names their CPU) and what checks its numbers
    (`checks`, `recipes.card_checks`)."""
    card = (CARDS / f"{recipe}.md").read_text(encoding="utf-8").format(cpu=training_cpu(provenance), **fields)
    trained = provenance[-1]["precision"] if provenance else precision  # a resume keeps the run's precision
    sections = [card, PRECISION_SECTIONS[trained, precision]]
    if provenance is not None:
        sections.append(provenance_text(provenance))
    if checks is not None:
        sections.append(checks_section(checks))
    return "\n\n".join(section.rstrip("\n") for section in sections) + "\n"


def training_cpu(provenance):
    """The `{cpu}` of a card: the CPU(s) the run's starts recorded; the AMD EPYC of the runs from before
    the record (every model shipped before it was trained there)."""
    return " and ".join(dict.fromkeys(start["cpu"] for start in provenance or [])) or "AMD EPYC"


def training_summary(history, monitor="val_loss", best=min):
    """The card fields of a training history (history.csv's rows): `epochs` trained, `chosen_epoch` (the
    row `best` by `monitor`: min for a loss, max for an accuracy), `minutes` of training, and `best`, that row."""
    row = best(history, key=lambda row: float(row[monitor]))
    return {"epochs": len(history), "chosen_epoch": int(row["epoch"]),
            "minutes": float(history[-1]["train_seconds"]) / 60, "best": row}
