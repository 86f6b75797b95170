"""TreeParser: the in-graph easy-first loop against a plain Python one, padding, learning a few
trees, bad input, serialization."""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers.tree_parser import TreeParser, easy_first, gold_spans
from zoo.trees import parse_tree, spans, tensors_to_trees, trees_to_tensors

TREES = [
    "(3 (2 (2 the) (2 film)) (3 (2 is) (3 good)))",
    "(1 (2 not) (1 (2 a) (1 (1 (1 bad) (2 film)) (2 .))))",
    "(2 (2 (2 it) (2 's)) (2 (2 a) (2 (2 story) (2 .))))",
    "(4 (4 great) (2 (2 fun) (2 !)))",
    "(2 films)",
]


def python_easy_first(scores, n):
    """The plain reference: merge the adjacent pair whose union scores highest (leftmost on ties)."""
    current = [(i, i, i) for i in range(n)]  # (first, last, slot)
    t, merges = scores.shape[0], []
    for step in range(n - 1):
        best = max(range(len(current) - 1), key=lambda k: (scores[current[k][0], current[k + 1][1]], -k))
        (first, _, left), (_, last, right) = current[best], current[best + 1]
        merges.append((left, right))
        current[best:best + 2] = [(first, last, t + step)]
    return merges


def test_merge_loop_equals_python_easy_first_on_the_same_scores():
    rng = np.random.default_rng(0)
    lengths = np.array([7, 1, 4, 2, 7])
    scores = rng.normal(size=(5, 7, 7)).astype("float32")
    children, node_mask = easy_first(tf.constant(scores), tf.constant(lengths, "int32"))
    for b, n in enumerate(lengths):
        assert [tuple(pair) for pair in children.numpy()[b, 7:7 + n - 1]] == python_easy_first(scores[b], n)
        np.testing.assert_array_equal(children.numpy()[b, 7 + n - 1:], -1)
        np.testing.assert_array_equal(node_mask.numpy()[b], [i < n or 7 <= i < 7 + n - 1 for i in range(13)])


def test_gold_spans_are_the_trees_constituents():
    trees = [parse_tree(line) for line in TREES]
    batch = trees_to_tensors(trees)
    matrix = gold_spans(batch["children"], batch["node_mask"], batch["words"].shape[1]).numpy()
    for tree, spans_matrix in zip(trees, matrix):
        assert set(zip(*np.nonzero(spans_matrix))) == spans(tree)


def tiny_parser():
    return TreeParser(["the", "film", "is", "good", "not", "a", "bad", "."], embedding_dim=8, units=8, hidden=8)


def test_padding_never_changes_a_parse():
    parser = tiny_parser()
    words = [["the", "film", "is", "good", "."], ["not", "a", "bad", "film", ""]]
    alone = parser([words[1][:4]])
    padded = parser(np.array([w + [""] * 3 for w in words]))
    batch_trees = tensors_to_trees(*padded, np.array([w + [""] * 3 for w in words]))
    assert str(batch_trees[1]) == str(tensors_to_trees(*alone, [words[1][:4]])[0])


def test_a_few_trees_are_learned():
    keras.utils.set_random_seed(1)
    trees = [parse_tree(line) for line in TREES]
    batch = trees_to_tensors(trees)
    parser = TreeParser(sorted({w for t in trees for w in t.words}), embedding_dim=16, units=16, hidden=16)
    parser.build()
    optimizer = keras.optimizers.Adam(0.02)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = parser.span_loss(batch["words"], batch["children"], batch["node_mask"])
        optimizer.apply(tape.gradient(loss, parser.trainable_variables), parser.trainable_variables)
        return loss

    for _ in range(60):
        loss = step()
    assert float(loss) < 0.05
    parsed = tensors_to_trees(*parser(batch["words"]), batch["words"])
    assert [str(t) for t in parsed] == [str(t) for t in tensors_to_trees(batch["children"], batch["node_mask"],
                                                                          batch["words"])]


def test_one_word_unknown_words_and_an_empty_sentence():
    parser = tiny_parser()
    children, node_mask = parser([["film"]])
    assert children.shape == (1, 1, 2) and node_mask.numpy().tolist() == [[True]]  # the root is the leaf
    words = [["zebras", "quibble", "Good"]]  # unknown words read as <unk>; "Good" is lowercased
    assert tensors_to_trees(*parser(words), words)[0].words == words[0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="a sentence is empty"):
        parser([["film", "good"], ["", ""]])


def test_a_300_word_sentence_in_a_function_of_unknown_batch_and_length():
    parser = tiny_parser()
    parse = tf.function(parser.call, input_signature=[tf.TensorSpec((None, None), tf.string)])
    parse(tf.constant([["the", "film"]]))  # trace once
    words = tf.constant([["the", "film", "is", "good"] * 75])
    started = time.time()
    children, node_mask = parse(words)
    assert time.time() - started < 10.0
    assert int(tf.reduce_sum(tf.cast(node_mask, "int32"))) == 599
    assert len(tensors_to_trees(children, node_mask, words.numpy())[0].words) == 300


def test_serialization_round_trip(tmp_path):
    parser = tiny_parser()
    words = np.array([["the", "film", "is", "not", "bad", "."]])
    expected = parser(words)
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(parser))
    assert copy.tokenizer.get_vocabulary() == parser.tokenizer.get_vocabulary()
    copy.build()
    keras.saving.save_weights(parser, tmp_path / "parser.weights.h5")
    keras.saving.load_weights(copy, tmp_path / "parser.weights.h5")
    np.testing.assert_allclose(copy.span_scores(words), parser.span_scores(words), atol=1e-6)
    np.testing.assert_array_equal(copy(words)[0], expected[0])
