"""Runs a recipe's command line in this process, with two hooks for tests/test_training_faults.py:

    python tests/training_process.py [--kill-at-step N] [--without-dropout] RECIPE_MODULE [recipe flags...]

--kill-at-step N   the process kills itself with SIGKILL right after training step N (counted from 1 over
                   the whole process), as a crash or a pre-empted machine would
--without-dropout  every dropout rate of the recipe's configs is 0 (replicas draw different dropout masks,
                   so only runs without dropout can give the same losses on one device and on several)
"""

import argparse
import dataclasses
import importlib
import os
import signal

from helpers import AtStep
from zoo.training import loop


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-at-step", type=int)
    parser.add_argument("--without-dropout", action="store_true")
    parser.add_argument("module")
    args, flags = parser.parse_known_args()
    recipe = importlib.import_module(args.module)
    if args.kill_at_step:
        shared_callbacks, killer = loop.standard_callbacks, AtStep(args.kill_at_step,
                                                                   lambda: os.kill(os.getpid(), signal.SIGKILL))
        loop.standard_callbacks = lambda *a, **k: [*shared_callbacks(*a, **k), killer]
    if args.without_dropout:
        for name, config in recipe.CONFIGS.items():
            rates = {f.name: 0.0 for f in dataclasses.fields(config) if "dropout" in f.name and f.type is float}
            recipe.CONFIGS[name] = dataclasses.replace(config, **rates)
    recipe.main(flags)


if __name__ == "__main__":
    main()
