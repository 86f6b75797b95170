"""A model card's checks: the shell lines that measure its numbers with `zoo evaluate`, each block with
the metric lines it printed when the model was packaged.

A check is {"commands": [shell lines, the last one `zoo evaluate NAME ...`], "prints": [metric lines]};
data paths are written `$ZOO_DATA_DIR/...`. `tests/test_card_checks.py` runs every shipped card's checks
again and compares what they print: the quick ones (`--first N`) in every test run, the whole-data ones
with `python -m pytest --full`.
"""

import contextlib
import io
import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path

HEADING = "## Checks"
INTRO = ("Each block below ran on the packaged checkpoint and printed the lines under it (`ZOO_DATA_DIR`: the\n"
         "datasets, `../shared/data` beside a checkout). `tests/test_card_checks.py` runs the blocks again and\n"
         "compares: the quick ones (`--first N`) in every test run, the others with `python -m pytest --full`.")


def run_check(commands, data_dir, cwd, model=None):
    """The metric lines (stripped) that the `zoo evaluate` line of `commands` prints, run in `cwd` with
    ZOO_DATA_DIR=data_dir: the lines before it in bash, the `zoo` line in this process; `model` (a
    checkpoint folder) in place of the model name where given."""
    environment = {**os.environ, "ZOO_DATA_DIR": str(data_dir)}
    *preparation, evaluation = commands
    for line in preparation:
        subprocess.run(["bash", "-c", line], cwd=cwd, env=environment, check=True, timeout=600)
    words = [_expand(word, data_dir) for word in shlex.split(evaluation)]
    if words[:2] != ["zoo", "evaluate"]:
        raise ValueError(f"a check ends with `zoo evaluate NAME ...`, not {evaluation!r}")
    if model is not None:
        words[2] = str(Path(model).resolve())  # before the chdir below
    from zoo import cli

    output = io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(output):
        status = cli.main(words[1:])
    if status not in (0, None):
        raise RuntimeError(f"{evaluation!r} exited with {status}")
    return [line.strip() for line in output.getvalue().splitlines() if line.startswith("  ")]


def _expand(word, data_dir):
    return word.replace("$ZOO_DATA_DIR", str(data_dir)).replace("${ZOO_DATA_DIR}", str(data_dir))


def make_checks(command_blocks, data_dir, model):
    """The checks of a packaged model (`model`: its folder): each block of `command_blocks` run
    (`run_check`, in a temporary folder) with what it printed."""
    with tempfile.TemporaryDirectory() as cwd:
        return [{"commands": list(block), "prints": run_check(block, data_dir, cwd, model)} for block in command_blocks]


def add_checks(folder, command_blocks, data_dir, card_with_checks):
    """Runs the checks on the packaged checkpoint `folder`, then rewrites its card (`card_with_checks(checks)`)
    and metadata.json (`"checks"`) to hold them. Returns the checks."""
    from zoo.checkpoints import update_checkpoint_card

    checks = make_checks(command_blocks, data_dir, folder)
    update_checkpoint_card(folder, card_with_checks(checks), {"checks": checks})
    return checks


def save_with_checks(model, folder, card_of, metadata, command_blocks, data_dir, **save_options):
    """A recipe's packaging: `folder` written by `zoo.checkpoints.save_checkpoint` (`save_options` passed on)
    with the card `card_of(metadata)`, then its checks run on it (`add_checks`) and the card rewritten with
    them (`card_of` of the metadata with "checks"). Returns the checks."""
    from zoo.checkpoints import save_checkpoint

    save_checkpoint(model, folder, card_of(metadata), metadata=metadata, **save_options)
    return add_checks(folder, command_blocks, data_dir, lambda checks: card_of({**metadata, "checks": checks}))


def checks_section(checks):
    """The card's Checks section: a bash block per check, what it printed as comments under it."""
    blocks = ["```bash\n" + "\n".join(check["commands"]) + "\n" + "".join(f"# {line}\n" for line in check["prints"])
              + "```" for check in checks]
    return HEADING + "\n\n" + INTRO + "\n\n" + "\n\n".join(blocks) + "\n"


def card_checks(card_text):
    """The checks of a card's Checks section ([] without one)."""
    if HEADING not in card_text:
        return []
    section = card_text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    checks = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        lines = block.splitlines()
        checks.append({"commands": [line for line in lines if not line.startswith("# ")],
                       "prints": [line[2:] for line in lines if line.startswith("# ")]})
    return checks


def is_quick(check):
    """Whether a check reads a slice (`--first N`): run by every test run."""
    return "--first" in shlex.split(check["commands"][-1])


def agree(printed, expected):
    """Whether two metric lines say the same: equal words, counts equal, and fractional numbers equal to
    within one unit of the last digit printed (a CPU with other floating-point paths may round the other way)."""
    pattern = r"-?\d[\d,]*\.?\d*"
    if re.sub(pattern, "#", printed) != re.sub(pattern, "#", expected):
        return False
    for got, want in zip(re.findall(pattern, printed), re.findall(pattern, expected)):
        tolerance = 1.01 * 10.0 ** -len(want.split(".")[1]) if "." in want else 0.0
        if abs(float(got.replace(",", "")) - float(want.replace(",", ""))) > tolerance:
            return False
    return True


def data_path(*parts):
    """A data file as a check writes it: `"$ZOO_DATA_DIR/<parts>"`, quoted."""
    return '"$ZOO_DATA_DIR/' + "/".join(str(Path(part)) for part in parts) + '"'
