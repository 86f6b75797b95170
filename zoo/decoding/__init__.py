"""Decoding: one compiled loop (`decode`) over a step protocol that the models implement, with
greedy, sampling and beam search as strategies over it; front ends for each model on ids.

    decode(model, inputs, strategy, max_lengths, capacity=None, eos_id=None, jit_compile=None,
           stepwise=False) -> Decoded                   the one loop (zoo.decoding.loop), also
                                                        usable inside a tf.function
    Greedy(), Sample(temperature, top_k, top_p, seed), Beam(beam_size, length_penalty)
                                                        the strategies (zoo.decoding.strategies)
    generate, detokenize_lines                          a RecurrentLanguageModel (generation)
    greedy, sample, beam_search, Translation            an EncoderDecoder (sequence_to_sequence)
    translate                                           an EncoderDecoder on text (text_translation)
"""

from zoo.decoding.generation import detokenize_lines, generate
from zoo.decoding.loop import XLA_DEFAULT, Decoded, Step, decode
from zoo.decoding.sequence_to_sequence import Translation, beam_search, default_max_lengths, greedy, sample
from zoo.decoding.strategies import Beam, Greedy, Sample
from zoo.decoding.text_translation import translate

__all__ = [
    "decode", "Decoded", "Step", "XLA_DEFAULT", "Greedy", "Sample", "Beam", "generate", "detokenize_lines", "greedy",
    "sample", "beam_search", "Translation", "default_max_lengths", "translate",
]
