"""Word-level language models on the Penn Treebank (Mikolov's 10k-word version), scored as Zaremba et al. 2014.

Data: `ptb/ptb.{train,valid,test}.txt` (929,589 / 73,760 / 82,430 tokens once every line ends in
`<eos>`). The vocabulary is the training split's words: PTB writes its rare words as `<unk>` and we
append `<eos>` to each line, and both map to reserved ids of `zoo.text.WordTokenizer`, so the model
reads 4 reserved ids + PTB's other 9,998 words = 10,002 ids (PTB's 10,000 words, `<pad>` and `<bos>`).

Training is truncated backpropagation through time over contiguous batches: the token stream is cut
into `batch_size` parallel streams, read `sequence_length` tokens at a time, and the recurrent state
at the end of one window starts the next (`CarriedStateTraining`); it is zeroed at each epoch start.
Validation and test perplexity are `zoo.evaluation.language_model_loss` on the whole text: one
stream, the state carried from start to end, every token but the first scored once.

    python -m recipes.ptb_language_model --model wordlm-ptb-small            # Zaremba's small LSTM, 13 epochs
    python -m recipes.ptb_language_model --model wordlm-ptb-small --package  # its checkpoint (shipped)
    python -m recipes.ptb_language_model --model wordlm-ptb-lstm             # ~7.5 hours (stop, then --resume)
    python -m recipes.ptb_language_model --model wordlm-ptb-lstm --package   # valid and test, the checkpoint

Training writes `runs/<model>/`: `checkpoint/` (the state `--resume` continues from, every 500 steps and epoch), `best.keras` (best validation
perplexity), `history.csv` (loss and validation loss in nats/token, validation perplexity).
"""

import csv
import dataclasses
import json
import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from recipes.card import render_card, training_summary
from recipes.card_checks import data_path, save_with_checks
from recipes.command_line import argument_parser, run_recipe
from zoo.training import averaged_weights, fit
from zoo.evaluation import language_model_loss, running_text_ids
from zoo.models import RecurrentLanguageModel
from zoo.text import RESERVED, WordTokenizer
from zoo.training.precision import precision_of
from zoo.training.provenance import run_provenance

SPLITS = ("train", "valid", "test")
QUICK_CHECK_LINES = 200  # the first lines of ptb.test.txt: the card's check that every test run repeats
ZAREMBA_TEST_PERPLEXITY = {"small": 114.5, "medium": 82.7, "large": 78.4}  # Zaremba et al. 2014, table 1


@dataclasses.dataclass(frozen=True)
class Config:
    """A model and its training. The learning rate and clipping norm apply to the loss averaged over
    tokens; Zaremba et al. sum it over the window's steps, so their SGD rate r and norm c for windows of
    T steps are `learning_rate = r * T` and `global_clipnorm = c / T` here."""

    name: str
    units: int
    embedding_dim: int
    num_layers: int = 2
    tie_embeddings: bool = False
    dropout: float = 0.0  # between the recurrent layers (one mask per sequence)
    embedding_dropout: float = 0.0
    output_dropout: float = 0.0  # before the softmax
    word_dropout: float = 0.0  # word types dropped per sequence (Gal & Ghahramani 2016)
    variational_dropout: bool = False  # one embedding / output dropout mask per sequence, not per step
    weight_dropout: float = 0.0  # DropConnect on the recurrent kernels U (Merity et al. 2018), one mask per batch
    optimizer: str = "sgd"  # "sgd" or "adam"
    learning_rate: float = 20.0
    global_clipnorm: float = 0.25  # clipping by the norm of all gradients together
    batch_size: int = 20
    sequence_length: int = 35
    max_epochs: int = 40
    # The learning rate schedule. Zaremba et al.'s: `learning_rate` for the first `constant_epochs`, then x `decay`
    # every epoch; None: x 0.5 after an epoch that lowers the validation loss by no more than `plateau_min_delta`.
    constant_epochs: int | None = None
    decay: float = 0.5
    plateau_min_delta: float = 0.0  # nats/token (0.0125: 1.25% of perplexity)
    patience: int = 3  # epochs without a better validation loss before stopping
    # Uniform initialisation U(-s, s) as Zaremba et al.: of every weight (`init_scale`), or of the embedding only
    # (`embedding_init_scale`: tied, it scales the logits too); None: the zoo's initializers.
    init_scale: float | None = None
    embedding_init_scale: float | None = None
    # Validation and the kept model on a moving average of the weights, a_t = m a_{t-1} + (1 - m) w_t with
    # m = `weight_average` (Keras' `use_ema`; in place of averaged SGD, Polyak & Juditsky 1992); 0: the weights.
    weight_average: float = 0.0
    seed: int = 0


# The Config fields that are RecurrentLanguageModel arguments of the same name.
MODEL_FIELDS = ("units", "num_layers", "embedding_dim", "tie_embeddings", "dropout", "embedding_dropout",
                "output_dropout", "word_dropout", "variational_dropout", "weight_dropout", "seed")

CONFIGS = {config.name: config for config in (
    # Zaremba et al.'s small model: 2x200, no dropout, batches of 20, SGD at rate 1 (x 0.5 every epoch after the
    # 4th), clipping at norm 5, windows of 20 steps, 13 epochs: test perplexity 114.5.
    Config("wordlm-ptb-small", units=200, embedding_dim=200, sequence_length=20, learning_rate=20.0,
           global_clipnorm=0.25, max_epochs=13, constant_epochs=4, decay=0.5, patience=13, init_scale=0.1),
    # The shipped model: Zaremba's medium size (2 x 650) with the output layer tied to the embedding (13.3M
    # parameters, not 19.8M), regularized as Merity et al.'s AWD-LSTM (variational dropout on the embeddings,
    # between the layers and before the softmax, word types dropped, DropConnect on the recurrent kernels) and
    # trained as it is: SGD at 30 on the mean loss per token, clipping at 0.25, the moving average of the weights
    # in place of averaged SGD; the rate halved once an epoch gains less than 1% perplexity (on the average).
    # Embeddings from U(-0.1, 0.1) (tied, they scale the logits too). 55 epochs: 7.5 hours at the 8.2 minutes an
    # epoch takes in float32 on 2 AMD EPYC cores (bfloat16 there, without AMX, took 9.1).
    Config("wordlm-ptb-lstm", units=650, embedding_dim=650, tie_embeddings=True, dropout=0.25,
           embedding_dropout=0.4, output_dropout=0.4, word_dropout=0.1, variational_dropout=True, weight_dropout=0.5,
           optimizer="sgd", learning_rate=30.0, global_clipnorm=0.25, batch_size=20, sequence_length=35,
           max_epochs=55, patience=5, embedding_init_scale=0.1, plateau_min_delta=0.01, weight_average=0.9995),
    # For tests.
    Config("wordlm-ptb-tiny", units=16, embedding_dim=16, tie_embeddings=True, dropout=0.2, embedding_dropout=0.2,
           output_dropout=0.2, word_dropout=0.1, variational_dropout=True, weight_dropout=0.2, optimizer="adam",
           learning_rate=2e-3, batch_size=8, sequence_length=10, max_epochs=2, weight_average=0.9),
)}


def load_texts(data_dir):
    """{"train", "valid", "test"} -> the text of ptb/ptb.<split>.txt."""
    texts = {}
    for split in SPLITS:
        path = Path(data_dir) / "ptb" / f"ptb.{split}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"PTB not found at {path}: pass --data-dir or set ZOO_DATA_DIR")
        texts[split] = path.read_text(encoding="utf-8")
    return texts


def build_tokenizer(train_text):
    """Every word of the training text, the most frequent first (PTB has no rarer words: it wrote them as <unk>)."""
    return WordTokenizer.from_texts([train_text])


def steps_per_epoch(token_count, config):
    """Windows per epoch: as many as every start offset in [0, sequence_length) leaves room for."""
    stream_length = (token_count - config.sequence_length) // config.batch_size  # L, tokens per stream
    return (stream_length - 1) // config.sequence_length


def contiguous_batches(ids, config, offset):
    """(inputs, targets) windows (B, T) over B parallel streams of `ids[offset:]`, B = batch_size,
    T = sequence_length: row b of window k continues row b of window k - 1.

        stream b = ids[offset + b L : offset + (b + 1) L],  L = (len(ids) - offset) // B
        window k: inputs = streams[:, kT : (k + 1) T], targets = streams[:, kT + 1 : (k + 1) T + 1]
    """
    batch, length = config.batch_size, config.sequence_length
    stream_length = (len(ids) - offset) // batch
    streams = np.asarray(ids[offset : offset + batch * stream_length], "int32").reshape(batch, stream_length)  # (B, L)
    count = (stream_length - 1) // length
    inputs = streams[:, : count * length].reshape(batch, count, length).transpose(1, 0, 2)  # (K, B, T)
    targets = streams[:, 1 : count * length + 1].reshape(batch, count, length).transpose(1, 0, 2)
    return tf.data.Dataset.from_tensor_slices((inputs, targets))


def batches_of_epoch(ids, config):
    """epoch -> that epoch's `contiguous_batches`, each from a new random offset (so the windows' edges,
    where backpropagation is cut, move)."""
    def batches(epoch):
        offset = int(np.random.default_rng(config.seed * 1000 + epoch).integers(0, config.sequence_length))
        return contiguous_batches(ids, config, offset)

    return batches


@keras.saving.register_keras_serializable(package="recipes")
class CarriedStateTraining(keras.Model):
    """A language model trained by truncated BPTT with its state carried between batches.

    Row b of consecutive batches continues one stream of text (`contiguous_batches`), so the final
    states of a batch, kept in non-trainable variables (B, S_i), are the initial states of the next:

        logits, s_k = language_model.encode(inputs_k, s_{k-1})    s_0 = 0 (`reset_states`)

    No gradient flows into s_{k-1} (the truncation). `model.fit` trains it like any Keras model;
    `ResetCarriedStates` zeroes the states at each epoch end. The states are model variables, so a
    training checkpoint holds them and a run resumed in mid-epoch carries on the same streams.
    """

    def __init__(self, language_model, batch_size, **kwargs):
        super().__init__(**kwargs)
        if isinstance(language_model, dict):
            language_model = keras.saving.deserialize_keras_object(language_model)
        self.language_model = language_model
        self.batch_size = batch_size
        self.carried_states = [  # every replica writes the same gathered value (`call`): the first's is kept
            self.add_weight(shape=(batch_size, size), initializer="zeros", trainable=False,
                            aggregation="only_first_replica", name=f"carried_state_{i}")
            for i, size in enumerate(language_model.recurrent.state_size)
        ]

    def call(self, ids, training=False):
        # Under a tf.distribute strategy, replica r reads rows [r b, (r + 1) b) of the global batch.
        replica = tf.distribute.get_replica_context()
        rows = tf.shape(ids)[0]  # b = B / replicas
        first = replica.replica_id_in_sync_group * rows if replica else 0
        states = [tf.convert_to_tensor(state)[first : first + rows] for state in self.carried_states]  # (b, S_i)
        logits, final_states = self.language_model.encode(ids, states, training=training)  # (b, T, V)
        for variable, state in zip(self.carried_states, final_states):
            state = replica.all_gather(state, axis=0) if replica else state  # (B, S_i)
            if state.shape[0] in (None, variable.shape[0]):  # not so in Keras' symbolic build under a strategy (b)
                variable.assign(state)
        return logits

    def reset_states(self):
        for variable in self.carried_states:
            variable.assign(tf.zeros_like(variable))

    def get_config(self):
        return {**super().get_config(), "language_model": keras.saving.serialize_keras_object(self.language_model),
                "batch_size": self.batch_size}


class ResetCarriedStates(keras.callbacks.Callback):
    """Zeroes `CarriedStateTraining`'s states when an epoch ends (the next is a new pass over the streams).
    At the end, not the start: an epoch resumed in its middle starts from the states it was stopped with."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.reset_states()


class RunningTextValidation(keras.callbacks.Callback):
    """Adds `val_loss` (nats/token) and `val_perplexity` to each epoch's logs: `language_model_loss` of
    the language model on the whole validation text. List it before the callbacks that read them."""

    def __init__(self, language_model, ids):
        super().__init__()
        self.language_model = language_model
        self.ids = ids

    def on_epoch_end(self, epoch, logs=None):
        with averaged_weights(self.model):  # the moving average of the weights, where the optimizer keeps one
            result = language_model_loss(self.language_model, self.ids)
        logs["val_loss"], logs["val_perplexity"] = result["nats"], result["perplexity"]


def build_language_model(config, tokenizer):
    """The LSTM language model of `config`, built and initialised, reading text with `tokenizer`."""
    options = {field: getattr(config, field) for field in MODEL_FIELDS}
    model = RecurrentLanguageModel(tokenizer.vocabulary_size, cell="lstm", tokenizer=tokenizer,
                                   name=config.name.replace("-", "_"), **options)
    model(keras.ops.zeros((1, 2), dtype="int32"))  # build
    rng = np.random.default_rng(config.seed)
    for variable in model.trainable_weights:
        embedding = variable is model.embedding.embeddings
        scale = (config.embedding_init_scale if embedding else None) or config.init_scale
        if scale:
            variable.assign(rng.uniform(-scale, scale, variable.shape))
    return model


def compile_for_training(model, config):
    """The optimizer and loss of `config` (also on the shipped model, without the moving average: it fine-tunes
    with model.fit as it trained)."""
    optimizers = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}
    model.compile(
        optimizer=optimizers[config.optimizer](
            learning_rate=config.learning_rate, global_clipnorm=config.global_clipnorm,
            use_ema=config.weight_average > 0, ema_momentum=config.weight_average or 0.99),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )


def learning_rate_schedule(config):
    """Zaremba et al.'s: rate x decay^max(0, epoch + 1 - constant_epochs) (epoch from 0), or None."""
    if config.constant_epochs is None:
        return None
    return lambda epoch: config.learning_rate * config.decay ** max(0, epoch + 1 - config.constant_epochs)


def train(config, data_dir, run_dir, options):
    texts = load_texts(data_dir)
    tokenizer = build_tokenizer(texts["train"])
    train_ids, _ = running_text_ids(tokenizer, texts["train"])
    validation_ids, _ = running_text_ids(tokenizer, texts["valid"])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    keras.utils.set_random_seed(config.seed)
    language_model = build_language_model(config, tokenizer)
    model = CarriedStateTraining(language_model, config.batch_size)
    model(keras.ops.zeros((config.batch_size, config.sequence_length), dtype="int32"))  # build
    compile_for_training(model, config)
    steps = steps_per_epoch(len(train_ids), config)
    print(f"{config.name}: {len(train_ids):,} training / {len(validation_ids):,} validation tokens, vocabulary "
          f"{tokenizer.vocabulary_size:,}; {language_model.count_params():,} parameters; {steps} steps an epoch")
    history = fit(
        model, batches_of_epoch(train_ids, config), steps, config.max_epochs, run_dir, options,
        patience=config.patience, learning_rate_schedule=learning_rate_schedule(config),
        plateau_min_delta=config.plateau_min_delta,
        # before the shared callbacks, which read the validation loss
        extra_callbacks=[ResetCarriedStates(), RunningTextValidation(language_model, validation_ids)],
    )
    best = min(history.history.get("val_loss", [float("nan")]))
    print(f"best validation perplexity this run: {math.exp(best):.2f}")
    return history


def package(config, data_dir, run_dir, checkpoints_dir):
    """checkpoints/<name>/ from the run's best model: validation and test perplexity in its card, with the
    `zoo evaluate` commands that measure them (its checks)."""
    from zoo.checkpoints import round_weights_to_float16

    model = keras.saving.load_model(run_dir / "best.keras", compile=False).language_model
    # Fine-tuning compiles without the average: with it Keras ends a short model.fit at nearly the starting weights.
    compile_for_training(model, dataclasses.replace(config, weight_average=0.0))
    round_weights_to_float16(model)  # stored as float16 (half the bytes): measure what is stored
    texts = load_texts(data_dir)
    results = {split: language_model_loss(model, running_text_ids(model.tokenizer, texts[split])[0])
               for split in ("valid", "test")}
    with (run_dir / "history.csv").open() as f:
        history = list(csv.DictReader(f))
    folder = Path(checkpoints_dir) / config.name
    provenance = run_provenance(run_dir)
    metadata = {"recipe": "ptb_language_model", "config": dataclasses.asdict(config), "perplexity": results,
                "history": history, "provenance": provenance}
    save_with_checks(model, folder, lambda metadata: model_card(config, model, metadata), metadata,
                     evaluation_commands(config.name), data_dir, weights_dtype="float16")
    print(f"{config.name}: validation perplexity {results['valid']['perplexity']:.2f}, test "
          f"{results['test']['perplexity']:.2f} -> {folder}")
    return results


def evaluation_commands(name):
    """The card's checks: `zoo evaluate` on the first lines of the test text, on all of it, and on the validation text."""
    test = f"zoo evaluate {name} --text-file {data_path('ptb', 'ptb.test.txt')}"
    return [[f"{test} --first {QUICK_CHECK_LINES}"], [test],
            [f"zoo evaluate {name} --text-file {data_path('ptb', 'ptb.valid.txt')}"]]


def model_card(config, model, metadata):
    """The card of a packaged model, from what `package` puts in its metadata.json."""
    results, history = metadata["perplexity"], metadata["history"]
    summary = training_summary(history)
    schedule = (f"the rate halved after every epoch that lowered the validation loss by no more than "
                f"{config.plateau_min_delta} nats/token" if config.constant_epochs is None
                else f"the rate x {config.decay} every epoch after the first {config.constant_epochs}")
    if config.weight_average:
        schedule += (f"; validated, kept and shipped: the moving average of the weights over the steps, "
                     f"a = {config.weight_average} a + {1 - config.weight_average:.4g} w after each")
    rows = "\n".join(f"| {split} | **{result['perplexity']:.2f}** | {result['nats']:.4f} | {result['tokens']:,} |"
                     for split, result in results.items())
    return render_card(
        "ptb_language_model", precision_of(model), metadata.get("provenance"), metadata.get("checks"), config=config, vocabulary_size=model.vocabulary_size,
        words=model.vocabulary_size - len(RESERVED),
        output_layer=output_layer_description(config), dropout=dropout_description(config),
        parameters=model.count_params(), rows=rows, zaremba=ZAREMBA_TEST_PERPLEXITY,
        optimizer="SGD" if config.optimizer == "sgd" else "Adam", schedule=schedule,
        best_perplexity=math.exp(float(summary["best"]["val_loss"])), **summary,
        perplexities=", ".join(f"{float(row['val_perplexity']):.1f}" for row in history),
    )


def output_layer_description(config):
    if not config.tie_embeddings:
        return "The output layer untied"
    projection = "" if config.units == config.embedding_dim else f" through a projection to {config.embedding_dim}"
    return f"The output layer tied to the embedding{projection} (Press & Wolf 2017, Inan et al. 2017)"


def dropout_description(config):
    rates = (config.embedding_dropout, config.dropout, config.output_dropout, config.word_dropout,
             config.weight_dropout)
    if not any(rates):
        return "no dropout"
    masks = "one mask per sequence" if config.variational_dropout else "a new mask every step"
    weights = (f", and {config.weight_dropout} of the recurrent kernels' weights (DropConnect, one mask per batch)"
               if config.weight_dropout else "")
    return (f"dropout {config.embedding_dropout} on the embeddings ({masks}), {config.dropout} between layers "
            f"(one mask per sequence), {config.output_dropout} before the softmax ({masks}), word types dropped "
            f"at {config.word_dropout}{weights}")


def main(argv=None):
    args = argument_parser(__doc__.split("\n")[0], CONFIGS, "wordlm-ptb-lstm", 480.0).parse_args(argv)
    run_recipe(args, CONFIGS, train, package)


if __name__ == "__main__":
    main()
