"""zoo.decoding on a language model: the compiled loop against references computed here with model
calls only (greedy) and by hand (the top-k / top-p filter), the stepwise loop, reserved ids, eos,
argument checks, the sampling distribution and `decode` inside a tf.function."""

import numpy as np
import pytest
import tensorflow as tf

from zoo import decoding
from zoo.decoding import generate
from zoo.decoding.strategies import filter_top_k_top_p
from zoo.models import RecurrentLanguageModel

VOCABULARY = 12


def random_model(vocabulary_size=VOCABULARY, seed=1):
    """A tiny LSTM LM with weights drawn here (not from the test's seed), large enough (and
    the output bias zero) that greedy continuations vary from row to row and step to step."""
    model = RecurrentLanguageModel(vocabulary_size, cell="lstm", units=8, num_layers=1, embedding_dim=4)
    model(tf.ones((1, 1), tf.int32))
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, 1.5, size=variable.shape).astype("float32"))
    model.logits.bias.assign(tf.zeros_like(model.logits.bias))
    return model


@pytest.fixture(scope="module")
def model():
    return random_model()


PROMPTS = np.array([[5, 6, 7, 8, 9], [4, 0, 0, 0, 0], [11, 3, 10, 0, 0]], np.int32)  # right-padded


def generate_stepwise(model, prompt_ids, length, **options):
    return generate(model, prompt_ids, length, stepwise=True, **options)


def greedy_by_whole_model_runs(model, prompt, length):
    """The reference: run the whole model over the growing prefix and append the argmax of its last
    logits, the reserved ids 0-2 excluded (no step, no state, nothing of zoo.decoding)."""
    prefix = list(prompt[prompt != 0])
    for _ in range(length):
        logits = model(np.array([prefix], np.int32)).numpy()[0, -1]
        logits[:3] = -np.inf
        prefix.append(int(np.argmax(logits)))
    return prefix[-length:]


@pytest.mark.parametrize("options", [{"jit_compile": True}, {"jit_compile": False}, {"stepwise": True}])
def test_greedy_is_the_argmax_of_whole_model_runs_over_the_growing_prefix(model, options):
    generated = generate(model, PROMPTS, 15, temperature=0.0, **options).numpy()
    assert generated.shape == (3, 15) and generated.dtype == np.int32
    for row, prompt in enumerate(PROMPTS):
        np.testing.assert_array_equal(generated[row], greedy_by_whole_model_runs(model, prompt, 15))
    assert len({tuple(row) for row in generated}) > 1  # the rows do see their own prompts


# p = (0.4, 0.3, 0.15, 0.1, 0.05) at ids 3..7 (ids 0-2 reserved, -inf). The nucleus of p: the ids whose
# preceding mass (0, 0.4, 0.7, 0.85, 0.95) is < top_p. With top_k, the mass is that of the k ids
# renormalised: top 3 -> (0.471, 0.353, 0.176), preceding mass (0, 0.471, 0.824).
FIXED = np.log([1e-30, 1e-30, 1e-30, 0.4, 0.3, 0.15, 0.1, 0.05]).astype(np.float32)
FIXED[:3] = -np.inf
NUCLEI = [  # (top_k, top_p, the kept ids)
    (0, 1.0, {3, 4, 5, 6, 7}),
    (0, 0.6, {3, 4}),
    (0, 0.75, {3, 4, 5}),
    (0, 0.4, {3}),
    (0, 0.41, {3, 4}),
    (2, 1.0, {3, 4}),
    (3, 0.9, {3, 4, 5}),
    (3, 0.8, {3, 4}),  # without top-k, 0.8 keeps 3 ids (0.7 < 0.8): the nucleus is taken after top-k
    (0, 0.8, {3, 4, 5}),
    (1, 1.0, {3}),
]


@pytest.mark.parametrize("top_k, top_p, kept", NUCLEI)
def test_the_filter_keeps_the_nucleus_worked_out_by_hand(top_k, top_p, kept):
    filtered = filter_top_k_top_p(tf.constant(FIXED[None]), tf.constant(top_k), tf.constant(top_p)).numpy()[0]
    assert set(np.flatnonzero(np.isfinite(filtered))) == kept
    np.testing.assert_array_equal(filtered[sorted(kept)], FIXED[sorted(kept)])  # kept logits unchanged


@pytest.mark.parametrize("top_k, top_p, kept", [(0, 0.75, {3, 4, 5}), (3, 0.8, {3, 4})])
def test_sampling_draws_within_the_hand_worked_nucleus_in_proportion(top_k, top_p, kept):
    """64 x 50 draws from a model whose every logit vector is FIXED (bias only)."""
    model = fixed_logits_model(np.where(np.isfinite(FIXED), FIXED, 9.0))  # reserved ids: large, still excluded
    ids = generate(model, np.full((64, 1), 5, np.int32), 50, top_k=top_k, top_p=top_p, seed=4).numpy()
    assert set(np.unique(ids)) == kept
    p = np.exp(FIXED[sorted(kept)])
    frequencies = np.array([np.mean(ids == i) for i in sorted(kept)])
    np.testing.assert_allclose(frequencies, p / p.sum(), atol=0.04)


def test_graph_loop_equals_xla_loop_greedy(model):
    np.testing.assert_array_equal(
        generate(model, PROMPTS, 12, temperature=0.0, jit_compile=False).numpy(),
        generate(model, PROMPTS, 12, temperature=0.0, jit_compile=True).numpy(),
    )


def test_padded_batch_equals_each_prompt_alone(model):
    batch = generate(model, PROMPTS, 10, temperature=0.0).numpy()
    for row, prompt in enumerate(PROMPTS):
        alone = prompt[prompt != 0][None, :]  # (1, its own length), no padding
        np.testing.assert_array_equal(batch[row], generate(model, alone, 10, temperature=0.0).numpy()[0])


def test_ragged_prompts_are_padded(model):
    ragged = tf.ragged.constant([[5, 6, 7, 8, 9], [4], [11, 3, 10]], dtype=tf.int32)
    np.testing.assert_array_equal(
        generate(model, ragged, 6, temperature=0.0).numpy(), generate(model, PROMPTS, 6, temperature=0.0).numpy()
    )


def test_same_seed_same_sample_different_seed_different(model):
    first = generate(model, PROMPTS, 20, seed=7).numpy()
    np.testing.assert_array_equal(first, generate(model, PROMPTS, 20, seed=7).numpy())
    assert not np.array_equal(first, generate(model, PROMPTS, 20, seed=8).numpy())
    assert not np.array_equal(generate(model, PROMPTS, 20).numpy(), generate(model, PROMPTS, 20).numpy())


def test_graph_loop_samples_as_the_stepwise_reference(model):
    """Same sampling code and seeds: in the graph executor the draws agree token for token."""
    for options in ({}, {"temperature": 1.5, "top_k": 4, "top_p": 0.8}):
        np.testing.assert_array_equal(
            generate(model, PROMPTS, 12, seed=3, jit_compile=False, **options).numpy(),
            generate_stepwise(model, PROMPTS, 12, seed=3, **options).numpy(),
        )


def test_top_k_1_and_tiny_top_p_are_greedy(model):
    greedy = generate(model, PROMPTS, 15, temperature=0.0).numpy()
    for options in ({"top_k": 1}, {"top_p": 1e-6}, {"top_k": 3, "top_p": 1e-6}):
        for seed in (1, 2):
            sampled = generate(model, PROMPTS, 15, temperature=2.0, seed=seed, **options).numpy()
            np.testing.assert_array_equal(sampled, greedy, err_msg=str(options))


def test_top_k_keeps_the_k_likeliest():
    """With fixed logits, top-k samples only the k largest non-reserved ids."""
    model = fixed_logits_model([9.0, 9.0, 9.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    ids = generate(model, np.full((32, 1), 5, np.int32), 40, temperature=5.0, top_k=3, seed=0).numpy()
    assert set(np.unique(ids)) == {9, 10, 11}


def test_no_retracing_for_new_lengths_temperatures_filters_and_seeds(model):
    generate(model, PROMPTS, 5, temperature=0.5, top_k=2, seed=1)
    function = decoding.loop._FUNCTIONS[model]["loop", ("sample", True), 2, decoding.XLA_DEFAULT]
    traces = function.experimental_get_tracing_count()
    generate(model, PROMPTS, 7, temperature=1.3, top_k=5, top_p=0.9, seed=2, eos_id=4)
    generate(model, PROMPTS[:2, :3], 3, temperature=0.2, top_p=0.5, seed=None)
    assert function.experimental_get_tracing_count() == traces


def test_eos_ends_rows_and_pads_after(model):
    free = generate(model, PROMPTS, 16, temperature=0.0).numpy()
    eos = int(free[0, 2])
    expected = free.copy()
    for row in expected:
        hits = np.flatnonzero(row == eos)
        if hits.size:
            row[hits[0] + 1 :] = 0
    assert (expected == 0).any()
    for function in (generate, generate_stepwise):
        np.testing.assert_array_equal(function(model, PROMPTS, 16, temperature=0.0, eos_id=eos).numpy(), expected)


def test_eos_stops_sampled_rows():
    model = fixed_logits_model([0.0, 0.0, 0.0, 2.0, 1.0, 1.0, 1.0])  # eos 3 is the likeliest id
    ids = generate(model, np.full((8, 2), 4, np.int32), 30, seed=5, eos_id=3).numpy()
    assert ids.shape == (8, 30)
    for row in ids:
        end = np.flatnonzero(row == 3)[0]  # every row ends (p(no eos in 30) ~ 1e-9)
        assert (row[:end] > 3).all() and (row[end + 1 :] == 0).all()


def fixed_logits_model(bias):
    """An LM whose every next-token logit vector is `bias`: output kernel zero."""
    model = random_model(len(bias))
    model.logits.kernel.assign(tf.zeros_like(model.logits.kernel))
    model.logits.bias.assign(tf.constant(bias, tf.float32))
    return model


def test_reserved_ids_are_never_produced():
    """Reserved ids with the largest logits by far still never come out, in every mode."""
    model = fixed_logits_model([8.0, 8.0, 8.0, 0.3, -0.2, 0.1, 0.0])
    prompts = np.full((16, 3), 4, np.int32)
    for options in ({"temperature": 0.0}, {"temperature": 3.0}, {"temperature": 3.0, "top_k": 2, "top_p": 0.9}):
        ids = generate(model, prompts, 25, seed=1, **options).numpy()
        assert ids.min() >= 3, options
        if options["temperature"] == 0.0:
            assert (ids == 3).all()  # the likeliest id that may be produced


def test_sampling_follows_the_tempered_softmax():
    """Empirical frequencies over 64 x 100 draws match softmax(bias / temperature) over the
    non-reserved ids (standard error <= 0.0063: tolerance ~4.5 of them)."""
    bias = np.array([3.0, 3.0, 3.0, 1.0, 0.0, -1.0, 0.5, 2.0, -0.5], np.float32)
    model = fixed_logits_model(bias)
    for temperature in (0.5, 1.0, 2.0):
        ids = generate(model, np.full((64, 1), 5, np.int32), 100, temperature=temperature, seed=11).numpy()
        frequencies = np.bincount(ids.ravel(), minlength=len(bias)) / ids.size
        z = bias[3:] / temperature
        expected = np.concatenate([np.zeros(3), np.exp(z - z.max()) / np.exp(z - z.max()).sum()])
        np.testing.assert_allclose(frequencies, expected, atol=0.028, err_msg=f"temperature {temperature}")


def test_decode_inside_a_tf_function_equals_generate(model):
    """The SavedModel export runs `decode` inside its own tf.function."""

    @tf.function
    def greedy(prompt):
        return decoding.decode(model, prompt, decoding.Greedy(), 9).ids

    np.testing.assert_array_equal(greedy(tf.constant(PROMPTS)).numpy(), generate(model, PROMPTS, 9, temperature=0.0))


def test_length_zero_gives_an_empty_batch(model):
    for function in (generate, generate_stepwise):
        ids = function(model, PROMPTS, 0)
        assert tuple(ids.shape) == (3, 0) and ids.dtype == tf.int32


@pytest.mark.parametrize(
    "change, message",
    [
        ({"prompt_ids": np.array([[5, 6], [0, 0]], np.int32)}, "empty prompt"),
        ({"prompt_ids": np.zeros((2, 0), np.int32)}, "empty prompt"),
        ({"prompt_ids": np.array([[5, 0, 6]], np.int32)}, "right-padded"),
        ({"prompt_ids": np.array([5, 6], np.int32)}, "shape"),
        ({"prompt_ids": np.array([[5, VOCABULARY]], np.int32)}, "ids in"),
        ({"length": -1}, "length"),
        ({"length": 2.5}, "length"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"eos_id": 0}, "eos_id"),
        ({"eos_id": VOCABULARY}, "eos_id"),
    ],
)
def test_bad_arguments_raise_value_errors(model, change, message):
    arguments = {"prompt_ids": PROMPTS, "length": 4, **change}
    for function in (generate, generate_stepwise):
        with pytest.raises(ValueError, match=message):
            function(model, **arguments)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: decoding.Sample(temperature=0.0), "Greedy"),
        (lambda: decoding.Sample(top_p=0.0), "top_p"),
        (lambda: decoding.Beam(0), "beam_size"),
        (lambda: decoding.Beam(2, length_penalty=-1.0), "length_penalty"),
    ],
)
def test_bad_strategies_raise_value_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
