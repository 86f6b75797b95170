"""zoo.models.TreeClassifier: SST-2 from the root's five-label probabilities, plain text through its
own tokenizer and parser, training on every node of gold trees, padding, save/load, the exported
SavedModel in a fresh process, `zoo classify --show-tree`, `zoo evaluate --trees`, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from helpers import run, run_error, run_fresh_python, saved_checkpoint
from zoo.layers import TreeParser
from zoo.losses import PhraseSentimentLoss
from zoo.models import TreeClassifier, TreeEnsemble
from zoo.text import TreebankTokenizer
from zoo.trees import parse_tree, trees_to_tensors

TREES = [parse_tree(line) for line in (
    "(3 (2 a) (3 (3 good) (2 film)))",
    "(1 (2 a) (1 (1 bad) (2 film)))",
    "(3 (2 (2 not) (1 bad)) (2 (2 at) (2 all)))",
    "(0 (2 it) (0 (2 is) (0 awful)))",
    "(4 great)",
)]
WORDS = sorted({w for t in TREES for w in t.words})


def tiny(cell="tree_lstm", seed=0):
    keras.utils.set_random_seed(seed)
    parser = TreeParser(WORDS, embedding_dim=4, units=4, hidden=4, seed=seed)
    return TreeClassifier(TreebankTokenizer(WORDS), parser, cell=cell, units=6, embedding_dim=5, dropout=0.0,
                          seed=seed)


def gold(trees=TREES, max_words=None):
    t = trees_to_tensors(trees, max_words=max_words)
    return {key: t[key] for key in ("words", "children", "node_mask")}, t["labels"]


@pytest.fixture(scope="module")
def trained():
    model = tiny()
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = gold()
    model.fit(tf.data.Dataset.from_tensors((x, y)).repeat(60), verbose=0)
    return model


@pytest.fixture(scope="module")
def checkpoint(trained, tmp_path_factory):
    return saved_checkpoint(trained, tmp_path_factory, "tiny-sst-tree")


@pytest.mark.parametrize("cell", ["tree_lstm", "recursive"])
def test_sst2_is_the_roots_positive_mass_against_its_negative_mass(cell):
    model = tiny(cell)
    x, _ = gold()
    logits = model.node_logits(x["words"], x["children"], x["node_mask"])  # (B, N, 5)
    roots = [2 * x["words"].shape[1] - 2 - (x["words"].shape[1] - len(t.words)) if len(t.words) > 1 else 0
             for t in TREES]
    p = tf.nn.softmax(tf.gather(logits, roots, batch_dims=1)).numpy()  # (B, 5)
    expected = np.stack([p[:, 0] + p[:, 1], p[:, 3] + p[:, 4]], 1)
    expected /= expected.sum(1, keepdims=True)
    got = tf.nn.softmax(model.sst2_logits(logits, x["children"], x["node_mask"])).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_plain_text_is_read_through_the_models_own_tokenizer_and_trees():
    model = tiny()
    texts = tf.constant(["It's not bad at all", "a good film"])
    words, children, node_mask = model.parse(texts)
    assert words.numpy()[0].tolist()[:6] == [b"it", b"'s", b"not", b"bad", b"at", b"all"]
    expected = model.sst2_logits(model.node_logits(words, children, node_mask), children, node_mask)
    np.testing.assert_allclose(model(texts).numpy(), expected.numpy(), rtol=1e-6)


def test_padding_changes_no_prediction():
    model = tiny()
    alone = model.classify(["a good film"])[1]
    padded = model.classify(["a good film", "it is awful and not at all a good film at all"])[1][:1]
    np.testing.assert_allclose(alone, padded, atol=1e-6)
    x, _ = gold()
    wide, _ = gold(max_words=9)
    narrow_logits = model.node_logits(x["words"], x["children"], x["node_mask"]).numpy()
    wide_logits = model.node_logits(wide["words"], wide["children"], wide["node_mask"]).numpy()
    for b, tree in enumerate(TREES):
        n = len(tree.words)
        np.testing.assert_allclose(wide_logits[b, :n], narrow_logits[b, :n], atol=1e-6)  # the leaves
        t_narrow, t_wide = x["words"].shape[1], 9
        np.testing.assert_allclose(wide_logits[b, t_wide:t_wide + n - 1], narrow_logits[b, t_narrow:t_narrow + n - 1],
                                   atol=1e-6)  # the internal nodes


def test_every_node_is_trained_and_padding_labels_count_for_nothing(trained):
    x, y = gold()
    predicted = trained.node_logits(x["words"], x["children"], x["node_mask"]).numpy().argmax(-1)
    np.testing.assert_array_equal(predicted[x["node_mask"]], y[x["node_mask"]])  # learned every node
    model = tiny()
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    other = np.where(x["node_mask"], y, 4)
    losses = [model.evaluate(tf.data.Dataset.from_tensors((x, labels)), verbose=0) for labels in (y, other)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


@pytest.mark.parametrize("polarity", [0.0, 0.5])
def test_phrase_sentiment_loss_adds_the_sst2_term_of_the_non_neutral_nodes(polarity):
    """Against the formula node by node; the padding's label does not count (the logits' mask)."""
    model = tiny()
    x, y = gold()
    logits = model.node_logits(x["words"], x["children"], x["node_mask"])
    log_p = tf.nn.log_softmax(logits).numpy()  # (B, N, 5)
    p = np.exp(log_p)
    positive = (p[..., 3] + p[..., 4]) / (p[..., 0] + p[..., 1] + p[..., 3] + p[..., 4])
    binary = -np.log(np.where(y > 2, positive, 1 - positive)) * (y != 2)
    per_node = -np.take_along_axis(log_p, y[..., None], -1)[..., 0] + polarity * binary  # (B, N)
    expected = per_node[x["node_mask"]].mean()  # Keras: the mean over the real nodes
    np.testing.assert_allclose(PhraseSentimentLoss(polarity)(y, logits), expected, rtol=1e-5)
    np.testing.assert_allclose(PhraseSentimentLoss(polarity)(np.where(x["node_mask"], y, 0), logits), expected, rtol=1e-5)


def test_an_ensemble_averages_its_members_at_every_node_of_one_tree(trained, tmp_path):
    members = [trained, tiny(seed=1)]
    ensemble = TreeEnsemble(members)
    x, _ = gold()
    mean = np.mean([tf.nn.softmax(m.node_logits(x["words"], x["children"], x["node_mask"])).numpy() for m in members], 0)
    got = ensemble.node_logits(x["words"], x["children"], x["node_mask"])
    np.testing.assert_allclose(tf.nn.softmax(got).numpy()[x["node_mask"]], mean[x["node_mask"]], atol=1e-6)
    texts = ["not bad at all", "a good film"]
    words, children, node_mask = trained.parse(tf.constant(texts))  # member 0's trees, for every member
    root_mean = tf.nn.softmax(ensemble.sst2_logits(ensemble.node_logits(words, children, node_mask), children, node_mask))
    np.testing.assert_allclose(ensemble.classify(texts)[1], root_mean.numpy(), atol=1e-6)
    assert ensemble.parser is trained.parser and all(m.parser is None for m in ensemble.members)  # one parser
    assert ensemble.count_params() == trained.count_params() + members[1].count_params() - trained.parser.count_params()
    with pytest.raises(ValueError, match="has no parser: it reads trees"):
        ensemble.members[1].classify(texts)
    ensemble.save(tmp_path / "ensemble.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "ensemble.keras").classify(texts)[1],
                               ensemble.classify(texts)[1], atol=1e-6)
    with pytest.raises(ValueError, match="TreeEnsemble: member 1 .* labels"):
        TreeEnsemble([trained, TreeClassifier(trained.tokenizer, trained.parser, labels=("bad", "good"))])


def test_fine_tunes_on_a_treebank_file_and_on_labelled_sentences(tmp_path):
    """`zoo.dataset` gives node batches from bracketed trees and (texts, ids) from pairs; `fit` with
    `PhraseSentimentLoss` lowers the loss on each (node logits against node labels, SST-2 logits
    against sentence labels)."""
    model = tiny()
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=PhraseSentimentLoss(0.5))
    treebank = tmp_path / "trees.txt"
    treebank.write_text("".join(f"{tree}\n" for tree in TREES), encoding="utf-8")
    sentences = [("a good film", "positive"), ("a bad film", "negative"), ("it is awful", 0), ("great", 1)]
    for data in (treebank, sentences):
        examples = zoo.dataset(model, data, batch_size=2, seed=0)
        before = model.evaluate(examples, verbose=0)
        model.fit(examples, epochs=10, verbose=0)
        assert model.evaluate(examples, verbose=0) < 0.5 * before
    x, y = next(iter(zoo.dataset(model, TREES, batch_size=5, shuffle=False)))
    np.testing.assert_array_equal(y.numpy(), gold(max_words=8)[1])  # a list of trees, in order, 8 words wide


def test_save_and_load_give_the_same_predictions(trained, checkpoint):
    texts = ["not bad at all", "a bad film", "great"]
    np.testing.assert_allclose(zoo.load(checkpoint).classify(texts)[1], trained.classify(texts)[1], atol=1e-6)


def test_bad_input_gets_an_answer_or_a_clear_error(trained):
    with pytest.raises(ValueError, match="has no words"):
        trained.classify(["a good film", "   "])
    label, probabilities = trained.classify("zorbles glimfed the blorch")  # every word unknown
    assert label in ("negative", "positive") and probabilities.sum() == pytest.approx(1.0)
    label, _ = trained.classify(" ".join(["good"] * 150 + ["bad"] * 150))  # 300 words: a result
    assert label in ("negative", "positive")


def test_classify_shows_the_tree_it_built(checkpoint, capsys):
    code, out, _ = run(capsys, "classify", checkpoint, "not bad at all", "--show-tree")
    tree, answer = out.strip().splitlines()
    assert code == 0 and parse_tree(tree).words == ["not", "bad", "at", "all"]
    assert answer.split("\t")[0] in ("negative", "positive")
    assert "needs a tree model" in run_error(capsys, "classify", "sentiment-sst2-bilstm", "good", "--show-tree")


def test_evaluate_trees_reports_gold_and_own_trees(checkpoint, capsys, tmp_path):
    path = tmp_path / "dev.txt"
    path.write_text("\n".join(str(t) for t in TREES) + "\n")
    code, out, _ = run(capsys, "evaluate", checkpoint, "--trees", path)
    assert code == 0 and "(5 trees, 5 with a non-neutral root)" in out
    assert "SST-2 root accuracy        100.00%" in out  # the gold trees: learned exactly
    path.write_text("(3 (2 a) (5 b))\n")
    assert f"{path}, line 1" in run_error(capsys, "evaluate", checkpoint, "--trees", path)


def test_export_classifies_plain_text_in_a_fresh_process(trained, checkpoint, capsys, tmp_path):
    exported = tmp_path / "exported"
    run(capsys, "export", checkpoint, exported)
    expected = trained.classify(["It's not bad at all", "a bad film"])[1]
    script = (
        "import sys, tensorflow as tf, tensorflow_text\n"
        f"m = tf.saved_model.load({str(exported)!r})\n"
        "batch = m.signatures['classify_batch'](texts=tf.constant([\"It's not bad at all\", 'a bad film']))\n"
        "print(*batch['probabilities'].numpy().ravel())\n"
        "print(any(k == 'zoo' or k.startswith('zoo.') for k in sys.modules))\n"
    )
    lines = run_fresh_python(script, tmp_path).splitlines()
    np.testing.assert_allclose(np.array(lines[0].split(), float).reshape(2, 2), expected, atol=1e-5)
    assert lines[1] == "False"
