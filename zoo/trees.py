"""Binary trees with a label on every node: the Sentiment Treebank's bracketed form, its SST-2 view,
and the batched tensor layout the tree layers read.

A treebank line is one tree, every node `(LABEL WORD)` or `(LABEL LEFT RIGHT)` with LABEL in 0-4
(very negative .. very positive), e.g. `(3 (2 It) (4 (2 's) (3 good)))`.

The tensor layout of a batch of B trees over at most T words has N = 2T - 1 node slots per tree:
slots 0 .. T-1 are the leaves in sentence order (padding after the n words), slots T .. 2T-2 the
internal nodes bottom-up (every child before its parent; the first n-1 real). The root of an
n-word tree is slot T + n - 2, or slot 0 for one word.

- `children`: (B, N, 2) int32, the left and right child slots of each internal node, -1 elsewhere;
- `node_mask`: (B, N) bool, True for real nodes;
- `labels`: (B, N) int32, the node labels (0 where `node_mask` is False);
- `words`: (B, T) string, the leaves, padded with "".
"""

import re
from typing import NamedTuple

import numpy as np

from zoo.corpora import CorpusError, read_text

LABELS = range(5)  # SST-5: very negative, negative, neutral, positive, very positive
NEUTRAL = 2
_TOKEN = re.compile(r"\(|\)|[^ \t\r\n\f\v()]+")  # ASCII spaces only: three words hold a no-break space ("8\xa01\\/2")


class Tree(NamedTuple):
    """A node: `label` (int, or None for an unlabeled tree), and either a `word` (a leaf) or two
    `children` (left, right)."""

    label: object
    word: object = None
    children: tuple = ()

    @property
    def words(self):
        """The leaves' words, left to right."""
        if self.word is not None:
            return [self.word]
        return self.children[0].words + self.children[1].words

    def __str__(self):
        """Bracketed text: `(3 (2 It) (4 good))`; unlabeled, `(It good)` (a leaf is its bare word)."""
        inside = self.word if self.word is not None else " ".join(str(child) for child in self.children)
        if self.label is None:
            return inside if self.word is not None else f"({inside})"
        return f"({self.label} {inside})"


class TreeSyntaxError(ValueError):
    """A bracketed tree is malformed; the message says where in the line."""


def parse_tree(text):
    """The `Tree` of one bracketed line; raises `TreeSyntaxError` on unbalanced brackets, a label
    outside 0-4, an empty leaf, a node with other than one word or two children, or text after
    the tree."""
    tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(text)]
    if not tokens:
        raise TreeSyntaxError("the line holds no tree")
    tree, end = _node(tokens, 0)
    if end != len(tokens):
        raise TreeSyntaxError(f"text after the end of the tree at column {tokens[end][1] + 1}: {tokens[end][0]!r}")
    return tree


def _node(tokens, i):
    """(the node that starts at token i, the index after it)."""
    if i >= len(tokens):
        raise TreeSyntaxError("unbalanced brackets: the line ends inside a node (missing ')')")
    token, column = tokens[i]
    if token != "(":
        raise TreeSyntaxError(f"expected '(' at column {column + 1}, found {token!r}")
    if i + 1 >= len(tokens) or tokens[i + 1][0] in "()":
        raise TreeSyntaxError(f"the node at column {column + 1} has no label")
    label = tokens[i + 1][0]
    if label not in {str(k) for k in LABELS}:
        raise TreeSyntaxError(f"the node at column {column + 1} has label {label!r}, not one of 0-4")
    parts, i = [], i + 2
    while i < len(tokens) and tokens[i][0] != ")":
        if tokens[i][0] == "(":
            child, i = _node(tokens, i)
            parts.append(child)
        else:
            parts.append(tokens[i][0])
            i += 1
    if i >= len(tokens):
        raise TreeSyntaxError(f"unbalanced brackets: the node at column {column + 1} is never closed")
    words = [p for p in parts if isinstance(p, str)]
    if len(parts) == 1 and words:
        return Tree(int(label), word=words[0]), i + 1
    if len(parts) == 2 and not words:
        return Tree(int(label), children=tuple(parts)), i + 1
    if not parts:
        raise TreeSyntaxError(f"the node at column {column + 1} is an empty leaf (no word)")
    raise TreeSyntaxError(
        f"the node at column {column + 1} has {len(words)} words and {len(parts) - len(words)} children; "
        f"a node needs one word or two children"
    )


def read_trees(path):
    """The trees of a UTF-8 file, one bracketed tree a line (blank lines skipped). A malformed
    line raises `CorpusError` naming the file and line; so does a file without trees."""
    trees = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            trees.append(parse_tree(line))
        except TreeSyntaxError as error:
            raise CorpusError(f"{path}, line {number}: {error}") from None
    if not trees:
        raise CorpusError(f"{path}: no trees in the file")
    return trees


def sst2_view(trees):
    """The binary view: (trees, labels) without the neutral-root trees; label 0 for a root of 0-1
    (negative), 1 for 3-4 (positive)."""
    kept = [tree for tree in trees if tree.label != NEUTRAL]
    return kept, [int(tree.label > NEUTRAL) for tree in kept]


def polarity_logits(fine_logits):
    """Five-label logits (..., 5) -> (..., 2): log p(negative), log p(positive) with the neutral label
    left out, p(negative) = p_0 + p_1 and p(positive) = p_3 + p_4 (their softmax is the SST-2 view)."""
    import tensorflow as tf

    log_p = tf.nn.log_softmax(fine_logits)
    return tf.stack([tf.reduce_logsumexp(log_p[..., :NEUTRAL], -1), tf.reduce_logsumexp(log_p[..., NEUTRAL + 1 :], -1)], -1)


# Raw text <-> treebank tokens.

_DETOKENIZE = {"-LRB-": "(", "-RRB-": ")", "``": '"', "''": '"'}
_NO_SPACE_BEFORE = re.compile(r"^(?:[.,;:!?%]|-RRB-|\.\.\.|'[a-z]*|n't|'')$", re.IGNORECASE)


def detokenize(words):
    """Plain text from treebank tokens (the inverse `tokenize` aims at): brackets and quotes
    written as characters, `\\/` as `/`, no space before punctuation, clitics ('s, n't), ')' and
    closing quotes, nor after '(' and opening quotes."""
    text, glue_next = "", True
    for word in words:
        glued = glue_next or _NO_SPACE_BEFORE.match(word)
        glue_next = word in ("-LRB-", "``")
        text += ("" if glued else " ") + _DETOKENIZE.get(word, word).replace("\\/", "/")
    return text


# PTB tokenization as regular-expression rewrites (RE2: tf.strings.regex_replace), in the order of
# the Penn Treebank tokenizer sed script (NLTK's TreebankWordTokenizer), on lowercased text, then
# the treebank's own spellings of brackets and slashes.
_PTB_RULES = (
    (r'^"', "`` "),  # opening quotes
    (r'([ (\[{<])"', r"\1 `` "),
    (r"\.\.\.", " ... "),
    (r"([:,])([^\d])", r" \1 \2"),  # not inside numbers (1,000)
    (r"([;@#$%&])", r" \1 "),
    (r"([^.])(\.)([\]\)}>\"']*)\s*$", r"\1 \2\3 "),  # a final period
    (r"([?!])", r" \1 "),
    (r"([\]\[(){}<>])", r" \1 "),
    (r"--", " -- "),
    (r'"', " '' "),  # closing quotes
    (r"([^' ])('[sdm]|') ", r"\1 \2 "),
    (r"([^' ])('ll|'re|'ve|n't) ", r"\1 \2 "),
    (r"\b(can)(not)\b", r"\1 \2"),
    (r"\b(gon|wan|got)(na|ta)\b", r"\1 \2"),
    (r"\(", "-lrb-"),
    (r"\)", "-rrb-"),
    (r"/", r"\\/"),
)


def tokenize(strings):
    """Plain sentences -> the treebank's tokens, lowercased, in-graph (a SavedModel runs it).

    tf.string (B,) -> ragged tf.string (B, None): "It's not bad at all, isn't it?" ->
    [it, 's, not, bad, at, all, ",", is, n't, it, ?]. Brackets become -lrb- / -rrb-, '/' becomes
    '\\/', double quotes `` and ''. A scalar string gives a (T,) string tensor.
    """
    import tensorflow as tf  # here, so reading trees does not import TensorFlow

    text = tf.strings.lower(tf.convert_to_tensor(strings, tf.string), encoding="utf-8")
    text = tf.strings.join([" ", text, " "])  # the rules see a space at both ends
    for pattern, rewrite in _PTB_RULES:
        text = tf.strings.regex_replace(text, pattern, rewrite)
    return tf.strings.split(tf.strings.strip(text))


# Trees <-> tensors.


def trees_to_tensors(trees, max_words=None):
    """The batch of `trees` in the tensor layout (module docstring), as NumPy arrays:
    dict(children (B, N, 2) int32, node_mask (B, N) bool, labels (B, N) int32, words (B, T) str).

    T is the longest sentence (or `max_words`, which must not be shorter); internal nodes are
    numbered in post-order (left subtree, right subtree, node), which is bottom-up.
    """
    lengths = [len(tree.words) for tree in trees]
    t = max(lengths) if max_words is None else max_words
    if max(lengths) > t:
        raise ValueError(f"trees_to_tensors: a tree has {max(lengths)} words, more than max_words={t}")
    n_slots = 2 * t - 1
    children = np.full((len(trees), n_slots, 2), -1, np.int32)
    node_mask = np.zeros((len(trees), n_slots), bool)
    labels = np.zeros((len(trees), n_slots), np.int32)
    words = np.full((len(trees), t), "", object)
    for b, tree in enumerate(trees):
        slots = {"leaf": 0, "internal": t}

        def place(node):
            if node.word is not None:
                slot = slots["leaf"]
                words[b, slot] = node.word
                slots["leaf"] += 1
            else:
                left, right = place(node.children[0]), place(node.children[1])
                slot = slots["internal"]
                children[b, slot] = (left, right)
                slots["internal"] += 1
            node_mask[b, slot] = True
            labels[b, slot] = node.label if node.label is not None else 0
            return slot

        place(tree)
    return {"children": children, "node_mask": node_mask, "labels": labels, "words": words.astype(str)}


def tensors_to_trees(children, node_mask, words, labels=None):
    """The `Tree`s of a batch in the tensor layout (NumPy or tensors; `words` str or bytes),
    unlabeled when `labels` is None. `str(tree)` is its bracketed text (`--show-tree`)."""
    children, node_mask, words = np.asarray(children), np.asarray(node_mask), np.asarray(words)
    trees = []
    for b in range(len(node_mask)):
        nodes = {}
        for slot in np.flatnonzero(node_mask[b]):  # leaves first, then internal nodes bottom-up
            label = None if labels is None else int(np.asarray(labels)[b, slot])
            if slot < words.shape[1]:
                word = words[b, slot]
                nodes[slot] = Tree(label, word=word.decode("utf-8") if isinstance(word, bytes) else str(word))
            else:
                nodes[slot] = Tree(label, children=(nodes.pop(children[b, slot, 0]), nodes.pop(children[b, slot, 1])))
        if len(nodes) != 1:
            raise ValueError(f"tensors_to_trees: tree {b} does not join into one root ({len(nodes)} parts)")
        trees.append(next(iter(nodes.values())))
    return trees


def spans(tree):
    """The (first, last) word positions of every node of `tree`, leaves and internal, as a set."""
    found, position = set(), 0

    def walk(node):
        nonlocal position
        if node.word is not None:
            position += 1
            found.add((position - 1, position - 1))
            return position - 1, position - 1
        (first, _), (_, last) = walk(node.children[0]), walk(node.children[1])
        found.add((first, last))
        return first, last

    walk(tree)
    return found
