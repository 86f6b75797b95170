"""Translators: translate a sentence, score by BLEU, serve `translate`, fine-tune on sentence pairs."""

import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from zoo import decoding
from zoo.corpora import read_text
from zoo.decoding import beam_search, greedy, translate
from zoo.evaluation import corpus_bleu
from zoo.plotting import plot_attention
from zoo.tasks.task import Task, first_examples, shuffled_batches
from zoo.text import BOS_ID, EOS_ID, PAD_ID


class TranslationTask(Task):
    """p(target sentence | source sentence) (`EncoderDecoder` with attention)."""

    name, title, verb = "translation", "a translator", "translate"
    evaluation_flags, evaluation_usage = ("src", "ref"), "--src FILE --ref FILE"

    def add_verb_arguments(self, parser):
        parser.add_argument("text")
        _add_search_arguments(parser)
        parser.add_argument("--plot-attention", metavar="PNG", help="draw the attention alignment into this file")

    def run(self, model, args):
        """Translates a sentence (beam search by default); optionally draws the attention alignment."""
        print(translate(model, [args.text], method=args.method, beam_size=args.beam_size)[0])
        if args.plot_attention:
            _plot_attention(model, args)

    def add_evaluation_arguments(self, group):
        group.add_argument("--src", help="source sentences, one a line, for a translator")
        group.add_argument("--ref", help="reference translations, line-aligned with --src")
        _add_search_arguments(group)
        group.add_argument("--output", help="also write the translations to this file")

    def evaluate(self, model, args):
        """sacreBLEU (and lowercased BLEU) of the translations of --src against --ref."""
        sources, references = (first_examples(lines, args) for lines in _aligned_files(args.src, args.ref))
        start = time.perf_counter()
        hypotheses = translate(model, sources, method=args.method, beam_size=args.beam_size, progress=True)
        seconds = time.perf_counter() - start
        if args.output:
            Path(args.output).write_text("\n".join(hypotheses) + "\n", encoding="utf-8")
        scores = corpus_bleu(hypotheses, references)
        search = f"beam {args.beam_size}" if args.method == "beam" else args.method
        print(f"{args.name} on {args.src} ({len(sources):,} sentences, {search}, {seconds:.0f} s)")
        print(f"  sacreBLEU                  {scores['sacrebleu']:.2f}   ({scores['signature']})")
        print(f"  lowercased tokenized BLEU  {scores['lowercased_bleu']:.2f}")

    def export_module(self, model, beam_size=5, **options):
        if not model.built:
            model.build()
        module = TranslatorModule(model, beam_size=beam_size)
        return module, {"translate": module.translate, "translate_batch": module.translate_batch}

    def dataset(self, model, data, batch_size=32, shuffle=True, seed=None):
        """((source ids (B, S), <bos> target ids (B, T)), target ids <eos> (B, T)), right-padded with 0,
        from a pair of line-aligned files (source path, target path) or a list of (source, target)
        sentence pairs, read with the model's tokenizers; sources cut to `max_source_length`."""
        if isinstance(data, (list, tuple)) and data and all(isinstance(p, (list, tuple)) for p in data):
            pairs = [_pair(number, pair) for number, pair in enumerate(data)]
        elif isinstance(data, (list, tuple)) and len(data) == 2:
            pairs = list(zip(*_aligned_files(*data)))
        else:
            raise ValueError("dataset: a translator's data is (source file, target file) or a list of "
                             "(source, target) sentence pairs")
        sources = token_ids(model.source_tokenizer, [s for s, _ in pairs], model.max_source_length)
        targets = token_ids(model.target_tokenizer, [t for _, t in pairs])

        def make_batch(rows):
            return teacher_forced_batch([sources[i] for i in rows], [targets[i] for i in rows])

        ids = tf.TensorSpec((None, None), tf.int32)
        return shuffled_batches(list(range(len(pairs))), batch_size, shuffle, seed, make_batch, ((ids, ids), ids))


def _add_search_arguments(parser):
    parser.add_argument("--method", choices=("beam", "greedy"), default="beam")
    parser.add_argument("--beam-size", type=int, default=5)


def _aligned_files(source_path, reference_path):
    """(source lines, reference lines) of two line-aligned UTF-8 files, with errors naming the problem."""
    if not (source_path and reference_path):
        raise ValueError("translation needs both --src FILE and --ref FILE (line-aligned)")
    sources, references = (read_text(path).splitlines() for path in (source_path, reference_path))
    if len(sources) != len(references):
        raise ValueError(f"--src has {len(sources)} lines but --ref has {len(references)}: the files must be "
                         f"line-aligned")
    if not sources:
        raise ValueError(f"{source_path} is empty: nothing to translate")
    empty = [i + 1 for i, line in enumerate(sources) if not line.strip()]
    if empty:
        raise ValueError(f"{source_path} has empty lines (line {', '.join(map(str, empty[:5]))}): nothing to "
                         f"translate there")
    return sources, references


def _pair(number, pair):
    if not (len(pair) == 2 and all(isinstance(text, str) and text.strip() for text in pair)):
        raise ValueError(f"dataset: example {number} is {pair!r}, not a pair of non-empty sentences")
    return tuple(pair)


def token_ids(tokenizer, lines, limit=None):
    """A list of int32 arrays, one per line (no bos/eos), each cut to `limit` ids."""
    ragged = tokenizer.tokenize_ragged(tf.constant(lines))
    return [np.asarray(row[:limit], np.int32) for row in ragged.numpy()]


def padded(rows):
    """Right-padded (B, longest row) int32 ids."""
    return keras.utils.pad_sequences(rows, padding="post", value=PAD_ID, dtype="int32")


def teacher_forced_batch(sources, targets):
    """((source (B, S), target_in (B, T)), labels (B, T)) of id arrays: target_in = <bos> y, labels = y <eos>."""
    target_in = padded([np.concatenate([[BOS_ID], t]) for t in targets])
    labels = padded([np.concatenate([t, [EOS_ID]]) for t in targets])
    return (padded(sources), target_in), labels


def _plot_attention(model, args):
    source_ids = np.asarray(model.source_tokenizer([args.text]))[:, : model.max_source_length]
    if args.method == "beam":
        result = beam_search(model, source_ids, beam_size=args.beam_size)
    else:
        result = greedy(model, source_ids)
    length = int(result.lengths[0])
    source_pieces, target_pieces = (t.get_vocabulary() for t in (model.source_tokenizer, model.target_tokenizer))
    plot_attention(
        result.attention[0, :length, : source_ids.shape[1]],
        [source_pieces[i] for i in source_ids[0]],
        [target_pieces[i] for i in result.ids[0, :length]],
        args.plot_attention,
        title=f"{args.name}: {args.text}",
    )
    print(f"attention map -> {args.plot_attention}", file=sys.stderr)


class TranslatorModule(tf.Module):
    """translate(text) -> translation: subword tokenization, beam search and detokenization in-graph."""

    def __init__(self, model, beam_size=5, length_penalty=1.0):
        super().__init__()
        if getattr(model, "source_tokenizer", None) is None or getattr(model, "target_tokenizer", None) is None:
            raise ValueError("export: the model has no tokenizers saved with it, so it cannot take text")
        self.model = model
        self.source_tokenizer = model.source_tokenizer
        self.target_tokenizer = model.target_tokenizer
        self.beam_size = beam_size
        self.length_penalty = length_penalty

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="texts")])
    def translate_batch(self, texts):
        ids = self.source_tokenizer(texts)[:, : self.model.max_source_length]  # (B, S), truncated
        lengths = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)  # (B,)
        check = tf.debugging.assert_positive(lengths, message="translate: a source text is empty")
        with tf.control_dependencies([check]):
            limits = decoding.default_max_lengths(lengths)
        beam = decoding.Beam(self.beam_size, self.length_penalty)
        best = decoding.decode(self.model, ids, beam, limits, eos_id=EOS_ID).ids[:, 0]  # (B, C), the best of K
        return {"translations": self.target_tokenizer.detokenize(best)}

    @tf.function(input_signature=[tf.TensorSpec((), tf.string, name="text")])
    def translate(self, text):
        return {"translation": self.translate_batch(text[None])["translations"][0]}
