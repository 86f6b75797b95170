"""Speed benchmark: zoo.layers recurrent layers vs keras.layers vs torch.nn, on CPU.

For each layer kind (LSTM, GRU, SimpleRNN) and shape (batch, steps, features, units)
it times, in one process, a train step (forward + backward + SGD update, loss =
mean(h_T ** 2)) and a forward pass of three implementations:

  ours   zoo.layers.LSTM / GRU / SimpleRNN (weights copied from the keras peer); variants
         (--ours): no-flag, a train step that calls the layer without training=True (as
         many custom loops do); bf16, the layer under Keras' mixed_bfloat16 policy
  keras  keras.layers.LSTM / GRU / SimpleRNN, best of jit_compile=False / True
  torch  torch.nn.LSTM / GRU / RNN(nonlinearity="tanh"), batch_first, float32; with
         --torch-bfloat16 also under torch.autocast("cpu", dtype=torch.bfloat16)

and compares them with a GEMM-bound limit: the time the step's matmuls alone take
when run by TF's tf.matmul, measured in the same run.

Run (from the repository root, after `pip install -e ".[bench]"`):

    .venv/bin/python bench/rnn_layers.py
    .venv/bin/python bench/rnn_layers.py --layers LSTM,GRU --shapes S,M --repeats 5 \\
        --threads 2 --ours ours,xla-loop,graph-loop,xla-step --output bench.md
    .venv/bin/python bench/rnn_layers.py --ours ours,no-flag,bf16 --torch-bfloat16   # the README's run

This is a benchmark, not a test: it asserts nothing and prints a markdown report.
"""

import argparse
import sys
import typing
from pathlib import Path

import benchlib  # noqa: E402  (bench/ is the script's folder)

benchlib.quiet_native_stderr()

import numpy as np

try:
    import torch
except ImportError:
    sys.exit('bench/rnn_layers.py needs torch: install the bench extra, '
             'pip install -e ".[bench]"  (torch==2.13.0)')

import keras
import tensorflow as tf
tf.get_logger().setLevel("ERROR")  # e.g. retracing warnings: each variant is a new tf.function

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's zoo/

# name: (batch B, steps T, input features D, units H)
SHAPES = {"S": (16, 50, 64, 256), "M": (64, 100, 128, 512), "L": (32, 200, 256, 1024)}
GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}  # gate blocks G: kernels are (D, G*H)
LEARNING_RATE = 0.01
GOAL_VS_KERAS, GOAL_VS_TORCH, GOAL_VS_LIMIT, GOAL_FWD_VS_LIMIT = 0.8, 1.0, 1.3, 1.2
GOAL_BFLOAT16 = 1.5  # mixed_bfloat16 train step over our float32 one (on a CPU with AMX)
# |ours - keras float32| of the last state under mixed_bfloat16 (bfloat16 keeps 8 bits of mantissa)
BFLOAT16_TOLERANCE = 0.05


class Variant(typing.NamedTuple):
    """One of our timed rows: the layer's jit_compile (its loop), jit_compile of the whole train
    step, the layer's dtype policy, and whether the train step passes training=True."""

    label: str
    loop_jit: object = "auto"
    step_jit: bool = False
    policy: str = None
    training_flag: bool = True


VARIANTS = {
    "ours": Variant("ours"),
    "xla-loop": Variant("ours xla-loop", loop_jit=True),
    "graph-loop": Variant("ours graph-loop", loop_jit=False),
    "xla-step": Variant("ours xla-step", step_jit=True),
    "no-flag": Variant("ours no-flag", training_flag=False),
    "bf16": Variant("ours bf16", policy="mixed_bfloat16"),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", default="LSTM,GRU,SimpleRNN", help="comma list of " + ",".join(GATES))
    p.add_argument("--shapes", default="S,M,L", help="comma list of " + ",".join(SHAPES))
    p.add_argument("--repeats", type=int, default=5, help="timed calls (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (tracing, XLA)")
    p.add_argument("--threads", type=int, default=None,
                   help="TF intra/inter-op threads and torch threads (default: all usable cores)")
    p.add_argument("--ours", default="ours,no-flag",
                   help="comma list of our variants: ours (the default layer, jit_compile='auto'), "
                        "xla-loop (jit_compile=True: the loop compiled by XLA), "
                        "graph-loop (jit_compile=False: the loop in TF's graph executor), "
                        "xla-step (the whole train step XLA-compiled, as model.fit does on CPU), "
                        "no-flag (a custom loop's train step that calls the layer without training=True), "
                        "bf16 (the layer under the mixed_bfloat16 policy)")
    p.add_argument("--torch-bfloat16", action="store_true",
                   help="also time torch under its bfloat16 autocast (the peer of --ours bf16)")
    p.add_argument("--output", help="also write the markdown report to this file")
    args = p.parse_args()
    args.ours = benchlib.comma_list(p, args.ours, "variant", VARIANTS)
    args.layers = benchlib.comma_list(p, args.layers, "layer", GATES)
    args.shapes = benchlib.comma_list(p, args.shapes.upper(), "shape", SHAPES)
    if args.repeats < 1 or args.warmup < 1:
        p.error("--repeats and --warmup must be >= 1")
    return args


def configure_threads(threads):
    """Use the same thread count in TF and torch; return it."""
    threads = benchlib.configure_tf_threads(tf, threads)
    torch.set_num_threads(threads)
    return threads


def median_ms(fn, warmup, repeats):
    return 1e3 * benchlib.median_seconds(fn, warmup, repeats)


# ---------------------------------------------------------------- TF implementations
def tf_step_functions(layer, jit, training_flag=True):
    """(train_step, forward) tf.functions over a built layer; both return numpy. Without
    `training_flag` the train step calls the layer as many custom loops do, without training=True."""
    optimizer = keras.optimizers.SGD(learning_rate=LEARNING_RATE)
    optimizer.build(layer.trainable_variables)

    @tf.function(jit_compile=jit)
    def train_step(x):  # x: (B, T, D)
        with tf.GradientTape() as tape:
            h_last = layer(x, training=True) if training_flag else layer(x)  # (B, H): return_sequences=False
            loss = tf.reduce_mean(tf.square(tf.cast(h_last, "float32")))
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply(grads, layer.trainable_variables)
        return loss

    @tf.function(jit_compile=jit)
    def forward(x):
        return layer(x)

    return (lambda x: train_step(x).numpy()), (lambda x: forward(x).numpy())


def time_tf_layer(layer, x, jit_options, args, training_flag=True):
    """Time train step and forward for each jit option; return {jit: (train_ms, fwd_ms)}."""
    times = {}
    for jit in jit_options:
        train_step, forward = tf_step_functions(layer, jit, training_flag)
        fwd_ms = median_ms(lambda: forward(x), args.warmup, args.repeats)
        train_ms = median_ms(lambda: train_step(x), args.warmup, args.repeats)
        times[jit] = (train_ms, fwd_ms)
    return times


# ---------------------------------------------------------------- torch implementation
def time_torch_layer(kind, x_np, units, args, bfloat16=False):
    """Time torch.nn's peer of `kind` (with `bfloat16`, under torch's bfloat16 autocast); return
    (train_ms, fwd_ms)."""
    torch.manual_seed(0)
    features = x_np.shape[-1]
    if kind == "SimpleRNN":
        rnn = torch.nn.RNN(features, units, nonlinearity="tanh", batch_first=True)
    else:
        rnn = getattr(torch.nn, kind)(features, units, batch_first=True)
    optimizer = torch.optim.SGD(rnn.parameters(), lr=LEARNING_RATE)
    x = torch.from_numpy(x_np)  # (B, T, D)

    def last_hidden():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            _, state = rnn(x)  # state: h_n (1, B, H), or (h_n, c_n) for LSTM
        h_n = state[0] if kind == "LSTM" else state
        return h_n[-1].float()  # (B, H)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss = last_hidden().square().mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    def forward():
        with torch.no_grad():
            return last_hidden()

    fwd_ms = median_ms(forward, args.warmup, args.repeats)
    train_ms = median_ms(train_step, args.warmup, args.repeats)
    return train_ms, fwd_ms


# ---------------------------------------------------------------- GEMM-bound limit
_matmul_ms_cache = {}


@tf.function(jit_compile=False)
def _matmul_loop(a, b, count):
    """`count` dependent a @ b matmuls in one graph loop: no tf.function call overhead each."""
    acc = tf.zeros([], a.dtype)
    for _ in tf.range(count):
        y = tf.matmul(a, b)
        acc += y[0, 0]
        a = a + 1e-30 * acc  # makes the next matmul depend on this one
    return acc


def matmul_ms(m, k, n, args):
    """Median ms of one (m, k) x (k, n) tf.matmul, run in a jit-free tf.function loop."""
    if (m, k, n) not in _matmul_ms_cache:
        rng = np.random.default_rng(1)
        a = tf.constant(rng.standard_normal((m, k), dtype=np.float32))
        b = tf.constant(rng.standard_normal((k, n), dtype=np.float32))
        once = median_ms(lambda: _matmul_loop(a, b, tf.constant(1)).numpy(), args.warmup, 1)
        count = max(1, min(200, int(20.0 / max(once, 1e-3))))  # ~20 ms per timed sample
        loop_ms = median_ms(lambda: _matmul_loop(a, b, tf.constant(count)).numpy(), 1, args.repeats)
        _matmul_ms_cache[(m, k, n)] = loop_ms / count
    return _matmul_ms_cache[(m, k, n)]


def gemm_limits(kind, shape, args):
    """Return (train_limit_ms, fwd_limit_ms, recurrent_ms, recurrent_gflops)."""
    B, T, D, H = shape
    G = GATES[kind]
    projection = matmul_ms(B * T, D, G * H, args)    # x @ kernel:            (B*T, D) x (D, G*H)
    recurrent = matmul_ms(B, H, G * H, args)         # h @ rec_kernel, T x:   (B, H) x (H, G*H)
    dh = matmul_ms(B, G * H, H, args)                # dz @ rec_kernel^T, T x: (B, G*H) x (G*H, H)
    d_rec_kernel = matmul_ms(H, B * T, G * H, args)  # h^T @ dz:              (H, B*T) x (B*T, G*H)
    d_kernel = matmul_ms(D, B * T, G * H, args)      # x^T @ dz:              (D, B*T) x (B*T, G*H)
    fwd = projection + T * recurrent
    train = fwd + T * dh + d_rec_kernel + d_kernel
    gflops = 2.0 * B * H * G * H / (recurrent * 1e6)
    return train, fwd, recurrent, gflops


# ---------------------------------------------------------------- one layer kind x shape
def bench_case(zoo_layers, kind, shape_name, args, ours_variants, notes):
    """Return a list of (impl, train_ms, fwd_ms) rows and the limits for one case."""
    B, T, D, H = SHAPES[shape_name]
    x_np = np.random.default_rng(0).standard_normal((B, T, D), dtype=np.float32)
    x = tf.constant(x_np)
    keras.utils.set_random_seed(0)

    keras_layer = getattr(keras.layers, kind)(H)
    keras_out = keras_layer(x).numpy()  # builds the layer
    ours_layers = {}
    for variant in ours_variants:
        label = variant.label
        ours_layers[label] = getattr(zoo_layers, kind)(H, jit_compile=variant.loop_jit, dtype=variant.policy)
        ours_layers[label](x)
        ours_layers[label].set_weights(keras_layer.get_weights())
        diff = float(np.max(np.abs(tf.cast(ours_layers[label](x), "float32").numpy() - keras_out)))
        tolerance = BFLOAT16_TOLERANCE if variant.policy == "mixed_bfloat16" else 1e-4
        notes.append(f"{kind} {shape_name}: {label} vs keras forward max |diff| = {diff:.2e}"
                     + ("  ** MISMATCH **" if diff > tolerance else ""))

    rows = []
    keras_times = time_tf_layer(keras_layer, x, [False, True], args)
    train_jit = min(keras_times, key=lambda j: keras_times[j][0])
    fwd_jit = min(keras_times, key=lambda j: keras_times[j][1])
    rows.append(("keras", keras_times[train_jit][0], keras_times[fwd_jit][1]))
    notes.append(f"{kind} {shape_name}: keras train no-xla {keras_times[False][0]:.2f} / "
                 f"xla {keras_times[True][0]:.2f} ms -> {'xla' if train_jit else 'no-xla'}; "
                 f"fwd no-xla {keras_times[False][1]:.2f} / xla {keras_times[True][1]:.2f} ms "
                 f"-> {'xla' if fwd_jit else 'no-xla'}")

    for variant in ours_variants:
        times = time_tf_layer(ours_layers[variant.label], x, [variant.step_jit], args, variant.training_flag)
        rows.append((variant.label, *times[variant.step_jit]))

    rows.append(("torch", *time_torch_layer(kind, x_np, H, args)))
    if args.torch_bfloat16:
        rows.append(("torch bf16", *time_torch_layer(kind, x_np, H, args, bfloat16=True)))
    return rows, gemm_limits(kind, SHAPES[shape_name], args)


# ---------------------------------------------------------------- report
def ratio(a, b):
    return f"{a / b:.2f}x"


def table_lines(results):
    lines = ["| layer | shape | impl | train ms | fwd ms | train vs keras | train vs torch "
             "| fwd vs keras | fwd vs torch | train / limit | fwd / limit |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (kind, shape_name), (rows, (train_lim, fwd_lim, _, _)) in results.items():
        peers = {impl: (tr, fw) for impl, tr, fw in rows}
        shape = f"{shape_name} {SHAPES[shape_name]}".replace(" ", "")
        for impl, train_ms, fwd_ms in rows:
            lines.append(
                f"| {kind} | {shape} | {impl} | {train_ms:.2f} | {fwd_ms:.2f} "
                f"| {ratio(train_ms, peers['keras'][0])} | {ratio(train_ms, peers['torch'][0])} "
                f"| {ratio(fwd_ms, peers['keras'][1])} | {ratio(fwd_ms, peers['torch'][1])} "
                f"| {ratio(train_ms, train_lim)} | {ratio(fwd_ms, fwd_lim)} |")
    return lines


def limit_lines(results):
    lines = ["", "GEMM-bound limits (TF matmuls alone, timed in a jit-free tf.function loop, same run):", "",
             "| layer | shape | train limit ms | fwd limit ms | recurrent matmul | ms | GFLOP/s |",
             "|---|---|---:|---:|---|---:|---:|"]
    for (kind, shape_name), (_, (train_lim, fwd_lim, rec_ms, gflops)) in results.items():
        B, _, _, H = SHAPES[shape_name]
        lines.append(f"| {kind} | {shape_name} | {train_lim:.2f} | {fwd_lim:.2f} "
                     f"| ({B},{H})x({H},{GATES[kind] * H}) | {rec_ms:.3f} | {gflops:.1f} |")
    return lines


def verdict(name, value, goal, at_most=True):
    passed = value <= goal if at_most else value >= goal
    return f"{name} {value:.2f}x {'<=' if at_most else '>='} {goal} {'PASS' if passed else 'FAIL'}"


def goal_lines(results):
    """The issue's goals for each of our float32 rows (train and forward against keras, torch and
    the GEMM limit) and for the bfloat16 row (its speed-up over our float32 train step)."""
    lines = ["", "## goals", ""]
    for (kind, shape_name), (rows, (train_lim, fwd_lim, _, _)) in results.items():
        peers = {impl: (tr, fw) for impl, tr, fw in rows}
        for impl, train_ms, fwd_ms in rows:
            if not impl.startswith("ours"):
                continue
            if impl == "ours bf16":
                checks = [verdict("train speed-up over ours", peers["ours"][0] / train_ms, GOAL_BFLOAT16, False)]
                if "torch bf16" in peers:
                    checks.append(verdict("train vs torch bf16", train_ms / peers["torch bf16"][0], GOAL_VS_TORCH))
            else:
                checks = [verdict("train vs keras", train_ms / peers["keras"][0], GOAL_VS_KERAS),
                          verdict("train vs torch", train_ms / peers["torch"][0], GOAL_VS_TORCH),
                          verdict("fwd vs keras", fwd_ms / peers["keras"][1], GOAL_VS_KERAS),
                          verdict("fwd vs torch", fwd_ms / peers["torch"][1], GOAL_VS_TORCH)]
                if shape_name in ("M", "L"):
                    checks += [verdict("train vs limit", train_ms / train_lim, GOAL_VS_LIMIT),
                               verdict("fwd vs limit", fwd_ms / fwd_lim, GOAL_FWD_VS_LIMIT)]
            lines.append(f"- {kind} {shape_name} {impl}: " + "; ".join(checks))
    return lines


def main():
    args = parse_args()
    threads = configure_threads(args.threads)
    import zoo.layers  # after the thread settings: TF's runtime must not have started yet

    ours_variants = [VARIANTS[name] for name in args.ours]

    results, notes = {}, []
    for kind in args.layers:
        for shape_name in args.shapes:
            print(f"... {kind} {shape_name} {SHAPES[shape_name]}", file=sys.stderr, flush=True)
            results[(kind, shape_name)] = bench_case(zoo.layers, kind, shape_name, args,
                                                     ours_variants, notes)

    versions = benchlib.versions(tf, keras, torch, python=False)
    header = benchlib.header_lines("rnn-zoo layer benchmark", threads, versions)
    report = (header + table_lines(results) + limit_lines(results)
              + ["", "notes:", ""] + [f"- {n}" for n in notes] + goal_lines(results))
    benchlib.write_report(report, args.output)


if __name__ == "__main__":
    main()
