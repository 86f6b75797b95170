"""What the benchmark scripts share: quiet native logs, thread settings, timing, the report header."""

import datetime
import os
import shlex
import statistics
import sys
import time


def quiet_native_stderr():
    """TF 2.21's C++ start-up and XLA lines ignore TF_CPP_MIN_LOG_LEVEL: send native writes to
    fd 2 to /dev/null and keep Python's sys.stderr on the real one (TF_CPP_MIN_LOG_LEVEL=0 keeps all).
    Call before importing tensorflow."""
    if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2") != "0":
        sys.stderr.flush()
        real_stderr = os.dup(2)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        sys.stderr = os.fdopen(real_stderr, "w", buffering=1)


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


def header_lines(title, threads, versions):
    """Markdown header: title, date, `versions` (a string), CPU, threads and the exact command."""
    cpu = "unknown"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    return [
        f"# {title}",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- {versions}",
        f"- CPU: {cpu} ({os.cpu_count()} logical cores), threads: {threads}",
        f"- command: `{shlex.join(getattr(sys, 'orig_argv', [sys.executable, *sys.argv]))}`",
        "",
    ]
