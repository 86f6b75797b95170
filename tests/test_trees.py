"""Bracketed trees: reading (with file and line in errors), the SST-2 view, PTB tokenization of raw
text, and the conversion to and from the tensor layout."""

import os
from pathlib import Path

import numpy as np
import pytest

from zoo.corpora import CorpusError, read_labelled_tsv
from zoo.trees import (
    Tree,
    detokenize,
    parse_tree,
    read_trees,
    spans,
    sst2_view,
    tensors_to_trees,
    tokenize,
    trees_to_tensors,
)

DATA_DIR = Path(os.environ.get("ZOO_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
LINE = "(3 (2 It) (4 (2 (2 's) (3 good)) (2 .)))"


def test_parse_tree_reads_labels_words_and_structure():
    tree = parse_tree(LINE)
    assert tree.label == 3 and tree.words == ["It", "'s", "good", "."]
    assert tree.children[0] == Tree(2, word="It")
    assert str(tree) == LINE
    assert spans(tree) == {(0, 0), (1, 1), (2, 2), (3, 3), (1, 2), (1, 3), (0, 3)}


@pytest.mark.parametrize("line, message", [
    ("(3 (2 It) (4 good)", "never closed"),
    ("(3 (2 It) (4 good)))", "text after the end of the tree at column 20"),
    ("(3 (7 It) (4 good))", "label '7', not one of 0-4"),
    ("(3 (2 It) (4 ))", "column 11 is an empty leaf"),
    ("(3 (2 It good) (4 good))", "has 2 words and 0 children"),
    ("(3 (2 It) (4 good) (2 .))", "has 0 words and 3 children"),
    ("(3 (2 It))", "has 0 words and 1 children"),
    ("(3 It (4 good))", "has 1 words and 1 children"),
    ("(It)", "has label 'It'"),
])
def test_a_malformed_line_is_reported_with_file_and_line(tmp_path, line, message):
    path = tmp_path / "trees.txt"
    path.write_text(f"{LINE}\n\n{line}\n")
    with pytest.raises(CorpusError, match=rf"trees.txt, line 3: .*{message}"):
        read_trees(path)


def test_an_empty_file_is_an_error(tmp_path):
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(CorpusError, match="no trees"):
        read_trees(tmp_path / "empty.txt")


def test_sst2_view_drops_neutral_roots():
    trees = [parse_tree(f"({label} (2 a) (2 b))") for label in range(5)]
    kept, labels = sst2_view(trees)
    assert [t.label for t in kept] == [0, 1, 3, 4] and labels == [0, 0, 1, 1]


def test_tensor_layout_and_back():
    trees = [parse_tree(LINE), parse_tree("(1 bad)"), parse_tree("(0 (1 not) (2 good))")]
    batch = trees_to_tensors(trees)
    t = 4
    assert batch["words"].tolist() == [["It", "'s", "good", "."], ["bad", "", "", ""], ["not", "good", "", ""]]
    assert batch["children"].shape == (3, 2 * t - 1, 2) and batch["children"].dtype == np.int32
    # post-order: ('s good) -> slot 4, (... .) -> 5, root -> 6
    np.testing.assert_array_equal(batch["children"][0, t:], [[1, 2], [4, 3], [0, 5]])
    np.testing.assert_array_equal(batch["children"][0, :t], -1)
    np.testing.assert_array_equal(batch["labels"][0], [2, 2, 3, 2, 2, 4, 3])
    np.testing.assert_array_equal(batch["node_mask"][1], [1, 0, 0, 0, 0, 0, 0])  # one word: the root is the leaf
    np.testing.assert_array_equal(batch["node_mask"][2], [1, 1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(batch["children"][2, t], [0, 1])
    assert [str(tree) for tree in tensors_to_trees(**batch)] == [str(tree) for tree in trees]
    unlabeled = tensors_to_trees(batch["children"], batch["node_mask"], batch["words"].astype(bytes))
    assert [str(tree) for tree in unlabeled] == ["(It (('s good) .))", "bad", "(not good)"]


def test_trees_to_tensors_pads_to_max_words_and_refuses_shorter():
    assert trees_to_tensors([parse_tree(LINE)], max_words=6)["children"].shape == (1, 11, 2)
    with pytest.raises(ValueError, match="more than max_words=3"):
        trees_to_tensors([parse_tree(LINE)], max_words=3)


@pytest.mark.parametrize("text, tokens", [
    ("It's not bad at all, isn't it?", "it 's not bad at all , is n't it ?"),
    ('The "Elling" (2001) cannot fail... I\'d say so.', "the `` elling '' -lrb- 2001 -rrb- can not fail ... i 'd say so ."),
    ("A writer/director's 1,000 films; we're gonna see.", "a writer\\/director 's 1,000 films ; we 're gon na see ."),
    ("Amélie!", "amélie !"),
])
def test_tokenize_gives_the_treebank_tokens(text, tokens):
    assert [w.decode() for w in tokenize([text]).to_list()[0]] == tokens.split()
    assert [w.decode() for w in tokenize(text).numpy()] == tokens.split()  # a scalar gives (T,)


def test_detokenize_writes_plain_text():
    words = "-LRB- Næs -RRB- says `` no '' , does n't he ?".split()
    assert detokenize(words) == '(Næs) says "no", doesn\'t he?'
    assert [w.decode() for w in tokenize(detokenize(words)).numpy()] == [w.lower() for w in words]


needs_sst = pytest.mark.skipif(not (DATA_DIR / "sst").exists(), reason="needs the shared data (sst/, sst2/)")
GLUE_SPELLING = {"-lrb-": "(", "-rrb-": ")"}  # and "\/" -> "/"; SST-2 keeps `` and ''


@needs_sst
def test_sst_dev_sst2_view_is_exactly_glue_sst2_dev():
    trees, labels = sst2_view(read_trees(DATA_DIR / "sst" / "dev.txt"))
    sentences, glue_labels = read_labelled_tsv(DATA_DIR / "sst2" / "dev.tsv")
    ours = sorted(
        (" ".join(GLUE_SPELLING.get(w, w).replace("\\/", "/") for w in map(str.lower, tree.words)), label)
        for tree, label in zip(trees, labels)
    )
    assert len(ours) == 872
    assert ours == sorted(zip(sentences, glue_labels))


@needs_sst
def test_tokenize_reproduces_the_treebank_tokens_of_dev_sentences():
    trees = read_trees(DATA_DIR / "sst" / "dev.txt")
    tokens = tokenize([detokenize(tree.words) for tree in trees]).to_list()
    same = sum([w.decode() for w in got] == [w.lower() for w in tree.words] for got, tree in zip(tokens, trees))
    assert same == 1098  # of 1101; missed: rock 'n' roll, shoot-'em-up, a quote after a dash
