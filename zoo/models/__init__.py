"""Models built from zoo layers."""

from zoo.models.encoder_decoder import EncoderDecoder
from zoo.models.recurrent_language_model import RecurrentLanguageModel

__all__ = ["RecurrentLanguageModel", "EncoderDecoder"]
