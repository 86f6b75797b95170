"""`--precision`: the dtype policy a run trains under, kept with the run and stated on its card.

    float32    every weight, activation and product in float32 (Keras' "float32" policy)
    bfloat16   Keras' "mixed_bfloat16": weights and the recurrent states and gate math in float32,
               the matmuls (embedding outputs, the hoisted input projection, the recurrent matmul
               and their gradients) in bfloat16

bfloat16 pays only where the CPU multiplies bfloat16 matrices in hardware (AVX512_BF16, AMX-BF16);
elsewhere oneDNN emulates it, slower than float32, so a run asked for bfloat16 there falls back to
float32 and says so.
"""

import json
import os

import keras

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}  # --precision -> Keras dtype policy
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
RECORD = "precision.json"


def cpuinfo_field(field, cpuinfo="/proc/cpuinfo"):
    """The first value of `field` ("flags", "model name") in /proc/cpuinfo; None where it does not say."""
    if not os.path.exists(cpuinfo):
        return None
    with open(cpuinfo) as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith(field)), None)


def bfloat16_matrix_unit(cpuinfo="/proc/cpuinfo"):
    """The CPU's flags that multiply bfloat16 matrices in hardware (empty: none, or no /proc/cpuinfo)."""
    flags = (cpuinfo_field("flags", cpuinfo) or "").split()
    return [flag for flag in BFLOAT16_CPU_FLAGS if flag in flags]


def training_precision(requested, cpuinfo="/proc/cpuinfo"):
    """(the precision a run asked for `requested` trains in, a line saying why if it is not that one)."""
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}: choose from {', '.join(PRECISIONS)}")
    if requested == "bfloat16" and not bfloat16_matrix_unit(cpuinfo):
        return "float32", ("--precision bfloat16: this CPU has no bfloat16 matrix unit (no "
                           f"{' or '.join(BFLOAT16_CPU_FLAGS)} in its flags), where bfloat16 runs slower than "
                           "float32: training in float32")
    return requested, None


def precision_of(model):
    """The --precision a model was built under, from its dtype policy ("bfloat16" for mixed_bfloat16)."""
    return "bfloat16" if model.dtype_policy.name == PRECISIONS["bfloat16"] else "float32"


def use_precision(precision):
    """Sets Keras' global dtype policy for `precision` (before the model is built)."""
    keras.mixed_precision.set_global_policy(PRECISIONS[precision])


def record_precision(run_dir, precision):
    """Writes `precision` into the run folder, or checks it against the one there: a run resumed in
    another precision would be a different run (ValueError)."""
    path = os.path.join(run_dir, RECORD)
    recorded = run_precision(run_dir, default=None)
    if recorded is not None and recorded != precision:
        raise ValueError(f"{run_dir} was trained in {recorded}, not {precision}: resume it with "
                         f"--precision {recorded}, or give the new run another --run-dir")
    os.makedirs(run_dir, exist_ok=True)
    with open(path, "w") as f:
        json.dump({"precision": precision}, f)


def run_precision(run_dir, default="float32"):
    """The precision recorded in a run folder (`default` for a run from before --precision existed)."""
    path = os.path.join(run_dir, RECORD)
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)["precision"]
