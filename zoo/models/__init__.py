"""Models built from zoo layers."""

from zoo.models.recurrent_language_model import RecurrentLanguageModel

__all__ = ["RecurrentLanguageModel"]
