"""The README's fine-tuning snippets run as written (on small files of the formats they name), and
fitting lowers the model's loss on the data they fit."""

import math
import re
from pathlib import Path

import pytest

import zoo

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\n") * 15
CONLLU = "".join(
    f"# text = {' '.join(words)}\n"
    + "".join(f"{i}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_\n" for i, (w, t) in enumerate(zip(words, tags), start=1))
    + "\n"
    for words, tags in [
        (["The", "zorbles", "glimfed", "."], ["DET", "NOUN", "VERB", "PUNCT"]),
        (["She", "reads", "quickly", "."], ["PRON", "VERB", "ADV", "PUNCT"]),
        (["Two", "blorches", "sleep", "."], ["NUM", "NOUN", "VERB", "PUNCT"]),
    ]
)
DIGITS = "".join(  # 32 images of a thick horizontal bar at rows 4-21, one CSV row each
    ",".join(["0"] * (28 * row) + ["255"] * (28 * 3) + ["0"] * (28 * (25 - row))) + "\n" for row in range(4, 22)) * 2
TREES = "(3 (2 a) (3 (3 good) (2 film)))\n(1 (2 a) (1 (1 bad) (2 film)))\n(3 (2 (2 not) (1 bad)) (2 (2 at) (2 all)))\n"


def snippets():
    """(model name, code) of each python block of the README's fine-tuning section."""
    section = README.read_text(encoding="utf-8").split("## Fine-tuning a shipped model")[1].split("\n## ")[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return [(re.search(r'zoo\.load\("([^"]+)"\)', code).group(1), code) for code in blocks]


def test_the_section_shows_every_kind_of_shipped_model():
    from zoo.presets import PRESETS

    kinds = {PRESETS[name]["task"] for name, _ in snippets()}
    assert kinds == set(zoo.tasks.TASKS)


@pytest.mark.slow
@pytest.mark.parametrize("name, code", snippets(), ids=[name for name, _ in snippets()])
def test_snippet_runs_and_fine_tunes(name, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_text.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "my_treebank.conllu").write_text(CONLLU, encoding="utf-8")
    (tmp_path / "my_trees.txt").write_text(TREES, encoding="utf-8")
    (tmp_path / "my_digits.csv").write_text(DIGITS, encoding="utf-8")
    loading, fitting = re.split(r"(?m)^(?=history = )", code, maxsplit=1)
    scope = {}
    exec(compile(loading, f"README.md ({name})", "exec"), scope)
    data = _fitted_data(code, scope)
    model = scope["model"]  # evaluated before and after the fit: one compiled evaluation, not one per copy
    before = model.evaluate(data, verbose=0, return_dict=True)["loss"]
    exec(compile(fitting, f"README.md ({name})", "exec"), scope)
    losses = scope["history"].history["loss"]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    after = model.evaluate(data, verbose=0, return_dict=True)["loss"]
    assert after < before, (before, after)
    for saved in re.findall(r'model\.save\("([^"]+)"\)', code):
        assert (tmp_path / saved).is_file()


def _fitted_data(code, scope):
    """The snippet's `zoo.dataset(...)` call, evaluated again in its scope (in order, unshuffled)."""
    call = re.search(r"zoo\.dataset\((.*?)\)(?:, epochs|\))", code).group(1)
    return eval(f"zoo.dataset({call}, shuffle=False)", scope)
