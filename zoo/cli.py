"""The `zoo` command line."""

import argparse
import difflib
import os
import sys
import time
from pathlib import Path


def demo(args):
    """Trains a small masked, stacked, bidirectional zoo LSTM on a toy task with model.fit."""
    import keras
    import numpy as np

    from zoo import layers

    rng = np.random.default_rng(args.seed)
    keras.utils.set_random_seed(args.seed)

    def make_batch(count):
        # digits 1..9 in sequences of random length, right-padded with 0; label: is the first digit
        # less than, equal to or greater than the last real one? The two directions' final states
        # under the mask hold them.
        lengths = rng.integers(args.min_length, args.max_length + 1, size=count)
        tokens = rng.integers(1, 10, size=(count, args.max_length))
        tokens[np.arange(args.max_length)[None, :] >= lengths[:, None]] = 0
        return tokens, 1 + np.sign(tokens[:, 0] - tokens[np.arange(count), lengths - 1])

    x_train, y_train = make_batch(args.examples)
    x_test, y_test = make_batch(1000)
    model = keras.Sequential(
        [
            keras.Input((args.max_length,), dtype="int32"),
            keras.layers.Embedding(10, 16, mask_zero=True),
            layers.Stacked(
                [layers.Bidirectional(layers.LSTM(args.units)), layers.Bidirectional(layers.LSTM(args.units))],
                return_sequences=True,
                dropout=0.1,
            ),
            layers.SequencePooling("bi_last"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3, clipnorm=1.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, validation_split=0.1, verbose=2 if args.quiet else 1)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"\nFirst vs last of {args.min_length}-{args.max_length} digits (<, =, >): held-out accuracy "
          f"{accuracy:.3f} (majority class 0.44), trained in {seconds:.0f} s.")
    return 0 if accuracy > 0.5 else 1


RECIPES = {"charlm_shakespeare": "recipes.charlm_shakespeare"}


def list_command(args):
    """Lists the shipped models."""
    import zoo

    for name in zoo.list_models():
        print(name)
    return 0


def info_command(args):
    """Prints a model's card and size."""
    import zoo

    model = zoo.load(args.name)
    card = zoo.model_card(args.name)
    print(card if card else f"{args.name}: no model card")
    print(f"\nparameters: {model.count_params():,}")
    return 0


def generate_command(args):
    """Continues a prompt with a language model."""
    import tensorflow as tf

    import zoo
    from zoo.decoding import generate

    model = zoo.load(args.name)
    tokenizer = _tokenizer_of(model, args.name)
    if not args.prompt:
        raise ValueError("the prompt is empty: give at least one character with --prompt")
    prompt_ids = tokenizer(tf.constant([args.prompt] * args.samples))
    unknown = sorted({c for c in args.prompt if c not in set(tokenizer.get_vocabulary())})
    if unknown:
        print(f"warning: the prompt has characters outside {args.name}'s vocabulary, read as <unk>: "
              f"{''.join(unknown)!r}", file=sys.stderr)
    ids = generate(
        model, prompt_ids, args.length, temperature=args.temperature, top_k=args.top_k,
        top_p=args.top_p, seed=args.seed, eos_id=3,
    )
    for text in tokenizer.detokenize(ids).numpy():
        print(args.prompt + text.decode("utf-8"))
        if args.samples > 1:
            print("-" * 40)
    return 0


def evaluate_command(args):
    """Cross-entropy of a language model on a plain-text file (nats, bits, perplexity per character)."""
    import numpy as np
    import tensorflow as tf

    import zoo
    from zoo.evaluation import language_model_loss

    path = Path(args.text_file)
    if not path.is_file():
        raise ValueError(f"no such text file: {path}")
    text = path.read_text(encoding="utf-8")
    if len(text) < 2:
        raise ValueError(f"{path} holds {len(text)} character(s): evaluation needs at least 2")
    model = zoo.load(args.name)
    ids = _tokenizer_of(model, args.name).tokenize_ragged(tf.constant([text]))[0].numpy()
    unknown = float(np.mean(ids == 1))
    result = language_model_loss(model, ids, segment_length=args.segment_length)
    print(f"{args.name} on {path} ({result['tokens']:,} characters scored)")
    print(f"  nats/char  {result['nats']:.4f}")
    print(f"  bits/char  {result['bits']:.4f}")
    print(f"  perplexity {result['perplexity']:.3f}")
    if unknown > 0.01:
        print(f"warning: {unknown:.1%} of the characters are outside the model's vocabulary (scored as <unk>)")
    return 0


def train_command(args):
    """Runs a recipe's training (its own flags follow the recipe name)."""
    import importlib

    if args.recipe not in RECIPES:
        close = difflib.get_close_matches(args.recipe, RECIPES)
        raise ValueError(f"unknown recipe {args.recipe!r}; recipes: {', '.join(RECIPES)}"
                         + (f" (did you mean {close[0]!r}?)" if close else ""))
    importlib.import_module(RECIPES[args.recipe]).main(args.recipe_args)
    return 0


def export_command(args):
    """Writes a SavedModel that serves the model without this package."""
    import zoo
    from zoo.export import export_saved_model

    export_saved_model(zoo.load(args.name), args.directory)
    print(f"exported {args.name} to {args.directory}")
    return 0


def publish_command(args):
    """Uploads a checkpoint folder with its model card to the Hugging Face Hub."""
    import zoo

    print(zoo.publish(args.name, args.destination, token=args.token, endpoint=args.endpoint))
    return 0


def _tokenizer_of(model, name):
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError(f"{name} has no tokenizer saved with it: it cannot read text")
    return tokenizer


def build_parser():
    parser = argparse.ArgumentParser(prog="zoo", description="rnn-zoo: recurrent networks for Keras 3")
    commands = parser.add_subparsers(dest="command", required=True)
    parser_demo = commands.add_parser("demo", help=demo.__doc__)
    parser_demo.add_argument("--epochs", type=int, default=6)
    parser_demo.add_argument("--examples", type=int, default=8000)
    parser_demo.add_argument("--units", type=int, default=32)
    parser_demo.add_argument("--min-length", type=int, default=5)
    parser_demo.add_argument("--max-length", type=int, default=30)
    parser_demo.add_argument("--seed", type=int, default=0)
    parser_demo.add_argument("--quiet", action="store_true", help="one line per epoch")
    parser_demo.set_defaults(run=demo)

    def command(name, function):
        sub = commands.add_parser(name, help=function.__doc__, description=function.__doc__)
        sub.set_defaults(run=function)
        return sub

    command("list", list_command)
    command("info", info_command).add_argument("name")
    sub = command("generate", generate_command)
    sub.add_argument("name")
    sub.add_argument("--prompt", required=True)
    sub.add_argument("--length", type=int, default=500, help="characters to generate")
    sub.add_argument("--temperature", type=float, default=0.8, help="0 means greedy")
    sub.add_argument("--top-k", type=int, default=0, help="sample from the k likeliest only (0: all)")
    sub.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1: all)")
    sub.add_argument("--seed", type=int, default=None)
    sub.add_argument("--samples", type=int, default=1, help="how many continuations, generated as one batch")
    sub = command("evaluate", evaluate_command)
    sub.add_argument("name")
    sub.add_argument("--text-file", required=True)
    sub.add_argument("--segment-length", type=int, default=1024)
    sub = command("train", train_command)
    sub.add_argument("recipe", help=", ".join(RECIPES))
    sub.add_argument("recipe_args", nargs=argparse.REMAINDER, help="the recipe's own flags")
    sub = command("export", export_command)
    sub.add_argument("name")
    sub.add_argument("directory")
    sub = command("publish", publish_command)
    sub.add_argument("name")
    sub.add_argument("destination", help="hf://org/name")
    sub.add_argument("--token", default=None)
    sub.add_argument("--endpoint", default=None, help="another Hub endpoint (default: huggingface.co)")
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, OSError) as error:  # bad input: a message, not a traceback
        parser.exit(2, f"zoo {args.command}: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
