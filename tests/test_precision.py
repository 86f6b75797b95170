"""--precision: which CPUs get bfloat16, the fallback, the record kept with a run, a model's precision."""

import keras
import pytest

from zoo.training import precision


def cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 {flags}\n\nprocessor\t: 1\n")
    return str(path)


def test_bfloat16_needs_a_bfloat16_matrix_unit(tmp_path):
    assert precision.bfloat16_matrix_unit(cpuinfo(tmp_path, "avx512f avx512_bf16")) == ["avx512_bf16"]
    assert precision.bfloat16_matrix_unit(cpuinfo(tmp_path, "amx_tile amx_bf16")) == ["amx_bf16"]
    assert precision.bfloat16_matrix_unit(str(tmp_path / "absent")) == []
    with_unit = cpuinfo(tmp_path, "avx512_bf16")
    assert precision.training_precision("bfloat16", with_unit) == ("bfloat16", None)
    trained_in, why = precision.training_precision("bfloat16", cpuinfo(tmp_path, "avx2 avx512f"))
    assert trained_in == "float32" and "no bfloat16 matrix unit" in why and "training in float32" in why
    assert precision.training_precision("float32", with_unit) == ("float32", None)
    with pytest.raises(ValueError, match="unknown precision 'float16'"):
        precision.training_precision("float16", with_unit)


def test_a_run_keeps_its_precision(tmp_path):
    run_dir = tmp_path / "run"
    assert precision.run_precision(run_dir) == "float32"  # a run from before --precision
    precision.record_precision(run_dir, "bfloat16")
    precision.record_precision(run_dir, "bfloat16")  # resumed the same way
    assert precision.run_precision(run_dir) == "bfloat16"
    with pytest.raises(ValueError, match="trained in bfloat16, not float32: resume it with --precision bfloat16"):
        precision.record_precision(run_dir, "float32")


def test_a_model_built_under_mixed_bfloat16_is_bfloat16_on_its_card():
    float_model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    precision.use_precision("bfloat16")
    mixed_model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert precision.precision_of(mixed_model) == "bfloat16" and precision.precision_of(float_model) == "float32"
