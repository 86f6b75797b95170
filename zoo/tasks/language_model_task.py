"""Language models: generate text, score running text, serve `generate`, fine-tune on text."""

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo import decoding
from zoo.corpora import read_text
from zoo.decoding import detokenize_lines, generate
from zoo.evaluation import language_model_loss, running_text_ids
from zoo.tasks.task import Task, first_examples
from zoo.text import EOS_ID, UNK_ID, WordTokenizer


class LanguageModelTask(Task):
    """p(x_{t+1} | x_1..x_t) over characters or words (`RecurrentLanguageModel`)."""

    name, title, verb = "language_model", "a language model", "generate"
    evaluation_flags, evaluation_usage = ("text_file",), "--text-file FILE"

    def add_verb_arguments(self, parser):
        parser.add_argument("--prompt", help="a language model: the text to continue")
        parser.add_argument("--length", type=int, default=500, help="characters (or words and <eos>) to generate")
        parser.add_argument("--temperature", type=float, default=0.8, help="0 means greedy")
        parser.add_argument("--top-k", type=int, default=0, help="sample from the k likeliest only (0: all)")
        parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1: all)")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--samples", type=int, default=None,
                            help="a language model: how many continuations, generated as one batch (default 1)")

    def run(self, model, args):
        """Continues a prompt: a character model stops at `<eos>`, a word model (prompt words split on
        whitespace) writes each `<eos>` as a line break and goes on."""
        if args.prompt is None:
            raise ValueError(f"{args.name} is a language model: give the text to continue with --prompt")
        samples = 1 if args.samples is None else args.samples
        if samples < 1:
            raise ValueError(f"--samples must be at least 1, got {samples}")
        tokenizer = _tokenizer(model, args.name)
        words = _reads_words(tokenizer)
        pieces = args.prompt.split() if words else list(args.prompt)
        if not pieces:
            raise ValueError(f"the prompt is empty: give at least one {'word' if words else 'character'} with --prompt")
        unknown = _unknown_pieces(tokenizer, pieces, words)
        if unknown:
            print(f"warning: the prompt has {'words' if words else 'characters'} outside {args.name}'s vocabulary, "
                  f"read as <unk>: {(' ' if words else '').join(sorted(unknown))!r}", file=sys.stderr)
        ids = generate(
            model, tokenizer(tf.constant([args.prompt] * samples)), args.length, temperature=args.temperature,
            top_k=args.top_k, top_p=args.top_p, seed=args.seed, eos_id=None if words else EOS_ID,
        )
        if words:
            texts = detokenize_lines(tokenizer, ids)
        else:
            texts = [text.decode("utf-8") for text in tokenizer.detokenize(ids).numpy()]
        for text in texts:
            print(args.prompt + (" " if words else "") + text)
            if samples > 1:
                print("-" * 40)

    def add_evaluation_arguments(self, group):
        group.add_argument("--text-file", help="plain text, for a language model")
        group.add_argument("--segment-length", type=int, default=1024, help="tokens per forward call (speed only)")

    def evaluate(self, model, args):
        """Nats, bits and perplexity per character (or word) on a text, the state carried through."""
        path = Path(args.text_file)
        if not path.is_file():
            raise ValueError(f"no such text file: {path}")
        tokenizer = _tokenizer(model, args.name)
        words = _reads_words(tokenizer)
        unit, noun = ("word", "tokens") if words else ("char", "characters")
        lines = first_examples(path.read_text(encoding="utf-8").splitlines(keepends=True), args)
        ids, unknown = running_text_ids(tokenizer, "".join(lines))
        if len(ids) < 2:
            raise ValueError(f"{path} holds {len(ids)} {noun}: evaluation needs at least 2")
        result = language_model_loss(model, ids, segment_length=args.segment_length)
        print(f"{args.name} on {path} ({result['tokens']:,} {noun}{' (words and <eos>)' if words else ''} scored)")
        print(f"  nats/{unit}  {result['nats']:.4f}")
        print(f"  bits/{unit}  {result['bits']:.4f}")
        print(f"  perplexity {result['perplexity']:.3f}")
        if words:
            print(f"  <unk>      {np.mean(ids == UNK_ID):.1%} of the tokens ({np.mean(unknown):.1%} words outside the "
                  f"vocabulary, the rest written <unk> in the text)")
        if np.mean(unknown) > 0.01:
            print(f"warning: {np.mean(unknown):.1%} of the {noun} are outside the model's vocabulary, scored "
                  f"as <unk>, one word for all: the perplexity does not compare with that of text the vocabulary covers")

    def export_module(self, model, **options):
        if not model.built:  # build the variables eagerly, not inside the traced function
            model.decoding_start(tf.ones((1, 1), tf.int32))
        module = TextGenerator(model)
        return module, {"generate": module.generate}

    def dataset(self, model, data, batch_size=32, sequence_length=128, shuffle=True, seed=None):
        """(ids (B, T), next ids (B, T)) from a text file (path) or a list of texts (joined by line
        breaks), read as the model reads running text (`zoo.evaluation.running_text_ids`: a word
        model reads each line's words and an `<eos>`): consecutive windows of T = `sequence_length`
        tokens, shuffled (from `seed`) unless `shuffle=False`; the last batch may be smaller."""
        ids, _ = running_text_ids(_tokenizer(model, "the model"), _text_of(data))
        count = (len(ids) - 1) // sequence_length
        if count < 1:
            raise ValueError(f"dataset: the text holds {len(ids)} tokens, fewer than sequence_length + 1 = "
                             f"{sequence_length + 1}: give more text or a shorter sequence_length")
        inputs, targets = next_token_windows(ids, sequence_length, count)
        windows = tf.data.Dataset.from_tensor_slices((inputs, targets))
        if shuffle:
            windows = windows.shuffle(count, seed=seed)
        return windows.batch(batch_size)


def next_token_windows(ids, length, count, starts=None):
    """(inputs (N, T), targets (N, T)): the N windows ids[s : s + T] and ids[s + 1 : s + T + 1],
    s in `starts` (default: 0, T, 2T, ...: `count` consecutive windows)."""
    starts = length * np.arange(count) if starts is None else starts
    inputs = np.stack([ids[s : s + length] for s in starts])  # (N, T)
    targets = np.stack([ids[s + 1 : s + length + 1] for s in starts])  # (N, T)
    return inputs, targets


def _text_of(data):
    if isinstance(data, (list, tuple)):
        if not all(isinstance(text, str) for text in data):
            raise ValueError("dataset: a language model's data is a text file's path or a list of str")
        return "\n".join(data)

    return read_text(data)


def _tokenizer(model, name):
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError(f"{name} has no tokenizer saved with it: it cannot read text")
    return tokenizer


def _reads_words(tokenizer):
    return isinstance(tokenizer, WordTokenizer)


def _unknown_pieces(tokenizer, pieces, words):
    if words:  # a word written "<unk>" is PTB's own, not unknown
        return {w for w, i in zip(pieces, tokenizer.lookup(pieces).numpy()) if i == UNK_ID and w != "<unk>"}
    return set(pieces) - set(tokenizer.get_vocabulary())


class TextGenerator(tf.Module):
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

        def decode(strategy):
            return decoding.decode(self.model, ids, strategy, length, capacity).ids

        generated = tf.cond(
            temperature > 0, lambda: decode(decoding.Sample(temperature, seed=seed)), lambda: decode(decoding.Greedy())
        )
        return {"text": self.tokenizer.detokenize(generated[:, :length])[0]}
