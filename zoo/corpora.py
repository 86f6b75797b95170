"""Reading corpus files with errors that name the file and the line: UTF-8 text, CoNLL-U, and
labelled sentences (`sentence<TAB>label`)."""

import collections
from pathlib import Path

import conllu.parser

TaggedSentence = collections.namedtuple("TaggedSentence", ["words", "tags"])  # two tuples of str, same length


class CorpusError(ValueError):
    """A corpus file is missing, not UTF-8, or malformed; the message names the file (and line)."""


def read_text(path):
    """The contents of a UTF-8 text file; a missing file or bytes that are not UTF-8 raise
    `CorpusError` naming the file (and the byte offset of the first bad byte)."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"no such file: {path}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise CorpusError(
            f"{path}: not UTF-8 text: byte {error.start} (line {line}) is {data[error.start:error.start + 1]!r}"
        ) from None


def read_conllu(path, column="upos"):
    """The sentences of a CoNLL-U file as `TaggedSentence(words, tags)`, tags from `column`.

    Parsed line by line with the `conllu` package. Multiword-token lines (ids like `2-3`, whose
    words follow as their own lines) and empty nodes (ids like `8.1`) are skipped, so the words
    are the syntactic words that carry the tags, as in UD's evaluation with gold tokenization.
    A malformed line (not 10 tab-separated columns, a bad id, an empty form or tag) raises
    `CorpusError` with the file and line number; so does a file with no sentence.
    """
    path = Path(path)
    sentences, words, tags = [], [], []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            if words:
                sentences.append(TaggedSentence(tuple(words), tuple(tags)))
                words, tags = [], []
            continue
        if line.startswith("#"):
            continue
        token = _token(path, number, line)
        if not isinstance(token["id"], int):  # a multiword range (2, '-', 3) or an empty node (8, '.', 1)
            continue
        if not token["form"] or not token.get(column) or token[column] == "_":
            raise CorpusError(f"{path}, line {number}: word {token['id']} has no form or no {column} tag: {line!r}")
        words.append(token["form"])
        tags.append(token[column])
    if words:
        sentences.append(TaggedSentence(tuple(words), tuple(tags)))
    if not sentences:
        raise CorpusError(f"{path}: no sentences (no token lines) in the file")
    return sentences


def _token(path, number, line):
    columns = line.split("\t")
    if len(columns) != len(conllu.parser.DEFAULT_FIELDS):
        raise CorpusError(
            f"{path}, line {number}: a token line needs {len(conllu.parser.DEFAULT_FIELDS)} tab-separated columns, "
            f"found {len(columns)}: {line!r}"
        )
    try:
        return conllu.parser.parse_line(line, conllu.parser.DEFAULT_FIELDS)
    except conllu.parser.ParseException as error:
        raise CorpusError(f"{path}, line {number}: {error}: {line!r}") from None


HEADER_LABEL = "label"  # a first line `sentence<TAB>label` is a header


def read_labelled_tsv(path, num_labels=2):
    """(sentences, label ids) of a UTF-8 file of `sentence<TAB>label` lines (GLUE's SST-2 format).

    The label is an integer id in [0, num_labels). An optional first line `sentence<TAB>label` is a
    header; blank lines are skipped. Raises ValueError naming the file (and the line, or the byte
    offset of text that is not UTF-8) on a missing file, bad bytes, a line without exactly one tab,
    an empty sentence, a label outside the ids, or a file without examples.
    """
    path = Path(path)
    text = read_text(path)
    sentences, labels = [], []
    allowed = [str(i) for i in range(num_labels)]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise ValueError(f"{path}, line {number}: expected `sentence<TAB>label`, found {len(fields) - 1} tabs")
        sentence, label = fields[0].strip(), fields[1].strip()
        if number == 1 and label == HEADER_LABEL:
            continue
        if not sentence:
            raise ValueError(f"{path}, line {number}: the sentence is empty")
        if label not in allowed:
            raise ValueError(f"{path}, line {number}: label {label!r} is not one of {', '.join(allowed)}")
        sentences.append(sentence)
        labels.append(int(label))
    if not sentences:
        raise ValueError(f"{path} holds no `sentence<TAB>label` lines: nothing to evaluate")
    return sentences, labels
