"""The recipes `zoo train NAME` runs: the entry points of the group `rnn_zoo.recipes`.

setup.cfg declares them (`[options.entry_points]`, `rnn_zoo.recipes = NAME = module:main`), so that the
zoo finds them without importing any recipe, and another package can add its own. A source checkout
run without installing it (or whose installed metadata predates the table) reads the same section of
its setup.cfg."""

import configparser
import importlib.metadata
from pathlib import Path

GROUP = "rnn_zoo.recipes"
CHECKOUT_SETUP = Path(__file__).resolve().parents[1] / "setup.cfg"


def recipe_table():
    """{recipe name: importlib.metadata.EntryPoint of its `main(argv)`}, sorted by name."""
    entry_points = importlib.metadata.entry_points(group=GROUP) or _declared_in(CHECKOUT_SETUP)
    return {entry.name: entry for entry in sorted(entry_points, key=lambda entry: entry.name)}


def _declared_in(setup_cfg):
    """The `rnn_zoo.recipes` entry points written in `setup_cfg`, if it exists."""
    parser = configparser.ConfigParser()
    parser.read(setup_cfg)
    lines = parser.get("options.entry_points", GROUP, fallback="").strip().splitlines()
    return [importlib.metadata.EntryPoint(name.strip(), value.strip(), GROUP)
            for name, value in (line.split("=", 1) for line in lines)]


def recipe_main(name):
    """The `main(argv)` of the recipe `name`; ValueError naming the recipes if there is none."""
    import difflib

    table = recipe_table()
    if name not in table:
        close = difflib.get_close_matches(name, table)
        raise ValueError(f"unknown recipe {name!r}; recipes: {', '.join(table)}"
                         + (f" (did you mean {close[0]!r}?)" if close else ""))
    return table[name].load()
