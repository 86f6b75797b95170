"""The `zoo` program's first answer is the answer: TensorFlow's own start-up lines stay off the terminal
unless asked for (`--verbose`, or the user's own TF_CPP_MIN_LOG_LEVEL), and a crash names the file
they went to."""

import subprocess
import sys

import pytest

ZOO = "import sys; from zoo.cli import console; sys.argv[0] = 'zoo'; sys.exit(console())"
CRASH = ("import sys, zoo.cli as cli\n"
         "def crash(args):\n    import tensorflow\n    raise RuntimeError('a bug')\n"
         "cli.list_command = crash\nsys.argv = ['zoo', 'list']\nsys.exit(cli.console())")


def zoo_program(tmp_path, *argv, script=ZOO, **env):
    """`zoo ARGV...` as a new process with a bare environment (temporary files in tmp_path/tmp)."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path / "tmp"), **env})


def test_import_zoo_does_not_start_tensorflow():
    script = "import sys, zoo; assert 'tensorflow' not in sys.modules; zoo.load; assert 'tensorflow' in sys.modules"
    assert subprocess.run([sys.executable, "-c", script], timeout=300).returncode == 0


@pytest.mark.slow
def test_zoo_list_prints_its_answer_and_nothing_else(tmp_path):
    result = zoo_program(tmp_path, "list")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.splitlines()[0].startswith("charlm-shakespeare-gru ")
    assert list((tmp_path / "tmp").iterdir()) == []  # the log file is gone


@pytest.mark.slow
@pytest.mark.parametrize("asked", [["--verbose"], []], ids=["--verbose", "TF_CPP_MIN_LOG_LEVEL"])
def test_tensorflow_speaks_when_asked(tmp_path, asked):
    env = {} if asked else {"TF_CPP_MIN_LOG_LEVEL": "0"}
    result = zoo_program(tmp_path, *asked, "list", **env)
    assert result.returncode == 0 and "pixelrnn-mnist" in result.stdout
    assert "oneDNN" in result.stderr or "cuda" in result.stderr  # what the quiet runs keep off the terminal


def test_a_usage_error_is_the_only_line(tmp_path):
    result = zoo_program(tmp_path, "evaluate", "no-such-model", "--text-file", "x.txt")
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("zoo evaluate: error: unknown model 'no-such-model': neither")


@pytest.mark.slow
def test_a_crash_keeps_tensorflows_lines_and_names_their_file(tmp_path):
    result = zoo_program(tmp_path, script=CRASH)
    assert result.returncode == 1 and "RuntimeError: a bug" in result.stderr
    log = result.stderr.split("(TensorFlow's own messages of this run: ")[1].split(")\n")[0]  # before the traceback
    assert log.startswith(str(tmp_path / "tmp")) and "cuda" in open(log).read().lower()
