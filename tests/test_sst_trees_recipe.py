"""The sst_trees recipe end to end on a tiny treebank: parser, two ensemble members, resume, package,
and a model card whose numbers `zoo evaluate` reproduces."""

import json

import pytest

from helpers import run
from zoo.trees import detokenize, parse_tree

POSITIVE = ["(3 (2 a) (3 (3 good) (2 film)))", "(4 (2 (2 the) (2 cast)) (4 (2 is) (4 great)))",
            "(3 (2 (2 not) (1 bad)) (2 (2 at) (2 all)))", "(3 (3 charming) (2 (2 and) (3 warm)))"]
NEGATIVE = ["(1 (2 a) (1 (1 bad) (2 film)))", "(0 (2 it) (0 (2 is) (0 awful)))",
            "(1 (2 (2 the) (2 plot)) (1 (2 is) (1 dull)))", "(1 (1 tedious) (2 (2 and) (1 long)))"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sst")
    (root / "sst").mkdir()
    (root / "sst2").mkdir()
    (root / "sst" / "train.txt").write_text("".join(f"{line}\n" for line in POSITIVE + NEGATIVE) * 3, encoding="utf-8")
    dev = POSITIVE[:2] + NEGATIVE[:2] + ["(2 (2 the) (2 film))"]  # a neutral root: not in SST-2
    (root / "sst" / "dev.txt").write_text("\n".join(dev) + "\n", encoding="utf-8")
    rows = [f"{detokenize(parse_tree(line).words)}\t{int(parse_tree(line).label > 2)}" for line in dev[:4]]
    (root / "sst2" / "dev.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return root


@pytest.mark.slow
def test_a_tiny_ensemble_trains_resumes_packages_and_its_card_matches_zoo_evaluate(data_dir, tmp_path, capsys):
    flags = ["--model", "sentiment-sst-tree-tiny", "--data-dir", data_dir, "--run-dir", tmp_path / "run"]
    assert run(capsys, "train", "sst_trees", *flags)[0] == 0
    run_dir = tmp_path / "run"
    assert all((run_dir / f"member-{k}" / "finished").is_file() for k in range(2))
    assert (run_dir / "parser" / "parser.weights.h5").is_file() and (run_dir / "best.keras").is_file()
    code, out, _ = run(capsys, "train", "sst_trees", *flags, "--resume")
    assert code == 0 and out.count("finished in an earlier run") == 2  # finished members are kept
    run(capsys, "train", "sst_trees", *flags, "--package", "--checkpoints-dir", tmp_path / "checkpoints")
    folder = tmp_path / "checkpoints" / "sentiment-sst-tree-tiny"
    metadata = json.loads((folder / "metadata.json").read_text())
    assert len(metadata["histories"]) == 2 and metadata["config"]["members"] == 2
    tsv, gold = metadata["tsv"], metadata["trees"]["gold"]
    quick, whole, trees = metadata["checks"]  # `zoo evaluate` on the packaged folder, run at packaging
    assert quick["commands"][0].endswith("--first 200")
    assert whole["prints"][0] == f"accuracy {tsv['accuracy']:.2%} ({tsv['correct']} of 4)"
    assert f"SST-5 root accuracy         {gold['sst5_root']:.2%}" in trees["prints"][2]
    card = (folder / "README.md").read_text()
    assert f"**{tsv['accuracy']:.2%}**" in card and "mean of the probabilities of 2 such classifiers" in card
    assert "Short of the 86.0%" in card or "Above the 86.0%" in card
