"""How a run was made: the command, code version and precision of each start of it (the first and every
`--resume`), kept in the run folder (provenance.json) and stated on the model card.

A run whose starts differ in anything but `--resume` (another commit, other flags, uncommitted changes) was
changed halfway: `provenance_text` says so and lists each start. A start stopped from outside rather than by
the run's own rules (budget, early stopping, last epoch) is marked so (`record_stop`), and the card says why.
"""

import datetime
import json
import shlex
import subprocess
from pathlib import Path

from zoo.training.precision import cpuinfo_field

RECORD = "provenance.json"


def code_version(repo):
    """{"commit": the checkout's HEAD, "changed": tracked files with uncommitted changes} of the git checkout
    at `repo`; {"commit": None, "changed": []} where `repo` is not one (an installed package)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60)

    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return {"commit": None, "changed": []}
    status = git("status", "--porcelain", "--untracked-files=no").stdout.splitlines()
    return {"commit": head.stdout.strip(), "changed": sorted(line[3:] for line in status)}


def cpu_name(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name ("unknown CPU" where /proc/cpuinfo does not say)."""
    return cpuinfo_field("model name", cpuinfo) or "unknown CPU"


def record_start(run_dir, command, precision, repo):
    """Appends this start of the run (`command`: the argv list, as typed after the program) to its record."""
    starts = run_provenance(run_dir)
    starts.append({"command": shlex.join(command), "precision": precision, **code_version(repo), "cpu": cpu_name(),
                   "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
    _write(run_dir, starts)


def record_stop(run_dir, why):
    """Marks the run's newest start as stopped from outside, for the reason `why` (a sentence)."""
    starts = run_provenance(run_dir)
    if not starts:
        raise ValueError(f"{run_dir} has no recorded start to mark as stopped")
    starts[-1]["stopped"] = why
    _write(run_dir, starts)


def _write(run_dir, starts):
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / RECORD).write_text(json.dumps(starts, indent=1) + "\n", encoding="utf-8")


def run_provenance(run_dir):
    """The starts recorded in a run folder, oldest first ([] for a run from before they were recorded)."""
    path = Path(run_dir) / RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def provenance_text(starts):
    """The card's "How it was made" section of a run's recorded starts."""
    if not starts:
        return "## How it was made\n\nNot recorded: the run predates the record of commands and code versions.\n"
    same = {(_without_resume(s["command"]), s["commit"], tuple(s["changed"]), s["precision"]) for s in starts}
    first = starts[0]
    if len(same) == 1:
        resumes = " and ".join(s["started_utc"] for s in starts[1:])
        resumed = f", started {first['started_utc']} and resumed with `--resume` at {resumes}" if resumes else ""
        cpus = " and ".join(dict.fromkeys(s["cpu"] for s in starts))
        return (f"## How it was made\n\nOne run of `{first['command']}` ({first['precision']}) at commit "
                f"{_version(first)}, on {cpus}{resumed}.\n{_stops(starts)}")
    lines = "\n".join(f"| {s['started_utc']} | `{s['command']}` | {_version(s)} | {s['precision']} | "
                      f"{s['cpu']} |" for s in starts)
    return ("## How it was made\n\nThis run was changed halfway: its starts differ in command, code or precision, "
            "so it is not what any one of these commands makes from scratch.\n\n"
            f"| started (UTC) | command | commit | precision | CPU |\n|---|---|---|---|---|\n{lines}\n{_stops(starts)}")


def _stops(starts):
    """The starts stopped from outside, a sentence each ("" where none was)."""
    return "".join(f"\nIts start of {s['started_utc']} was stopped from outside: {s['stopped']}\n"
                   for s in starts if s.get("stopped"))


def _without_resume(command):
    return shlex.join(word for word in shlex.split(command) if word != "--resume")


def _version(start):
    if start["commit"] is None:
        return "unknown (not a git checkout)"
    changed = f" with uncommitted changes to {', '.join(start['changed'])}" if start["changed"] else ""
    return f"`{start['commit'][:12]}`{changed}"
