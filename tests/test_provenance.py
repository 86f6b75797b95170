"""A run's recorded starts (command, commit, precision) and what the model card says of them."""

import subprocess

import pytest

from zoo.training.provenance import (code_version, cpu_name, provenance_text, record_start, record_stop,
                                     run_provenance)

COMMAND = ["zoo", "train", "mnist_pixelrnn", "--model", "pixelrnn-mnist"]


def git_checkout(path):
    path.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "a@b"], ["config", "user.name", "a"]):
        subprocess.run(["git", "-C", str(path), *args], check=True)
    (path / "model.py").write_text("units = 32\n")
    subprocess.run(["git", "-C", str(path), "add", "model.py"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-qm", "first"], check=True)
    return path, subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()


def test_one_run_resumed_is_one_run(tmp_path):
    repo, commit = git_checkout(tmp_path / "repo")
    run_dir = tmp_path / "run"
    assert run_provenance(run_dir) == [] and "Not recorded" in provenance_text([])
    record_start(run_dir, COMMAND, "float32", repo)
    record_start(run_dir, [*COMMAND, "--resume"], "float32", repo)
    starts = run_provenance(run_dir)
    assert [s["command"] for s in starts] == [" ".join(COMMAND), " ".join(COMMAND) + " --resume"]
    assert starts[0]["commit"] == commit and starts[0]["changed"] == []
    assert provenance_text(starts) == (
        f"## How it was made\n\nOne run of `{' '.join(COMMAND)}` (float32) at commit `{commit[:12]}`, on "
        f"{cpu_name()}, started {starts[0]['started_utc']} and resumed with `--resume` at {starts[1]['started_utc']}.\n")


def test_a_start_stopped_from_outside_is_on_the_card(tmp_path):
    repo, _ = git_checkout(tmp_path / "repo")
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match="no recorded start"):
        record_stop(run_dir, "by hand.")
    record_start(run_dir, COMMAND, "float32", repo)
    record_start(run_dir, [*COMMAND, "--resume"], "float32", repo)
    record_stop(run_dir, "at the budget of 480 minutes over its resumes.")
    starts = run_provenance(run_dir)
    text = provenance_text(starts)
    assert text.startswith("## How it was made\n\nOne run of ") and f"resumed with `--resume` at {starts[1]['started_utc']}.\n" in text
    assert text.endswith(f"\nIts start of {starts[1]['started_utc']} was stopped from outside: at the budget of "
                         f"480 minutes over its resumes.\n")
    assert text.count("stopped from outside") == 1


def test_a_run_changed_halfway_says_so(tmp_path):
    repo, commit = git_checkout(tmp_path / "repo")
    run_dir = tmp_path / "run"
    record_start(run_dir, COMMAND, "float32", repo)
    (repo / "model.py").write_text("units = 64\n")  # edited between the start and the resume
    assert code_version(repo) == {"commit": commit, "changed": ["model.py"]}
    record_start(run_dir, [*COMMAND, "--resume"], "float32", repo)
    text = provenance_text(run_provenance(run_dir))
    assert "This run was changed halfway" in text
    assert f"| `{commit[:12]}` with uncommitted changes to model.py | float32 | {cpu_name()} |" in text
    assert text.count("\n| 20") == 2  # a row per start


def test_outside_a_checkout_the_version_is_unknown(tmp_path):
    assert code_version(tmp_path) == {"commit": None, "changed": []}
    record_start(tmp_path / "run", COMMAND, "bfloat16", tmp_path)
    assert "(bfloat16) at commit unknown (not a git checkout), on " in provenance_text(run_provenance(tmp_path / "run"))


def test_the_cpu_is_the_model_name_of_cpuinfo(tmp_path):
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480C\nflags\t: fpu\n")
    assert cpu_name(tmp_path / "cpuinfo") == "Intel(R) Xeon(R) Platinum 8480C"
    assert cpu_name(tmp_path / "none") == "unknown CPU"
