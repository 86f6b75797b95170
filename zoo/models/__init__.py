"""Models built from zoo layers."""

from zoo.models.classifier_ensemble import ClassifierEnsemble
from zoo.models.encoder_decoder import EncoderDecoder
from zoo.models.pixel_rnn import PixelRNN
from zoo.models.recurrent_language_model import RecurrentLanguageModel
from zoo.models.sequence_classifier import SequenceClassifier
from zoo.models.sequence_tagger import SequenceTagger
from zoo.models.tree_classifier import TreeClassifier
from zoo.models.tree_ensemble import TreeEnsemble

__all__ = ["RecurrentLanguageModel", "EncoderDecoder", "SequenceTagger", "SequenceClassifier", "ClassifierEnsemble", "TreeClassifier", "TreeEnsemble", "PixelRNN"]
