"""The recipe table: `zoo train` finds the recipes through the `rnn_zoo.recipes` entry points (setup.cfg),
and the library never imports `recipes`."""

import configparser
import importlib.metadata
from pathlib import Path

import pytest

from helpers import run_error, run_fresh_python
from zoo.recipe_table import GROUP, _declared_in, recipe_main, recipe_table

REPO = Path(__file__).resolve().parents[1]
RECIPES = ["charlm_shakespeare", "mnist_pixelrnn", "multi30k_translation", "ptb_language_model", "sst2_sentiment", "sst_trees",
           "ud_pos_tagging"]


def test_setup_cfg_declares_every_recipe_main():
    declared = {entry.name: entry.value for entry in _declared_in(REPO / "setup.cfg")}
    assert declared == {name: f"recipes.{name}:main" for name in RECIPES}
    assert list(recipe_table()) == RECIPES


def test_every_recipe_loads():
    for name in RECIPES:
        assert callable(recipe_main(name))


def test_an_unknown_recipe_is_named_with_the_closest(capsys):
    with pytest.raises(ValueError, match="unknown recipe 'ptb'; recipes: charlm_shakespeare, .*ud_pos_tagging"):
        recipe_main("ptb")
    assert "did you mean 'sst2_sentiment'?" in run_error(capsys, "train", "sst2_sentimen")


def test_installed_entry_points_take_precedence(monkeypatch):
    ours = importlib.metadata.EntryPoint("mine", "json:dumps", GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [ours] if group == GROUP else [])
    assert recipe_table() == {"mine": ours}


def test_a_missing_setup_cfg_declares_none(tmp_path):
    assert _declared_in(tmp_path / "setup.cfg") == []
    assert configparser.ConfigParser().read(tmp_path / "setup.cfg") == []


def test_no_zoo_module_imports_recipes():
    script = """
import pkgutil, importlib, sys
import zoo
names = [m.name for m in pkgutil.walk_packages(zoo.__path__, "zoo.")]
for name in names:
    importlib.import_module(name)
from zoo import cli
cli.build_parser()
print(len(names), sorted(m for m in sys.modules if m == "recipes" or m.startswith("recipes.")))
"""
    count, imported = run_fresh_python(script, REPO).split(" ", 1)
    assert int(count) > 40 and imported.strip() == "[]"
    assert not [p for p in (REPO / "zoo").rglob("*.py") if "from recipes" in p.read_text()
                or "import recipes" in p.read_text()]
