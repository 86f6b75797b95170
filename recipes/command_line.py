"""The command line every recipe shares: its flags (`argument_parser`) and what its `main` does with
them (`run_recipe`). The training itself is the library's: `zoo.training`."""

import argparse
import os
import sys
from pathlib import Path

from zoo.training import (TrainingOptions, distribution_strategy, record_precision, training_precision,
                          use_precision)
from zoo.training.precision import PRECISIONS
from zoo.training.provenance import record_start

REPO = Path(__file__).resolve().parents[1]


def default_data_dir():
    return Path(os.environ.get("ZOO_DATA_DIR", REPO.parent / "shared" / "data"))


class RecipeParser(argparse.ArgumentParser):
    """Keeps the arguments as given (`args.argv`): a run records the command it was started with."""

    def parse_args(self, args=None, namespace=None):
        argv = [str(arg) for arg in (sys.argv[1:] if args is None else args)]
        parsed = super().parse_args(argv, namespace)
        parsed.argv = argv
        return parsed


def argument_parser(description, configs, default_model, default_minutes):
    """The flags every recipe takes: --model, --data-dir, --run-dir, --max-minutes, --package,
    --checkpoints-dir, and how to train (`TrainingOptions`, --strategy, --logical-cpus, --precision)."""
    parser = RecipeParser(description=description)
    parser.add_argument("--model", choices=sorted(configs), default=default_model)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                        help="the datasets (default: $ZOO_DATA_DIR, then ../shared/data)")
    parser.add_argument("--run-dir", type=Path, default=None, help="default: runs/<model>")
    parser.add_argument("--max-minutes", type=float, default=default_minutes,
                        help="stop before an epoch would end past this much training time (over the run's resumes)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest checkpoint in <run-dir>/checkpoint/ (same data order and "
                             "random state: the run ends as if never stopped)")
    parser.add_argument("--checkpoint-every", type=int, default=TrainingOptions.checkpoint_every, metavar="STEPS",
                        help="steps between checkpoints (one is also written at every epoch end)")
    parser.add_argument("--global-clipnorm", type=float, default=None, metavar="NORM",
                        help="clip the gradients to this norm, all together (default: the config's clipping)")
    parser.add_argument("--clipvalue", type=float, default=None, metavar="VALUE",
                        help="clip every gradient element to [-VALUE, VALUE] (default: none)")
    parser.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default",
                        help="tf.distribute: one device; every GPU (or logical CPU) of this machine; the machines of "
                             "TF_CONFIG")
    parser.add_argument("--logical-cpus", type=int, default=None, metavar="N",
                        help="split the CPU into N logical devices (to try --strategy mirrored without GPUs)")
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="float32",
                        help="bfloat16: Keras' mixed_bfloat16 policy (matmuls in bfloat16, weights and recurrent "
                             "states in float32), on a CPU that multiplies bfloat16 in hardware; float32 elsewhere")
    parser.add_argument("--package", action="store_true",
                        help="do not train: evaluate the run's best model and write checkpoints/<model>/")
    parser.add_argument("--checkpoints-dir", type=Path, default=REPO / "checkpoints")
    return parser


def training_options(args):
    return TrainingOptions(max_minutes=args.max_minutes, resume=args.resume, checkpoint_every=args.checkpoint_every,
                           global_clipnorm=args.global_clipnorm, clipvalue=args.clipvalue)


def run_dir_of(args, config):
    return args.run_dir or REPO / "runs" / config.name


def run_recipe(args, configs, train, package):
    """What a recipe's main does with `argument_parser`'s flags: `package(config, data_dir, run_dir,
    checkpoints_dir)` with --package, else `train(config, data_dir, run_dir, options)` inside the scope of
    the distribution strategy (the model and optimizer are created there), under the dtype policy of
    --precision (recorded in the run folder: a resumed run keeps its precision). Each start of a run is
    recorded with its command and code version (`zoo.training.provenance`) for the model card."""
    config = configs[args.model]
    run_dir = run_dir_of(args, config)
    if args.package:  # under the float32 policy: a model rebuilt ships in float32, one loaded from best.keras
        # keeps the policy it trained in; the card names both (recipes.card.PRECISION_SECTIONS)
        return package(config, args.data_dir, run_dir, args.checkpoints_dir)
    precision, fallback = training_precision(args.precision)
    if fallback:
        print(fallback, flush=True)
    record_precision(run_dir, precision)
    module = sys.modules[train.__module__]  # "__main__" under `python -m recipes.NAME`: its spec has the name
    recipe = (module.__spec__.name if module.__spec__ else module.__name__).rsplit(".", 1)[-1]
    record_start(run_dir, ["zoo", "train", recipe, *args.argv], precision, REPO)
    use_precision(precision)
    with distribution_strategy(args.strategy, args.logical_cpus).scope():
        return train(config, args.data_dir, run_dir, training_options(args))
