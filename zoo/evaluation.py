"""Evaluation of language models on running text."""

import math

import numpy as np
import tensorflow as tf


def language_model_loss(model, ids, segment_length=1024):
    """Cross-entropy of a `RecurrentLanguageModel` on one running text, every token scored once.

    The text is read in segments with the recurrent state carried from one to the next, so
    token t+1 is predicted from all of ids[0..t] (as Zaremba et al. evaluate on PTB).

    Args:
        ids: 1-D int sequence of token ids (the first one is context only).
        segment_length: tokens per forward call; changes speed, not the result.

    Returns:
        dict with `nats` (mean nats/token), `bits` (bits/token), `perplexity`, `tokens` scored.
    """
    ids = np.asarray(ids, dtype="int32")
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError(f"language_model_loss needs a 1-D text of at least 2 tokens; got shape {ids.shape}")
    states, total = None, 0.0

    @tf.function(reduce_retracing=True)
    def segment_loss(inputs, targets, states):
        logits, states = model.encode(inputs[None, :], states)  # (1, T, V)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(targets[None, :], logits)
        return tf.reduce_sum(losses), states

    for start in range(0, len(ids) - 1, segment_length):
        inputs = ids[start : start + segment_length]
        targets = ids[start + 1 : start + 1 + segment_length]
        inputs = inputs[: len(targets)]
        if states is None:
            states = model.initial_states(1)
        loss, states = segment_loss(tf.constant(inputs), tf.constant(targets), states)
        total += float(loss)
    tokens = len(ids) - 1
    nats = total / tokens
    return {"nats": nats, "bits": nats / math.log(2), "perplexity": math.exp(nats), "tokens": tokens}


def corpus_bleu(hypotheses, references):
    """BLEU of detokenized translations against one reference each, two ways:

    - `sacrebleu`: sacreBLEU's default (cased, its 13a tokenizer), the number to report;
    - `lowercased_bleu`: the same on lowercased text, comparable with tutorials that score
      lowercased tokens.
    """
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"corpus_bleu: {len(hypotheses)} hypotheses for {len(references)} references")
    cased, lowercased = sacrebleu.BLEU(), sacrebleu.BLEU(lowercase=True)
    cased_score = cased.corpus_score(hypotheses, [references])
    return {
        "sacrebleu": round(cased_score.score, 2),
        "lowercased_bleu": round(lowercased.corpus_score(hypotheses, [references]).score, 2),
        "signature": str(cased.get_signature()),
        "sentences": len(hypotheses),
    }

