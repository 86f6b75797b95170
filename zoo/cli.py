"""The `zoo` command line."""

import argparse
import os
import sys
import time


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
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
