"""zoo.corpora: UTF-8 text and CoNLL-U reading, with errors that name the file and line."""

import pytest

from zoo.corpora import CorpusError, TaggedSentence, read_conllu, read_text

CONLLU = """# newdoc id = test
# sent_id = 1
# text = I don't know.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_
4.1\tknow\tknow\tVERB\tVB\t_\t_\t_\t4:conj\tCopyOf=4
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

# sent_id = 2
1\tHello\thello\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def write(tmp_path, text, name="x.conllu"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conllu_sentences_skip_multiword_tokens_empty_nodes_and_comments(tmp_path):
    sentences = read_conllu(write(tmp_path, CONLLU))
    assert sentences == [
        TaggedSentence(("I", "do", "n't", "know", "."), ("PRON", "AUX", "PART", "VERB", "PUNCT")),
        TaggedSentence(("Hello",), ("INTJ",)),  # the last sentence needs no blank line after it
    ]
    assert read_conllu(write(tmp_path, CONLLU), column="xpos")[0].tags == ("PRP", "VBP", "RB", "VB", ".")


@pytest.mark.parametrize("line, problem", [
    ("2\tdo\tdo\tAUX", "10 tab-separated columns, found 4"),
    ("x\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_", "not a valid ID"),
    ("2\tdo\tdo\t_\tVBP\t_\t4\taux\t_\t_", "no form or no upos tag"),
])
def test_a_malformed_line_names_the_file_and_line(tmp_path, line, problem):
    lines = CONLLU.splitlines()
    lines[5] = line  # line 6 of the file
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=problem) as raised:
        read_conllu(path)
    assert f"{path}, line 6" in str(raised.value)


def test_files_without_sentences_or_utf8_are_refused_by_name(tmp_path):
    with pytest.raises(CorpusError, match="no sentences"):
        read_conllu(write(tmp_path, "# only a comment\n\n"))
    path = tmp_path / "latin1.conllu"
    path.write_bytes(CONLLU.replace("know", "kn\xf6w").encode("latin-1"))
    with pytest.raises(CorpusError, match=rf"{path}: not UTF-8 text: byte \d+ \(line 3\)"):
        read_conllu(path)
    with pytest.raises(CorpusError, match="no such file"):
        read_text(tmp_path / "missing.txt")
