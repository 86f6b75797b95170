"""Running the `zoo` command line in-process, for test_cli.py and test_translation_cli.py."""

import pytest

from zoo import cli


def run(capsys, *argv):
    """`zoo ARGV...` -> (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_error(capsys, *argv):
    """`zoo ARGV...`, which must fail with a usage error (exit code 2) -> stderr."""
    with pytest.raises(SystemExit) as raised:
        cli.main([str(a) for a in argv])
    assert raised.value.code == 2
    return capsys.readouterr().err
