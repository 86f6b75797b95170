"""float32 against bfloat16 (`--precision bfloat16`) on the character LM: the same recipe, steps and
seed in both precisions, one after the other; the report gives each epoch's validation loss and time.

    python -m experiments.precision_charlm --epochs 2 --out docs/precision_charlm.md
"""

import argparse
import csv
import dataclasses
import shutil
import sys
from pathlib import Path

from recipes import charlm_shakespeare
from recipes.command_line import REPO, default_data_dir
from zoo.training import TrainingOptions, record_precision, training_precision, use_precision
from zoo.training.precision import BFLOAT16_CPU_FLAGS, bfloat16_matrix_unit

GOAL_NATS = 0.01  # |bfloat16 - float32| validation loss after the same steps


def run(config, precision, data_dir):
    """Trains `config` from scratch in `precision`; returns its history.csv rows."""
    run_dir = REPO / "runs" / "precision" / f"{config.name}-{precision}"
    shutil.rmtree(run_dir, ignore_errors=True)
    record_precision(run_dir, precision)
    use_precision(precision)
    try:
        charlm_shakespeare.train(config, data_dir, run_dir, TrainingOptions(max_minutes=24 * 60))
    finally:
        use_precision("float32")
    with (run_dir / "history.csv").open() as f:
        return list(csv.DictReader(f))


def report(config, histories, cpu_flags):
    float32, bfloat16 = histories["float32"], histories["bfloat16"]
    lines = [f"# float32 vs bfloat16: `{config.name}`, {len(float32)} epochs of {float32[0]['step']} steps, seed "
             f"{config.seed}", "",
             f"`python -m experiments.precision_charlm --model {config.name} --epochs {len(float32)}`; CPU bfloat16 "
             f"unit: {', '.join(cpu_flags) or 'none'}. Validation loss: nats/char on the recipe's 256-character "
             "validation windows; seconds: training time to the end of the epoch.", "",
             "| epoch | step | float32 val loss | bfloat16 val loss | difference | float32 s | bfloat16 s | speed-up |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f, b in zip(float32, bfloat16):
        difference = float(b["val_loss"]) - float(f["val_loss"])
        speedup = float(f["train_seconds"]) / float(b["train_seconds"])
        lines.append(f"| {f['epoch']} | {f['step']} | {float(f['val_loss']):.4f} | {float(b['val_loss']):.4f} "
                     f"| {difference:+.4f} | {float(f['train_seconds']):.0f} | {float(b['train_seconds']):.0f} "
                     f"| {speedup:.2f}x |")
    last = abs(float(bfloat16[-1]["val_loss"]) - float(float32[-1]["val_loss"]))
    lines += ["", f"After the last epoch the two differ by {last:.4f} nats (goal: within {GOAL_NATS}: "
              f"{'met' if last <= GOAL_NATS else 'not met'})."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(charlm_shakespeare.CONFIGS), default="charlm-shakespeare-lstm")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown report here")
    args = parser.parse_args(argv)
    if training_precision("bfloat16")[0] != "bfloat16":
        sys.exit(f"this CPU has no bfloat16 matrix unit ({' or '.join(BFLOAT16_CPU_FLAGS)}): nothing to compare")
    config = dataclasses.replace(charlm_shakespeare.CONFIGS[args.model], max_epochs=args.epochs,
                                 patience=args.epochs)
    histories = {precision: run(config, precision, args.data_dir) for precision in ("float32", "bfloat16")}
    text = report(config, histories, bfloat16_matrix_unit())
    print(text, end="")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
