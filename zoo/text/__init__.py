"""Text layers: tokenizers that turn strings into the ids the language models read, and back."""

from zoo.text.char_tokenizer import BOS_ID, EOS_ID, PAD_ID, RESERVED, UNK_ID, CharTokenizer
from zoo.text.subword_tokenizer import SubwordTokenizer

__all__ = ["RESERVED", "PAD_ID", "UNK_ID", "BOS_ID", "EOS_ID", "CharTokenizer", "SubwordTokenizer"]
