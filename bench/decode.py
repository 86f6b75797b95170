"""Speed benchmark: translation decoding, one compiled loop vs a Python loop over tokens, on CPU.

An EncoderDecoder (by default randomly initialised at the shipped size: source / target
vocabulary 8000 / 6000, embedding 256, encoder 2 x 256 bi-GRU, decoder GRU 512, attention
256; or a checkpoint given by --model) decodes a batch of random sources of
`--source-length` ids, with greedy search and beam search (beam 5), for each batch size, with:

  loop xla     zoo.decoding.greedy / beam_search, jit_compile=True: encoder and every
               decoder step in one tf.function + tf.while_loop, compiled by XLA (the default)
  loop graph   the same, jit_compile=False: the same loop run by TF's graph executor
  stepwise     the same with stepwise=True: a Python loop
               calling a tf.function one-step function per output token

Every row decodes until eos or its max_length (`--max-length`, default 2 * source length + 10);
a random model seldom says eos, so it mostly runs to max_length, the same for all three.

Reported: wall time of a whole call (after a warm-up call that traces and compiles; the
median of `--repeats` calls, one by default), sentences per second, and the speed-up of
each loop over stepwise at the same method and batch size.

Run (from the repository root):

    .venv/bin/python bench/decode.py
    .venv/bin/python bench/decode.py --model NAME_OR_PATH --batch-sizes 1,64 --output decode.md
    .venv/bin/python bench/decode.py --source-vocabulary 50 --target-vocabulary 50 --embedding 8 \\
        --encoder-units 8 --encoder-layers 1 --decoder-units 16 --attention-units 8 \\
        --source-length 5 --batch-sizes 1,4                        # smoke test

This is a benchmark, not a test: it asserts nothing and prints a markdown report.
"""

import argparse
import functools
import sys
from pathlib import Path

import benchlib  # noqa: E402  (bench/ is the script's folder)

benchlib.quiet_native_stderr()

import numpy as np
import keras
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's zoo/

IMPLEMENTATIONS = {  # name: (label, stepwise?, jit_compile)
    "xla": ("loop xla", False, True),
    "graph": ("loop graph", False, False),
    "stepwise": ("stepwise", True, False),
}
METHODS = ("greedy", "beam")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="a checkpoint name or folder (zoo.checkpoints.load); default: random weights")
    p.add_argument("--source-vocabulary", type=int, default=8000)
    p.add_argument("--target-vocabulary", type=int, default=6000)
    p.add_argument("--embedding", type=int, default=256, help="embedding dim (= readout dim, tied)")
    p.add_argument("--encoder-units", type=int, default=256, help="units per direction")
    p.add_argument("--encoder-layers", type=int, default=2)
    p.add_argument("--decoder-units", type=int, default=512)
    p.add_argument("--attention-units", type=int, default=256)
    p.add_argument("--cell", default="gru", choices=("gru", "lstm"))
    p.add_argument("--source-length", type=int, default=20, help="ids in each source")
    p.add_argument("--max-length", type=int, default=None, help="output tokens per row (default 2 S + 10)")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--batch-sizes", default="1,64", help="comma list of batch sizes")
    p.add_argument("--methods", default="greedy,beam", help="comma list of " + ",".join(METHODS))
    p.add_argument("--implementations", default="xla,graph,stepwise",
                   help="comma list of " + ",".join(IMPLEMENTATIONS))
    p.add_argument("--repeats", type=int, default=1, help="timed calls per case (median reported)")
    p.add_argument("--threads", type=int, default=None, help="TF intra/inter-op threads (default: all cores)")
    p.add_argument("--output", help="also write the markdown report to this file")
    args = p.parse_args()
    args.batch_sizes = benchlib.batch_sizes(p, args.batch_sizes)
    args.methods = benchlib.comma_list(p, args.methods, "method", METHODS)
    args.implementations = benchlib.comma_list(p, args.implementations, "implementation", IMPLEMENTATIONS)
    sizes = (args.embedding, args.encoder_units, args.encoder_layers, args.decoder_units, args.attention_units,
             args.source_length, args.repeats, args.beam_size)
    if min(sizes) < 1 or (args.max_length is not None and args.max_length < 1):
        p.error("sizes, --source-length, --max-length, --repeats and --beam-size must be >= 1")
    if min(args.source_vocabulary, args.target_vocabulary) < 5:
        p.error("vocabularies must have >= 5 ids (ids 0-3 are reserved)")
    return args


def build_model(args):
    from zoo.models import EncoderDecoder

    if args.model:
        from zoo import checkpoints

        model = checkpoints.load(args.model, compile=False)
        if not hasattr(model, "decode_step"):
            sys.exit(f"bench/decode.py: {args.model} is a {type(model).__name__}, not an EncoderDecoder")
        return model, f"checkpoint {args.model}"
    keras.utils.set_random_seed(0)
    model = EncoderDecoder(
        args.source_vocabulary, args.target_vocabulary, cell=args.cell, embedding_dim=args.embedding,
        encoder_units=args.encoder_units, encoder_layers=args.encoder_layers, decoder_units=args.decoder_units,
        attention_units=args.attention_units, readout_dim=args.embedding, dropout=0.0,
        max_source_length=max(256, args.source_length),
    )
    model.build()
    return model, "random weights"


def main():
    args = parse_args()
    threads = benchlib.configure_tf_threads(tf, args.threads)
    # after the thread settings: TF's runtime must not have started yet
    from zoo import decoding

    model, origin = build_model(args)
    rng = np.random.default_rng(0)
    functions = {
        "greedy": decoding.greedy,
        "beam": lambda m, s, **k: decoding.beam_search(m, s, beam_size=args.beam_size, **k),
    }

    rows = []  # ((method, batch), label, seconds, longest output)
    for method in args.methods:
        for batch in args.batch_sizes:
            source = rng.integers(4, model.source_vocabulary_size, size=(batch, args.source_length)).astype(np.int32)
            for name in args.implementations:
                label, stepwise, jit = IMPLEMENTATIONS[name]
                function = functools.partial(functions[method], stepwise=stepwise)
                print(f"... {method}, batch {batch}: {label}", file=sys.stderr, flush=True)
                lengths = []

                def run():
                    lengths.append(int(function(model, source, max_length=args.max_length, jit_compile=jit).lengths.max()))

                rows.append(((method, batch), label, benchlib.median_seconds(run, 1, args.repeats), lengths[-1]))

    steps = args.max_length or 2 * args.source_length + 10
    config = (f"model: EncoderDecoder ({origin}), {model.cell_name.upper()}, source / target vocabulary "
              f"{model.source_vocabulary_size} / {model.target_vocabulary_size}, embedding {model.embedding_dim}, "
              f"encoder {model.encoder_layers} x {model.encoder_units} bidirectional, decoder {model.decoder_units}, "
              f"attention {model.attention_units}, {model.count_params():,} parameters; sources of "
              f"{args.source_length} ids, at most {steps} output tokens, beam {args.beam_size}; "
              f"median of {args.repeats} call(s) after one warm-up call")
    lines = benchlib.header_lines("rnn-zoo translation decoding benchmark", threads, benchlib.versions(tf, keras, np))
    lines += [config, "",
              "| method | batch | implementation | ms per call | longest output | sentences/s | vs stepwise |",
              "|---|---:|---|---:|---:|---:|---:|"]
    for ((method, batch), label, seconds, longest), versus in zip(rows, benchlib.speedups(rows)):
        lines.append(f"| {method} | {batch} | {label} | {seconds * 1e3:.1f} | {longest} | {batch / seconds:,.1f} "
                     f"| {benchlib.speedup_text(versus)} |")
    lines += benchlib.speedup_section(
        rows, lambda row, ratio: f"{row[0][0]}, batch {row[0][1]}, {row[1]}: {benchlib.speedup_text(ratio)}"
    )
    benchlib.write_report(lines, args.output)


if __name__ == "__main__":
    main()
