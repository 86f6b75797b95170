"""What the benchmark scripts share: quiet native logs, option lists, thread settings, timing, the report."""

import datetime
import os
import shlex
import statistics
import sys
import time
from pathlib import Path


def quiet_native_stderr():
    """TensorFlow's native lines to /dev/null, Python's sys.stderr kept (TF_CPP_MIN_LOG_LEVEL=0 keeps all).
    Call before importing tensorflow."""
    if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2") != "0":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's zoo/
        from zoo.native_stderr import native_stderr_to

        native_stderr_to(os.devnull)


def comma_list(parser, text, what, choices=None):
    """The items of a comma list option (blanks dropped); with `choices`, each must be one of them
    (else `parser.error`: "unknown {what} ...")."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    for name in items if choices is not None else ():
        if name not in choices:
            parser.error(f"unknown {what} {name!r}; choose from {', '.join(choices)}")
    return items


def batch_sizes(parser, text):
    """The --batch-sizes option: a comma list of positive integers."""
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--batch-sizes must be a comma list of integers, got {text!r}")
    if not sizes or min(sizes) < 1:
        parser.error("--batch-sizes must be positive")
    return sizes


def configure_tf_threads(tf, threads):
    """Sets TF's intra/inter-op threads (before its runtime starts); returns the count in use."""
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        return threads
    # TF's default (0) uses every schedulable core
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def median_seconds(fn, warmup, repeats):
    """`warmup` untimed calls (tracing, XLA compilation), then the median of `repeats` timed ones.
    fn must block until its result exists."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


# The CPU features that decide how fast float32 and bfloat16 matrix products run.
MATRIX_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_description():
    """(model name, {flag: present} for MATRIX_FLAGS) from /proc/cpuinfo ("unknown", {} elsewhere)."""
    from zoo.training.precision import cpuinfo_field  # here: benchlib is imported before TensorFlow

    flags = set((cpuinfo_field("flags") or "").split())
    return cpuinfo_field("model name") or "unknown", {flag: flag in flags for flag in MATRIX_FLAGS} if flags else {}


def header_lines(title, threads, versions):
    """Markdown header: title, date, `versions` (a string), CPU, its matrix flags, threads and the
    exact command."""
    cpu, flags = cpu_description()
    flag_text = ", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in flags.items()) or "unknown"
    return [
        f"# {title}",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- {versions}",
        f"- CPU: {cpu} ({os.cpu_count()} logical cores), threads: {threads}",
        f"- CPU flags: {flag_text}",
        f"- command: `{shlex.join(getattr(sys, 'orig_argv', [sys.executable, *sys.argv]))}`",
        "",
    ]


def versions(*modules, python=True):
    """"tensorflow 2.21.0, keras 3.13.1, ..., python 3.11.7": the modules' versions (and Python's)."""
    names = [f"{module.__name__} {module.__version__}" for module in modules]
    if python:
        names.append(f"python {sys.version.split()[0]}")
    return ", ".join(names)


def speedups(rows):
    """rows: (case, label, seconds, ...), where the rows of a case (e.g. a batch size) time
    implementations of the same work and the one labelled "stepwise" is the reference.
    Returns each row's speed-up over its case's stepwise row (stepwise seconds / seconds), or
    None where the case has no stepwise row."""
    stepwise = {case: seconds for case, label, seconds, *_ in rows if label == "stepwise"}
    return [stepwise[case] / seconds if case in stepwise else None for case, _, seconds, *_ in rows]


def speedup_text(ratio):
    """A speed-up as the reports write it: "2.50x", or "-" for None."""
    return "-" if ratio is None else f"{ratio:.2f}x"


def speedup_section(rows, describe):
    """The report's section on the compiled loops: a line `- describe(row, speed-up)` for each row
    (see `speedups`) that is not stepwise and has a stepwise peer."""
    lines = ["", "## speed-up of the compiled loop over the stepwise loop", ""]
    for row, ratio in zip(rows, speedups(rows)):
        if row[1] != "stepwise" and ratio is not None:
            lines.append(f"- {describe(row, ratio)}")
    return lines


def write_report(lines, output=None):
    """Prints the markdown report (a list of lines) and, with `output`, writes it to that file too."""
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if output:
        with open(output, "w") as f:
            f.write(text)
