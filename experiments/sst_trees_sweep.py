"""Settings of the `sst_trees` recipe compared on dev SST-2 accuracy from plain text (the selection
metric), each run from the same trained parser, one after another.

    python -m experiments.sst_trees_sweep --parser runs/sentiment-sst-treelstm/parser --minutes 5 \
        units=150 embedding_dim=100 ... (each argument one variant: comma-separated key=value pairs)
"""

import argparse
import csv
import dataclasses
import shutil
from pathlib import Path

from recipes import sst_trees
from recipes.command_line import REPO, default_data_dir
from zoo.training import TrainingOptions


def variant(text):
    """'embedding_dim=100,dropout=0.4' -> a Config of sentiment-sst-treelstm with those fields."""
    base = sst_trees.CONFIGS["sentiment-sst-treelstm"]
    changes = dict(pair.split("=") for pair in text.split(",")) if text else {}
    typed = {k: type(getattr(base, k))(v) for k, v in changes.items()}  # each field as the type of its default
    return dataclasses.replace(base, name=f"sweep-{text or 'base'}".replace(",", "-").replace("=", ""), **typed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parser", type=Path, required=True, help="a trained parser folder (copied into each run)")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args(argv)
    for text in args.variants:
        config = variant(text)
        run_dir = REPO / "runs" / "sweep" / config.name
        if run_dir.exists():
            shutil.rmtree(run_dir)
        shutil.copytree(args.parser, run_dir / "parser")
        sst_trees.train(config, default_data_dir(), run_dir, TrainingOptions(max_minutes=args.minutes))
        with (run_dir / "history.csv").open() as f:
            rows = list(csv.DictReader(f))
        best = max(rows, key=lambda row: float(row["val_sst2_accuracy"]))
        print(f"SWEEP {text or 'base'}: best dev SST-2 {float(best['val_sst2_accuracy']):.4f} at epoch {best['epoch']} "
              f"of {len(rows)}", flush=True)


if __name__ == "__main__":
    main()
