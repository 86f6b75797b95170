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


def list_command(args):
    """Lists the models by name (the presets and any local checkpoints) with their task and where each
    would load from: a folder, the checkout's checkpoints/, the HF cache, or the Hub. Downloads nothing."""
    from zoo.checkpoints import SOURCES, list_models, resolve_checkpoint
    from zoo.presets import PRESETS, task_of

    rows = []
    for name in list_models():
        location = resolve_checkpoint(name, download=False)
        task = PRESETS[name]["task"] if name in PRESETS else task_of(location.folder)
        where = location.folder if location.folder is not None else PRESETS[name]["hub"]
        rows.append((name, task or "?", f"{SOURCES[location.source]}: {where}"))
    width = max((len(name) for name, _, _ in rows), default=0)
    for name, task, where in rows:
        print(f"{name:<{width}}  {task:<14}  {where}")
    return 0


def info_command(args):
    """Prints a model's card and size."""
    import zoo

    model = zoo.load(args.name)
    card = zoo.model_card(args.name)
    print(card if card else f"{args.name}: no model card")
    print(f"\nparameters: {model.count_params():,}")
    return 0


def evaluate_command(args):
    """Scores a model on a file; the model's kind decides what the file is and what is measured: a
    language model on plain text (--text-file: nats, bits, perplexity per character or per word), a
    translator on a line-aligned pair (--src, --ref: BLEU), a classifier on `sentence<TAB>label`
    lines (--tsv: accuracy), a tagger on a CoNLL-U file (--conllu: UPOS accuracy), an image model on
    an image file (--images: nats per image)."""
    import zoo
    from zoo.tasks import TASKS, require_task

    given = [task for task in TASKS.values() if task.evaluation_given(args)]
    if len(given) != 1:
        usages = "; ".join(f"{task.evaluation_usage} ({task.title})" for task in TASKS.values())
        raise ValueError(("these options are for different kinds of model" if given else "no data to evaluate on")
                         + f": give one of {usages}")
    if args.first is not None and args.first < 1:
        raise ValueError(f"--first must be a positive number of examples, got {args.first}")
    model = zoo.load(args.name)
    require_task(model, given[0], args.name).evaluate(model, args)
    return 0


def verb_command(tasks):
    """The `zoo VERB NAME ...` command of the tasks whose verb it is (`generate`: language and image
    models): loads the model, checks that it is of one of those kinds, runs the verb of its kind."""

    def run(args):
        import zoo
        from zoo.tasks import require_task, task_of

        if getattr(args, "text", None) is not None and not args.text.strip():
            raise ValueError(f"the text is empty: give a sentence to {tasks[0].verb}")
        model = zoo.load(args.name)
        task = task_of(model) if task_of(model) in tasks else tasks[0]
        require_task(model, task, args.name).run(model, args)
        return 0

    run.__doc__ = " ".join(task.run.__doc__ for task in tasks)
    return run


def train_command(args):
    """Runs a recipe's training (its own flags follow the recipe name): the recipes are the entry points
    of the group `rnn_zoo.recipes` (`zoo.recipe_table`)."""
    from zoo.recipe_table import recipe_main

    recipe_main(args.recipe)(args.recipe_args)
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


def build_parser():
    from zoo.recipe_table import recipe_table

    parser = argparse.ArgumentParser(prog="zoo", description="rnn-zoo: recurrent networks for Keras 3")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines (`zoo --verbose ...`)")
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
    from zoo.tasks import TASKS

    evaluate = command("evaluate", evaluate_command)
    evaluate.add_argument("name")
    evaluate.add_argument("--first", type=int, default=None, metavar="N",
                          help="score the first N examples only: lines of a text, sentence pairs, sentences, trees "
                               "or images (a model card's quick check)")
    verbs = {}
    for task in TASKS.values():
        verbs.setdefault(task.verb, []).append(task)
        task.add_evaluation_arguments(evaluate.add_argument_group(f"{task.title[task.title.index(' ') + 1:]}s"))
    for verb, tasks in verbs.items():
        sub = command(verb, verb_command(tasks))
        sub.add_argument("name")
        for task in tasks:
            task.add_verb_arguments(sub)
    sub = command("train", train_command)
    sub.add_argument("recipe", help=", ".join(recipe_table()))
    sub.add_argument("recipe_args", nargs=argparse.REMAINDER, help="the recipe's own flags")
    sub = command("export", export_command)
    sub.add_argument("name")
    sub.add_argument("directory")
    from zoo.long_range.command import add_diagnose_parser

    add_diagnose_parser(commands)
    sub = command("publish", publish_command)
    sub.add_argument("name")
    sub.add_argument("destination", help="hf://org/name")
    sub.add_argument("--token", default=None)
    sub.add_argument("--endpoint", default=None, help="another Hub endpoint (default: huggingface.co)")
    return parser


def main(argv=None):
    """The command line, in this process as it is (tests call it); the `zoo` program is `console`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, OSError) as error:  # bad input: a message, not a traceback
        parser.exit(2, f"zoo {args.command}: error: {error}\n")


def console():
    """The `zoo` program: TensorFlow's own log lines go to a temporary file, not the terminal, unless asked
    for (`zoo --verbose ...`, or TF_CPP_MIN_LOG_LEVEL set by the user). The file is removed when the command
    ends, and named after a crash (an exception other than the clear errors `main` exits with)."""
    argv = sys.argv[1:]
    if "--verbose" in argv or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return main(argv)
    from zoo.native_stderr import native_stderr_to

    log, crashed = native_stderr_to(), False
    try:
        return main(argv)
    except Exception:
        crashed = True
        raise
    finally:
        if crashed and log.stat().st_size:
            print(f"(TensorFlow's own messages of this run: {log})", file=sys.stderr)
        else:
            log.unlink()


if __name__ == "__main__":
    sys.exit(console())
