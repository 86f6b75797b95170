"""Attentional encoder-decoder translation on Multi30k (task 1): German <-> English.

Data: `multi30k/` (train 29,000 pairs, val 1,014, test_2016_flickr 1,000). A sentencepiece
(unigram) vocabulary per language is learned from the training side of that language only.
Model: `zoo.models.EncoderDecoder` (bidirectional GRU encoder, Bahdanau attention, GRU decoder
whose gates read the context, maxout deep output tied to the target embedding).

    python -m recipes.multi30k_translation --model nmt-multi30k-de-en                  # train (--resume continues a stopped run)
    python -m recipes.multi30k_translation --model nmt-multi30k-de-en --package        # evaluate, ship

Training writes `runs/<model>/`: `tokenizers.json`, `checkpoint/` (the state `--resume` continues from, every 500 steps and epoch),
`best.keras` (best validation loss), `history.csv`. The validation split selects the epoch;
the test split is read only by `--package`, for the model card.
"""

import csv
import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from recipes.card import render_card, training_summary
from recipes.card_checks import data_path, save_with_checks
from recipes.command_line import argument_parser, run_recipe
from zoo.training import bucketed_indices, dataset_of, fit
from zoo.evaluation import corpus_bleu
from zoo.losses import MaskedCrossEntropy
from zoo.models import EncoderDecoder
from zoo.tasks.translation_task import teacher_forced_batch, token_ids
from zoo.text import SubwordTokenizer
from zoo.training.precision import precision_of
from zoo.training.provenance import run_provenance

LANGUAGES = {"de": "German", "en": "English"}
VOCABULARY_SIZES = {"de": 8000, "en": 6000}  # German has about twice as many word types
QUICK_CHECK_SENTENCES = 100  # the first test pairs: the card's check that every test run repeats


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    source: str
    target: str
    cell: str = "gru"
    embedding_dim: int = 256
    encoder_units: int = 256
    encoder_layers: int = 2
    decoder_units: int = 512
    attention_units: int = 256
    dropout: float = 0.3
    label_smoothing: float = 0.1
    batch_size: int = 64
    learning_rate: float = 1e-3
    clipnorm: float = 1.0
    max_epochs: int = 40
    patience: int = 4
    max_train_length: int = 64  # pairs longer than this (in subwords, either side) are not trained on
    max_source_length: int = 128  # longer sources are truncated at translation time (with a warning)
    beam_size: int = 5
    seed: int = 0


CONFIGS = {
    config.name: config
    for config in (
        Config("nmt-multi30k-de-en", "de", "en"),
        Config("nmt-multi30k-en-de", "en", "de"),
    )
}


def read_lines(data_dir, split, language):
    path = Path(data_dir) / "multi30k" / f"{split}.{language}"
    if not path.is_file():
        raise FileNotFoundError(f"Multi30k not found at {path}: pass --data-dir or set ZOO_DATA_DIR")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]


def read_pairs(data_dir, split, config):
    return read_lines(data_dir, split, config.source), read_lines(data_dir, split, config.target)


# --- tokenizers and batches ---------------------------------------------------------------


def learn_tokenizers(config, data_dir, run_dir):
    """One sentencepiece vocabulary per side, learned on the training split; cached in the run."""
    path = run_dir / "tokenizers.json"
    if path.exists():
        saved = json.loads(path.read_text())
        return tuple(keras.saving.deserialize_keras_object(saved[side]) for side in ("source", "target"))
    tokenizers = tuple(
        SubwordTokenizer.train(read_lines(data_dir, "train", language), VOCABULARY_SIZES[language],
                               name=f"{side}_tokenizer")
        for side, language in (("source", config.source), ("target", config.target))
    )
    path.write_text(json.dumps({side: keras.saving.serialize_keras_object(t)
                                for side, t in zip(("source", "target"), tokenizers)}))
    return tokenizers


def bucketed_batches(sources, targets, batch_size, rng=None):
    """Batches of pairs of similar lengths (`zoo.training.bucketed_indices`)."""
    lengths = [len(s) + len(t) for s, t in zip(sources, targets)]
    return [teacher_forced_batch([sources[i] for i in b], [targets[i] for i in b])
            for b in bucketed_indices(lengths, batch_size, rng)]


def batches_of_epoch(sources, targets, config):
    """epoch -> that epoch's bucketed batches, from the epoch's own seed."""
    return lambda epoch: bucketed_batches(sources, targets, config.batch_size,
                                          np.random.default_rng(config.seed * 1000 + epoch))


BATCH_SIGNATURE = ((tf.TensorSpec((None, None), tf.int32),) * 2, tf.TensorSpec((None, None), tf.int32))  # (src, tgt in), tgt out


# --- model and training -------------------------------------------------------------------


def build_model(config, source_tokenizer, target_tokenizer):
    model = EncoderDecoder(
        source_tokenizer.vocabulary_size,
        target_tokenizer.vocabulary_size,
        cell=config.cell,
        embedding_dim=config.embedding_dim,
        encoder_units=config.encoder_units,
        encoder_layers=config.encoder_layers,
        decoder_units=config.decoder_units,
        attention_units=config.attention_units,
        readout_dim=config.embedding_dim,
        dropout=config.dropout,
        seed=config.seed,
        source_tokenizer=source_tokenizer,
        target_tokenizer=target_tokenizer,
        max_source_length=config.max_source_length,
        name=config.name.replace("-", "_"),
    )
    model.build()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=config.clipnorm),
        loss=MaskedCrossEntropy(label_smoothing=config.label_smoothing),
    )
    return model


def train(config, data_dir, run_dir, options):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    keras.utils.set_random_seed(config.seed)
    source_tokenizer, target_tokenizer = learn_tokenizers(config, data_dir, run_dir)
    train_source, train_target = read_pairs(data_dir, "train", config)
    sources, targets = token_ids(source_tokenizer, train_source), token_ids(target_tokenizer, train_target)
    kept = [i for i in range(len(sources)) if 0 < len(sources[i]) <= config.max_train_length
            and 0 < len(targets[i]) < config.max_train_length]
    sources, targets = [sources[i] for i in kept], [targets[i] for i in kept]
    val_source, val_target = read_pairs(data_dir, "val", config)
    validation = bucketed_batches(token_ids(source_tokenizer, val_source), token_ids(target_tokenizer, val_target),
                                  config.batch_size)
    print(f"{config.name}: {len(kept):,} of {len(train_source):,} training pairs (at most {config.max_train_length} "
          f"subwords a side), {len(val_source):,} validation pairs; vocabularies {source_tokenizer.vocabulary_size} "
          f"({config.source}) / {target_tokenizer.vocabulary_size} ({config.target}); "
          f"{np.mean([len(s) for s in sources]):.1f} / {np.mean([len(t) for t in targets]):.1f} subwords a sentence")

    model = build_model(config, source_tokenizer, target_tokenizer)
    print(f"parameters: {model.count_params():,}")
    steps_per_epoch = -(-len(sources) // config.batch_size)
    return fit(model, batches_of_epoch(sources, targets, config), steps_per_epoch, config.max_epochs, run_dir, options,
               patience=config.patience, signature=BATCH_SIGNATURE, validation_data=dataset_of(validation, BATCH_SIGNATURE))


# --- evaluation and packaging -------------------------------------------------------------


def translate_file(model, sources, beam_size):
    from zoo.decoding import translate

    return translate(model, sources, method="beam", beam_size=beam_size, progress=True)


def package(config, data_dir, run_dir, checkpoints_dir):
    """checkpoints/<name>/ from the run's best model, with test BLEU (beam search) in its model card."""
    from zoo.checkpoints import round_weights_to_float16

    source_tokenizer, target_tokenizer = learn_tokenizers(config, data_dir, run_dir)
    best = keras.saving.load_model(run_dir / "best.keras", compile=False)
    model = build_model(config, source_tokenizer, target_tokenizer)
    model.set_weights(best.get_weights())
    round_weights_to_float16(model)  # stored as float16 (half the bytes): measure what is stored
    results, seconds = {}, {}
    for split in ("val", "test_2016_flickr"):
        sources, references = read_pairs(data_dir, split, config)
        start = time.perf_counter()
        hypotheses = translate_file(model, sources, config.beam_size)
        seconds[split] = time.perf_counter() - start
        results[split] = corpus_bleu(hypotheses, references)
        print(f"{config.name} {split}: {results[split]} ({seconds[split]:.0f} s)")
    with (run_dir / "history.csv").open() as f:
        history = list(csv.DictReader(f))
    metadata = {"recipe": "multi30k_translation", "config": dataclasses.asdict(config), "bleu": results,
                "beam_search_seconds": seconds, "history": history, "provenance": run_provenance(run_dir)}
    folder = Path(checkpoints_dir) / config.name
    save_with_checks(model, folder, lambda metadata: model_card(config, model, metadata), metadata,
                     evaluation_commands(config), data_dir, weights_dtype="float16")
    print(f"-> {folder}")
    return results


def evaluation_commands(config):
    """The card's checks: `zoo evaluate` on the first test pairs, on all of them, and on the validation pairs."""
    def evaluate(split):
        return (f"zoo evaluate {config.name} --src {data_path('multi30k', f'{split}.{config.source}')} "
                f"--ref {data_path('multi30k', f'{split}.{config.target}')} --beam-size {config.beam_size}")

    return [[f"{evaluate('test_2016_flickr')} --first {QUICK_CHECK_SENTENCES}"], [evaluate("test_2016_flickr")],
            [evaluate("val")]]


def model_card(config, model, metadata):
    """The card of a packaged model, from what `package` puts in its metadata.json (the beam search's seconds
    on each split: `beam_search_seconds`)."""
    results = metadata["bleu"]
    return render_card(
        "multi30k_translation", precision_of(model), metadata.get("provenance"), metadata.get("checks"), config=config,
        source=LANGUAGES[config.source], target=LANGUAGES[config.target],
        cell_name=config.cell.upper(), source_vocabulary_size=model.source_vocabulary_size,
        target_vocabulary_size=model.target_vocabulary_size, parameters=model.count_params(),
        test=results["test_2016_flickr"], val=results["val"], seconds=metadata["beam_search_seconds"],
        **training_summary(metadata["history"]),
    )


def main(argv=None):
    args = argument_parser(__doc__.split("\n")[0], CONFIGS, "nmt-multi30k-de-en", 110.0).parse_args(argv)
    run_recipe(args, CONFIGS, train, package)


if __name__ == "__main__":
    main()
