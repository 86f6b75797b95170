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


RECIPES = {
    "charlm_shakespeare": "recipes.charlm_shakespeare",
    "multi30k_translation": "recipes.multi30k_translation",
    "ptb_language_model": "recipes.ptb_language_model",
    "sst2_sentiment": "recipes.sst2_sentiment",
    "ud_pos_tagging": "recipes.ud_pos_tagging",
}


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
    """Continues a prompt with a language model: a character model stops at `<eos>`, a word model
    (prompt words split on whitespace) writes each `<eos>` as a line break and goes on."""
    import tensorflow as tf

    import zoo
    from zoo.decoding import detokenize_lines, generate
    from zoo.text import EOS_ID, UNK_ID, WordTokenizer

    model = zoo.load(args.name)
    tokenizer = _tokenizer_of(model, args.name)
    words = isinstance(tokenizer, WordTokenizer)
    pieces = args.prompt.split() if words else list(args.prompt)
    if not pieces:
        raise ValueError(f"the prompt is empty: give at least one {'word' if words else 'character'} with --prompt")
    prompt_ids = tokenizer(tf.constant([args.prompt] * args.samples))
    if words:  # a word written "<unk>" is PTB's own, not unknown
        unknown = {w for w, i in zip(pieces, tokenizer.lookup(pieces).numpy()) if i == UNK_ID and w != "<unk>"}
    else:
        unknown = set(pieces) - set(tokenizer.get_vocabulary())
    if unknown:
        print(f"warning: the prompt has {'words' if words else 'characters'} outside {args.name}'s vocabulary, "
              f"read as <unk>: {(' ' if words else '').join(sorted(unknown))!r}", file=sys.stderr)
    ids = generate(
        model, prompt_ids, args.length, temperature=args.temperature, top_k=args.top_k,
        top_p=args.top_p, seed=args.seed, eos_id=None if words else EOS_ID,
    )
    if words:
        texts = detokenize_lines(tokenizer, ids)
    else:
        texts = [text.decode("utf-8") for text in tokenizer.detokenize(ids).numpy()]
    for text in texts:
        print(args.prompt + (" " if words else "") + text)
        if args.samples > 1:
            print("-" * 40)
    return 0


def evaluate_command(args):
    """Scores a model on a file: a language model on plain text (--text-file: nats, bits,
    perplexity per character or per word, the tokens scored), a translator on a line-aligned pair
    (--src, --ref: BLEU), a classifier on `sentence<TAB>label` lines (--tsv: accuracy), a tagger on a CoNLL-U file
    (--conllu: UPOS accuracy)."""
    if args.tsv:
        return _evaluate_classification(args)
    if args.conllu:
        return _evaluate_tagging(args)
    if args.src or args.ref:
        return _evaluate_translation(args)
    if not args.text_file:
        raise ValueError("give --text-file FILE (language models), --src FILE --ref FILE (translators) or "
                         "--tsv FILE (classifiers) or --conllu FILE (taggers)")
    import numpy as np

    import zoo
    from zoo.evaluation import language_model_loss, running_text_ids
    from zoo.text import UNK_ID, WordTokenizer

    path = Path(args.text_file)
    if not path.is_file():
        raise ValueError(f"no such text file: {path}")
    text = path.read_text(encoding="utf-8")
    model = zoo.load(args.name)
    tokenizer = _tokenizer_of(model, args.name)
    words = isinstance(tokenizer, WordTokenizer)  # reads each line's words and an <eos>
    unit, noun = ("word", "tokens") if words else ("char", "characters")
    ids, unknown = running_text_ids(tokenizer, text)
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
    return 0


def _evaluate_translation(args):
    import zoo
    from zoo.corpora import read_text
    from zoo.evaluation import corpus_bleu
    from zoo.translation import translate

    if not (args.src and args.ref):
        raise ValueError("translation needs both --src FILE and --ref FILE (line-aligned)")
    sources, references = (read_text(path).splitlines() for path in (args.src, args.ref))
    if len(sources) != len(references):
        raise ValueError(f"--src has {len(sources)} lines but --ref has {len(references)}: the files must be "
                         f"line-aligned")
    if not sources:
        raise ValueError(f"{args.src} is empty: nothing to translate")
    model = zoo.load(args.name)
    _require(model, "decode_step", args.name, "a translation model (--src/--ref)")
    empty = [i + 1 for i, line in enumerate(sources) if not line.strip()]
    if empty:
        raise ValueError(f"{args.src} has empty lines (line {', '.join(map(str, empty[:5]))}): nothing to translate "
                         f"there")
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
    return 0


def _require(model, attribute, name, kind):
    if not hasattr(model, attribute):
        raise ValueError(f"{name} is a {type(model).__name__}, not {kind}")


def _evaluate_classification(args):
    import zoo
    from zoo.classification import evaluate_tsv

    model = zoo.load(args.name)
    _require(model, "classify", args.name, "a classifier (--tsv)")
    result = evaluate_tsv(model, args.tsv)
    print(f"{args.name} on {args.tsv} ({result['count']:,} sentences)")
    print(f"  accuracy {result['accuracy']:.2%} ({result['correct']:,} of {result['count']:,})")
    return 0


def classify_command(args):
    """Labels a text with a classifier: prints the label and its probability."""
    import zoo

    if not args.text.strip():
        raise ValueError("the text is empty: give a sentence to classify")
    model = zoo.load(args.name)
    _require(model, "classify", args.name, "a classifier")
    label, probabilities = model.classify(args.text)
    print(f"{label}\t{probabilities.max():.4f}")
    return 0


def _evaluate_tagging(args):
    import zoo
    from zoo.corpora import read_conllu
    from zoo.evaluation import tagging_accuracy

    sentences = read_conllu(args.conllu)
    model = zoo.load(args.name)
    _require(model, "tag_words", args.name, "a tagger (--conllu)")
    result = tagging_accuracy(model, sentences)
    print(f"{args.name} on {args.conllu} ({result['words']:,} words, {result['sentences']:,} sentences, "
          f"gold tokenization)")
    print(f"  UPOS accuracy         {result['accuracy']:.2%}")
    print(f"  unseen-word accuracy  {result['unseen_accuracy']:.2%}   ({result['unseen_words']:,} words outside "
          f"the word vocabulary)")
    return 0


def tag_command(args):
    """Tags the words of a sentence (split on whitespace) with universal POS tags."""
    import zoo

    model = zoo.load(args.name)
    _require(model, "tag_words", args.name, "a tagger")
    for word, tag in model.tag([args.text])[0]:
        print(f"{word}\t{tag}")
    return 0


def translate_command(args):
    """Translates a sentence with beam search; optionally draws the attention alignment."""
    import numpy as np

    import zoo
    from zoo.decoding import beam_search, greedy
    from zoo.translation import translate

    if not args.text.strip():
        raise ValueError("the text is empty: give a sentence to translate")
    model = zoo.load(args.name)
    _require(model, "decode_step", args.name, "a translation model")
    print(translate(model, [args.text], method=args.method, beam_size=args.beam_size)[0])
    if args.plot_attention:
        from zoo.plotting import plot_attention

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
    sub.add_argument("--length", type=int, default=500, help="characters (or words and <eos>) to generate")
    sub.add_argument("--temperature", type=float, default=0.8, help="0 means greedy")
    sub.add_argument("--top-k", type=int, default=0, help="sample from the k likeliest only (0: all)")
    sub.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1: all)")
    sub.add_argument("--seed", type=int, default=None)
    sub.add_argument("--samples", type=int, default=1, help="how many continuations, generated as one batch")
    sub = command("evaluate", evaluate_command)
    sub.add_argument("name")
    sub.add_argument("--text-file", help="plain text, for a language model")
    sub.add_argument("--segment-length", type=int, default=1024)
    sub.add_argument("--src", help="source sentences, one a line, for a translator")
    sub.add_argument("--ref", help="reference translations, line-aligned with --src")
    sub.add_argument("--method", choices=("beam", "greedy"), default="beam")
    sub.add_argument("--beam-size", type=int, default=5)
    sub.add_argument("--output", help="also write the translations to this file")
    sub.add_argument("--tsv", help="`sentence<TAB>label` lines (an optional header), for a classifier")
    sub.add_argument("--conllu", help="a CoNLL-U file, for a tagger (UPOS accuracy, gold tokenization)")
    sub = command("classify", classify_command)
    sub.add_argument("name")
    sub.add_argument("text")
    sub = command("tag", tag_command)
    sub.add_argument("name")
    sub.add_argument("text")
    sub = command("translate", translate_command)
    sub.add_argument("name")
    sub.add_argument("text")
    sub.add_argument("--method", choices=("beam", "greedy"), default="beam")
    sub.add_argument("--beam-size", type=int, default=5)
    sub.add_argument("--plot-attention", metavar="PNG", help="draw the attention alignment into this file")
    sub = command("train", train_command)
    sub.add_argument("recipe", help=", ".join(RECIPES))
    sub.add_argument("recipe_args", nargs=argparse.REMAINDER, help="the recipe's own flags")
    sub = command("export", export_command)
    sub.add_argument("name")
    sub.add_argument("directory")
    from recipes.long_range_tasks import add_diagnose_parser

    add_diagnose_parser(commands)
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
