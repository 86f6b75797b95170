"""Speed benchmark: text generation, one compiled loop vs a Python loop over tokens, on CPU.

A RecurrentLanguageModel (LSTM, 2 layers of 512 units, vocabulary 69 as the Shakespeare
character model; random weights) continues a prompt of `--prompt-length` ids by
`--length` characters, sampling at temperature 1, for each batch size, with:

  loop xla     zoo.decoding.generate, jit_compile=True: prompt and every step in one
               tf.function + tf.while_loop, compiled by XLA (the default)
  loop graph   zoo.decoding.generate, jit_compile=False: the same loop run by TF's
               graph executor
  stepwise     zoo.decoding.generate(stepwise=True): TensorFlow's text-generation tutorial,
               a Python loop calling a tf.function one-step function per token

Reported: median wall time of a whole `generate` call (after a warm-up call that traces
and compiles), characters per second (batch * length / time), and the speed-up of each
loop over stepwise at the same batch size. The project's goal: loop xla >= 5x stepwise at
batch 1.

Run (from the repository root):

    .venv/bin/python bench/generate.py
    .venv/bin/python bench/generate.py --length 200 --repeats 3 --batch-sizes 1,64 --output gen.md
    .venv/bin/python bench/generate.py --units 32 --length 20 --repeats 1   # smoke test

This is a benchmark, not a test: it asserts nothing and prints a markdown report.
"""

import argparse
import sys
from pathlib import Path

import benchlib  # noqa: E402  (bench/ is the script's folder)

benchlib.quiet_native_stderr()

import numpy as np
import keras
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's zoo/

GOAL_AT_BATCH_1 = 5.0
IMPLEMENTATIONS = {  # name: (label, stepwise?, jit_compile)
    "xla": ("loop xla", False, True),
    "graph": ("loop graph", False, False),
    "stepwise": ("stepwise", True, False),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--length", type=int, default=500, help="characters generated per call")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per case (median reported)")
    p.add_argument("--batch-sizes", default="1,64", help="comma list of batch sizes")
    p.add_argument("--units", type=int, default=512, help="units of each LSTM layer")
    p.add_argument("--layers", type=int, default=2, help="LSTM layers")
    p.add_argument("--vocabulary", type=int, default=69, help="vocabulary size (with the reserved ids)")
    p.add_argument("--prompt-length", type=int, default=16, help="ids in each prompt")
    p.add_argument("--implementations", default="xla,graph,stepwise",
                   help="comma list of " + ",".join(IMPLEMENTATIONS))
    p.add_argument("--threads", type=int, default=None, help="TF intra/inter-op threads (default: all cores)")
    p.add_argument("--output", help="also write the markdown report to this file")
    args = p.parse_args()
    args.batch_sizes = benchlib.batch_sizes(p, args.batch_sizes)
    args.implementations = benchlib.comma_list(p, args.implementations, "implementation", IMPLEMENTATIONS)
    if args.length < 1 or args.repeats < 1 or args.units < 1 or args.layers < 1 or args.prompt_length < 1:
        p.error("--length, --repeats, --units, --layers and --prompt-length must be >= 1")
    if args.vocabulary < 4:
        p.error("--vocabulary must be >= 4 (ids 0-2 are reserved)")
    return args


def main():
    args = parse_args()
    threads = benchlib.configure_tf_threads(tf, args.threads)
    # after the thread settings: TF's runtime must not have started yet
    from zoo import decoding
    from zoo.models import RecurrentLanguageModel

    keras.utils.set_random_seed(0)
    model = RecurrentLanguageModel(args.vocabulary, cell="lstm", units=args.units, num_layers=args.layers)
    model(tf.ones((1, 1), tf.int32))
    rng = np.random.default_rng(0)

    rows = []  # (batch, label, seconds)
    for batch in args.batch_sizes:
        prompt = rng.integers(3, args.vocabulary, size=(batch, args.prompt_length)).astype(np.int32)
        for name in args.implementations:
            label, stepwise, jit = IMPLEMENTATIONS[name]
            print(f"... batch {batch}: {label}", file=sys.stderr, flush=True)

            def run():
                ids = decoding.generate(model, prompt, args.length, temperature=1.0, seed=1, jit_compile=jit,
                                        stepwise=stepwise)
                ids.numpy()  # wait for the result

            rows.append((batch, label, benchlib.median_seconds(run, 1, args.repeats)))

    config = (f"model: LSTM, {args.layers} layers x {args.units} units, vocabulary {args.vocabulary}, "
              f"embedding {model.embedding_dim}, {model.count_params():,} parameters (random); "
              f"prompt {args.prompt_length} ids, {args.length} characters per call, temperature 1, "
              f"median of {args.repeats} call(s) after one warm-up call")
    lines = benchlib.header_lines("rnn-zoo generation benchmark", threads, benchlib.versions(tf, keras, np))
    lines += [config, "",
              "| batch | implementation | ms per call | ms per token step | chars/s | vs stepwise |",
              "|---:|---|---:|---:|---:|---:|"]
    for (batch, label, seconds), versus in zip(rows, benchlib.speedups(rows)):
        lines.append(f"| {batch} | {label} | {seconds * 1e3:.1f} | {seconds * 1e3 / args.length:.3f} "
                     f"| {batch * args.length / seconds:,.0f} | {benchlib.speedup_text(versus)} |")

    def describe(row, ratio):
        batch, label, _ = row
        goal = ""
        if batch == 1 and label == "loop xla":
            goal = f" (goal >= {GOAL_AT_BATCH_1:g}x: {'PASS' if ratio >= GOAL_AT_BATCH_1 else 'FAIL'})"
        return f"batch {batch}, {label}: {benchlib.speedup_text(ratio)}{goal}"

    lines += benchlib.speedup_section(rows, describe)
    benchlib.write_report(lines, args.output)


if __name__ == "__main__":
    main()
