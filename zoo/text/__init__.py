"""Text layers: tokenizers that turn strings into the ids the language models read, and back."""

from zoo.text.char_tokenizer import CharTokenizer
from zoo.text.subword_tokenizer import SubwordTokenizer
from zoo.text.tokenizer import BOS_ID, EOS_ID, PAD_ID, RESERVED, UNK_ID, Tokenizer, unknown_word_dropout
from zoo.text.treebank_tokenizer import TreebankTokenizer
from zoo.text.word_tokenizer import WordTokenizer

__all__ = ["RESERVED", "PAD_ID", "UNK_ID", "BOS_ID", "EOS_ID", "Tokenizer", "CharTokenizer", "SubwordTokenizer",
           "WordTokenizer", "TreebankTokenizer", "unknown_word_dropout"]
