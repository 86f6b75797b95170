"""SST-2 studies that were not shipped, on top of recipes/sst2_sentiment.py (docs/sst2_tuning.md has the results):

- the pooling comparison: every `SequencePooling` mode, a few seeds each (docs/sst2_pooling.md and .png);
- an ensemble: `members` > 1 makes the model a `ClassifierEnsemble` of classifiers trained one after another
  from seeds `seed`, `seed` + 1, ..., in `runs/<model>/member-<k>/`, their probabilities averaged
  (`sentiment-sst2-bilstm-x8`: 84 MB, over the zoo's 25 MB a checkpoint);
- the encoder started from language models: `--pretrain-lm` trains a forward and a backward word-level
  `zoo.models.RecurrentLanguageModel` of the classifier's vocabulary (on SST-2's training sentences,
  WikiText-2 valid/test and PTB) in `runs/<model>/lm-forward/` and `lm-backward/`; `sentiment-sst2-bilstm-lm`
  then starts its embedding and first layer from them.

Run from the checkout root:

    python -m experiments.sst2_studies --compare-pooling --epochs-per-run 3            # docs/sst2_pooling.*
    python -m experiments.sst2_studies --model sentiment-sst2-bilstm-x8                # train (--resume continues)
    python -m experiments.sst2_studies --model sentiment-sst2-bilstm-lm --pretrain-lm --max-minutes 25
    python -m experiments.sst2_studies --model sentiment-sst2-bilstm-lm                # fine-tune from the LMs
    python -m experiments.sst2_studies --model sentiment-sst2-bilstm-x8 --package      # evaluate, write the checkpoint

The comparison writes `runs/<model>-pooling/<pooling>-seed<k>/` (a recipe run, and `result.json`: a finished
run is not redone).
"""

import dataclasses
import json
import statistics
import time
from pathlib import Path

import keras
import numpy as np

from recipes import charlm_shakespeare
from recipes import sst2_sentiment as recipe
from recipes.card import render_card
from recipes.command_line import REPO, argument_parser, run_dir_of, run_recipe, training_options
from zoo.evaluation import classification_accuracy, evaluate_tsv, running_text_ids
from zoo.layers.sequence_pooling import POOLING_MODES
from zoo.models import ClassifierEnsemble
from zoo.models.sequence_classifier import initialise_from_language_models
from zoo.text import UNK_ID
from zoo.training.precision import precision_of
from zoo.training import (TrainingOptions, distribution_strategy, fit, member_dirs, save_model_atomically,
                          train_members)

LANGUAGE_MODEL_TEXTS = ("wikitext-2/valid.txt", "wikitext-2/test.txt", "ptb/ptb.train.txt", "ptb/ptb.valid.txt",
                        "ptb/ptb.test.txt")
POOLING_REPORT = REPO / "docs" / "sst2_pooling.md"


@dataclasses.dataclass(frozen=True)
class StudyConfig(recipe.Config):
    """The recipe's `Config` and what the studies add (the defaults: the recipe's plain classifier)."""

    members: int = 1  # > 1: an ensemble of classifiers trained from seeds seed, seed + 1, ... (ClassifierEnsemble)
    pretrained_lm: bool = False  # start the encoder from runs/<name>/lm-{forward,backward}/best.keras
    lm_sequence_length: int = 50
    lm_learning_rate: float = 2e-3
    lm_dropout: float = 0.3


CONFIGS = {
    **{name: StudyConfig(**dataclasses.asdict(config)) for name, config in recipe.CONFIGS.items()},
    **{config.name: config for config in (
        # The mean of 8 such classifiers, 84 MB: over the zoo's 25 MB a checkpoint. Measured without the weight
        # average (docs/sst2_tuning.md): 84.29% on dev, below the single averaged classifier's 84.75%.
        StudyConfig("sentiment-sst2-bilstm-x8", **recipe.CHOSEN, members=8),
        StudyConfig("sentiment-sst2-bilstm-lm", **recipe.CHOSEN, pretrained_lm=True),
        # For tests:
        StudyConfig("sentiment-sst2-tiny-ensemble", embedding_dim=8, units=8, max_epochs=2, validation_sentences=4,
                    members=2),
    )},
}


# --- training: ensembles and classifiers started from language models ------------------------


def language_model_dirs(run_dir):
    return {direction: run_dir / f"lm-{direction}" for direction in ("forward", "backward")}


def train(config, data_dir, run_dir, options, split=None):
    """`recipe.train` for each member; an ensemble's members (seeds `seed`, `seed` + 1, ...) train one after
    the other (`zoo.training.train_members`), and `best.keras` is then their `ClassifierEnsemble`. With
    `pretrained_lm`, each member's encoder starts from the `--pretrain-lm` language models."""
    split = split or recipe.load_split(config, data_dir)
    initialise = starting_from(load_language_models(run_dir)) if config.pretrained_lm else None
    if config.members == 1:
        return recipe.train(config, data_dir, run_dir, options, split, initialise)

    def train_member(k, member_dir, member_options):
        recipe.train(dataclasses.replace(config, seed=config.seed + k), data_dir, member_dir, member_options, split,
                     initialise)

    folders = train_members(config.members, run_dir, options, train_member)
    members = [keras.saving.load_model(folder / "best.keras", compile=False) for folder in folders]
    ensemble = ClassifierEnsemble(members, name=config.name.replace("-", "_"))
    ensemble.build()
    save_model_atomically(ensemble, run_dir / "best.keras")  # `load_best` compiles it
    print(f"{config.name}: the ensemble of {config.members} members -> {run_dir / 'best.keras'}")


def starting_from(language_models):
    """`recipe.train`'s `initialise`: the classifier's encoder from the (forward, backward) `language_models`."""
    def initialise(model):
        initialise_from_language_models(model, *language_models)

    return initialise


def load_language_models(run_dir):
    """The pretrained (forward, backward) language models of a run, from `--pretrain-lm`."""
    paths = [folder / "best.keras" for folder in language_model_dirs(run_dir).values()]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"no pretrained language model at {', '.join(missing)}: run this study with "
                                f"--pretrain-lm first")
    return [keras.saving.load_model(path, compile=False) for path in paths]


# --- language model pretraining -----------------------------------------------------------


def language_model_config(config, direction):
    """The word-level LM whose embedding and LSTM fit the classifier's first layer."""
    return charlm_shakespeare.Config(
        name=f"{config.name}-lm-{direction}", cell="lstm", units=config.units, num_layers=1,
        embedding_dim=config.embedding_dim, dropout=config.lm_dropout, embedding_dropout=0.1,
        sequence_length=config.lm_sequence_length, learning_rate=config.lm_learning_rate, max_epochs=50,
        patience=2, validation_sequence_length=config.lm_sequence_length, seed=config.seed,
    )


def language_model_text(data_dir, split):
    """SST-2's training sentences, then WikiText-2 valid and test, then PTB: non-empty lines."""
    lines = list(split.training_sentences)
    for relative in LANGUAGE_MODEL_TEXTS:
        path = Path(data_dir) / relative
        if not path.is_file():
            raise FileNotFoundError(f"{relative} not found at {path}: pass --data-dir or set ZOO_DATA_DIR")
        lines += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines


def pretrain_language_models(config, data_dir, run_dir, options):
    """Trains a forward and a backward (reversed text) LSTM language model of the classifier's vocabulary,
    `options.max_minutes` / 2 each; the validation text is the validation slice's sentences (no labels read)."""
    if not config.pretrained_lm:
        raise ValueError(f"{config.name} does not start from language models: use --model "
                         f"{next(c.name for c in CONFIGS.values() if c.pretrained_lm)}")
    split = recipe.load_split(config, data_dir)
    tokenizer = recipe.build_tokenizer(config, split)
    # One int32 stream each: every line's word ids followed by `<eos>`, as zoo evaluate reads text.
    text, validation = (running_text_ids(tokenizer, "\n".join(lines))[0]
                        for lines in (language_model_text(data_dir, split), split.validation_texts))
    print(f"language model text: {len(text):,} words ({np.mean(text == UNK_ID):.1%} <unk>), validation "
          f"{len(validation):,}; vocabulary {tokenizer.vocabulary_size:,}")
    for direction, folder in language_model_dirs(run_dir).items():
        folder.mkdir(parents=True, exist_ok=True)
        lm_config = language_model_config(config, direction)
        stream, held = (text, validation) if direction == "forward" else (text[::-1], validation[::-1])
        keras.utils.set_random_seed(config.seed)
        model = charlm_shakespeare.build_model(lm_config, tokenizer.vocabulary_size, tokenizer=tokenizer)
        steps_per_epoch = (len(stream) - lm_config.sequence_length) // lm_config.sequence_length // lm_config.batch_size
        print(f"{lm_config.name}: {model.count_params():,} parameters")
        fit(model, charlm_shakespeare.windows_of_epoch(stream, lm_config), steps_per_epoch, lm_config.max_epochs,
            folder, dataclasses.replace(options, max_minutes=options.max_minutes / 2), patience=lm_config.patience,
            validation_data=charlm_shakespeare.validation_windows(held, lm_config))


# --- packaging ------------------------------------------------------------------------------


def evaluate_ensemble(model, data_dir, run_dir, config, split):
    """An ensemble's validation-slice and dev accuracy, and each member's validation-slice accuracy,
    epochs and minutes (the members' dev accuracy is not measured: dev is the ensemble's test set)."""
    members = [{"validation": classification_accuracy(member, split.validation_texts, split.validation_labels),
                **recipe.run_summary(folder)}
               for member, folder in zip(model.members, member_dirs(config.members, run_dir))]
    return {
        "validation": classification_accuracy(model, split.validation_texts, split.validation_labels),
        "dev": evaluate_tsv(model, recipe.tsv_path(data_dir, "dev")),
        "members": members,
        "minutes": sum(member["minutes"] for member in members),
    }


def package(config, data_dir, run_dir, checkpoints_dir):
    """checkpoints/<name>/ as `recipe.package` writes it, for an ensemble (each member's accuracy on the
    validation slice, their histories) or a classifier started from language models (theirs too)."""
    split = recipe.load_split(config, data_dir)
    model = recipe.packaged_model(config, run_dir)
    if config.members == 1:
        result = recipe.evaluate_run(model, data_dir, run_dir, split)
        histories = {"history": recipe.read_history(run_dir)}
    else:
        result = evaluate_ensemble(model, data_dir, run_dir, config, split)
        histories = {"member_histories": [recipe.read_history(member) for member in member_dirs(config.members, run_dir)]}
    pretraining = {direction: recipe.read_history(folder) for direction, folder in language_model_dirs(run_dir).items()
                   } if config.pretrained_lm else None
    histories["language_model_history"] = pretraining
    return recipe.save_package(config, model, data_dir, run_dir, checkpoints_dir, result, histories,
                               lambda metadata: model_card(config, model, metadata, split, pretraining))


def model_card(config, model, result, split, pretraining):
    """recipes/cards/sst2_sentiment.md, filled for an ensemble and/or a classifier started from language models
    (`result`: what `package` puts in metadata.json)."""
    fields = recipe.card_fields(config, model, result, split)
    if config.members == 1:
        ensemble, chosen = "", "validation slice (chose the epoch)"
        runs = f"{result['epochs']} epochs ({result['chosen_epoch']} chosen)"
    else:
        members = result["members"]
        member_accuracies = [m["validation"]["accuracy"] for m in members]
        ensemble = (f"the mean of the probabilities of {config.members} classifiers\n(`zoo.models.ClassifierEnsemble`), "
                    f"trained apart from seeds {config.seed}-{config.seed + config.members - 1}, each: ")
        chosen = (f"validation slice (chose each member's epoch; members: {100 * min(member_accuracies):.2f}-"
                  f"{100 * max(member_accuracies):.2f}%, mean {100 * statistics.mean(member_accuracies):.2f}%)")
        runs = (f"{config.members} members, one after the other: "
                + ", ".join(f"{m['epochs']} epochs ({m['chosen_epoch']} chosen)" for m in members))
    return render_card(
        "sst2_sentiment", precision_of(model), result.get("provenance"), result.get("checks"), **fields,
        ensemble=ensemble, chosen=chosen, runs=runs,
        initialisation="" if pretraining is None else _pretraining_paragraph(config, pretraining),
        outside_text="" if pretraining is None else ", and no outside text but the language models'",
    )


def _pretraining_paragraph(config, pretraining):
    losses = {d: min(float(row["val_loss"]) for row in rows) for d, rows in pretraining.items()}
    minutes = sum(float(rows[-1]["train_seconds"]) for rows in pretraining.values()) / 60
    return f"""

The embedding and the first layer's forward and backward LSTMs started from two word-level zoo
`RecurrentLanguageModel`s of the same vocabulary (`--pretrain-lm`: forward, and on reversed text),
trained on SST-2's training sentences, WikiText-2 valid/test and PTB for {minutes:.0f} minutes in all
(`python -m experiments.sst2_studies --model {config.name} --pretrain-lm`; validation-slice text:
{losses['forward']:.3f} / {losses['backward']:.3f} nats/word), then fine-tuned with `model.fit`."""


# --- the pooling comparison -----------------------------------------------------------------


def compare_pooling(config, data_dir, minutes_per_run, seeds, epochs_per_run=None, report=POOLING_REPORT):
    """Trains every pooling with `seeds` seeds, at most `epochs_per_run` epochs (default: the config's)
    and `minutes_per_run` each (resumable: a finished run is read back from its result.json), and
    writes the table `report` and its plot (.png)."""
    config = dataclasses.replace(config, max_epochs=epochs_per_run or config.max_epochs)
    split = recipe.load_split(config, data_dir)
    results = {}
    for pooling in POOLING_MODES:
        for seed in range(config.seed, config.seed + seeds):
            run_dir = REPO / "runs" / f"{config.name}-pooling" / f"{pooling}-seed{seed}"
            path = run_dir / "result.json"
            if not path.exists():
                run_config = dataclasses.replace(config, pooling=pooling, seed=seed)
                train(run_config, data_dir, run_dir, TrainingOptions(max_minutes=minutes_per_run), split=split)
                result = recipe.evaluate_run(recipe.load_best(run_config, run_dir), data_dir, run_dir, split)
                path.write_text(json.dumps(result, indent=1))
                keras.backend.clear_session()
            results.setdefault(pooling, []).append(json.loads(path.read_text()))
    write_pooling_report(results, config, minutes_per_run, report)
    return results


def _spread(values):
    """'mean ± sd (min-max)' of accuracies, in %."""
    values = [100 * v for v in values]
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {sd:.2f} ({min(values):.2f}-{max(values):.2f})"


def write_pooling_report(results, config, minutes_per_run, report):
    """The markdown table (mean ± sd and range of validation-slice and dev accuracy per pooling) and
    a plot of every run next to it (same name, .png)."""
    report = Path(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    plot = report.with_suffix(".png")
    plot_pooling(results, plot)
    best = max(results, key=lambda p: statistics.mean(r["validation"]["accuracy"] for r in results[p]))
    rows = "\n".join(
        f"| `{pooling}` | {len(runs)} | {_spread([r['validation']['accuracy'] for r in runs])} | "
        f"{_spread([r['dev']['accuracy'] for r in runs])} | {statistics.mean(r['epochs'] for r in runs):.1f} | "
        f"{statistics.mean(r['minutes'] for r in runs):.1f} |"
        for pooling, runs in results.items()
    )
    settings = ", ".join(f"{k} {v}" for k, v in dataclasses.asdict(config).items() if k not in ("name", "pooling", "seed"))
    report.write_text(f"""# SST-2: pooling over the BiLSTM's states

`python -m experiments.sst2_studies --compare-pooling --epochs-per-run {config.max_epochs} --minutes-per-run {minutes_per_run:g}`
({time.strftime('%Y-%m-%d')}):
the `{config.name}` model with each `SequencePooling` mode, {len(next(iter(results.values())))} seeds each, the same
budget per run (at most {config.max_epochs} epochs and {minutes_per_run:g} minutes, early stopping after
{config.patience} epochs without a better validation-slice accuracy), on 2 CPU cores. Accuracy in %, mean ±
standard deviation over the seeds (lowest-highest):

| pooling | runs | validation slice ({config.validation_sentences} sentences) | dev (872 sentences, the test set) | epochs | minutes |
|---|---:|---|---|---:|---:|
{rows}

Best on the validation slice: **`{best}`**. The choice is made there, not on dev, which is the test set.
Settings: {settings}.

![accuracy of every run by pooling]({plot.name})
""", encoding="utf-8")
    print(f"wrote {report} and {plot}")


def plot_pooling(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for offset, (split, marker) in zip((-0.12, 0.12), (("validation", "o"), ("dev", "s"))):
        for x, runs in enumerate(results.values()):
            values = [100 * r[split]["accuracy"] for r in runs]
            axes.scatter([x + offset] * len(values), values, marker=marker, color=f"C{int(offset > 0)}", alpha=0.7,
                         label=(f"{split} ({'validation slice' if split == 'validation' else 'test set'})"
                                if x == 0 else None))
            axes.hlines(np.mean(values), x + offset - 0.08, x + offset + 0.08, color=f"C{int(offset > 0)}")
    axes.set_xticks(range(len(results)), list(results))
    axes.set(xlabel="pooling over the BiLSTM's states", ylabel="accuracy (%)",
             title="SST-2: every seed (points) and the mean (bars) per pooling")
    axes.grid(alpha=0.3, axis="y")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None):
    parser = argument_parser(__doc__.split("\n")[0], CONFIGS, "sentiment-sst2-bilstm", 60.0)
    parser.add_argument("--compare-pooling", action="store_true",
                        help=f"train every pooling ({', '.join(POOLING_MODES)}) with --seeds seeds and write "
                             f"docs/sst2_pooling.md and .png (dev accuracy included)")
    parser.add_argument("--minutes-per-run", type=float, default=10.0, help="the budget of each comparison run")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per pooling in the comparison")
    parser.add_argument("--epochs-per-run", type=int, default=None,
                        help="the epoch budget of each comparison run (default: the model's max_epochs)")
    parser.add_argument("--pretrain-lm", action="store_true",
                        help="train the forward and backward language models the -lm model starts from "
                             "(--max-minutes for both)")
    args = parser.parse_args(argv)
    config = CONFIGS[args.model]
    if args.compare_pooling:
        compare_pooling(config, args.data_dir, args.minutes_per_run, args.seeds, args.epochs_per_run)
    elif args.pretrain_lm:
        with distribution_strategy(args.strategy, args.logical_cpus).scope():
            pretrain_language_models(config, args.data_dir, run_dir_of(args, config), training_options(args))
    else:
        run_recipe(args, CONFIGS, train, package)


if __name__ == "__main__":
    main()
