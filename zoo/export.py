"""SavedModels that serve zoo models without this package (plain `tf.saved_model.load`)."""

import tensorflow as tf

from zoo import decoding


class _TextGenerator(tf.Module):
    """generate(prompt, length, temperature, seed) -> text, tokenization and the sampling loop in-graph."""

    def __init__(self, model):
        super().__init__()
        if getattr(model, "tokenizer", None) is None:
            raise ValueError("export: the model has no tokenizer saved with it, so it cannot take text")
        self.model = model
        self.tokenizer = model.tokenizer

    @tf.function(
        input_signature=[
            tf.TensorSpec((), tf.string, name="prompt"),
            tf.TensorSpec((), tf.int32, name="length"),
            tf.TensorSpec((), tf.float32, name="temperature"),
            tf.TensorSpec((), tf.int64, name="seed"),
        ]
    )
    def generate(self, prompt, length, temperature, seed):
        ids = self.tokenizer(prompt[None])  # (1, P)
        checks = [
            tf.debugging.assert_positive(tf.shape(ids)[1], message="generate: the prompt is empty"),
            tf.debugging.assert_non_negative(length, message="generate: `length` must be >= 0"),
            tf.debugging.assert_non_negative(temperature, message="generate: `temperature` must be >= 0 (0: greedy)"),
        ]
        with tf.control_dependencies(checks):
            capacity = tf.maximum(length, 1)
        seed_pair = tf.stack([seed, tf.constant(0, tf.int64)])
        no_eos, all_ids, whole_mass = tf.constant(-1), tf.constant(0), tf.constant(1.0)

        def loop(mode, temperature):
            return decoding._loop(
                self.model, mode, ids, length, capacity, temperature, all_ids, whole_mass, seed_pair, no_eos
            )

        generated = tf.cond(
            temperature > 0, lambda: loop("sample", temperature), lambda: loop("greedy", tf.constant(1.0))
        )
        return {"text": self.tokenizer.detokenize(generated[:, :length])[0]}


def export_saved_model(model, directory):
    """Writes a SavedModel with a `generate` signature: (prompt: string, length: int32,
    temperature: float32 (0 = greedy), seed: int64) -> {"text": string}.

    Load it with `tf.saved_model.load(directory)` in a process with only TensorFlow (keep a
    reference to the loaded object while calling it). Export on a CPU machine.
    """
    decoding._ensure_built(model)
    module = _TextGenerator(model)
    tf.saved_model.save(module, str(directory), signatures={"generate": module.generate})
    return directory
