"""Recurrent layers: cells, the sequence loop, stacks, bidirectional wrappers, pooling."""

from zoo.layers.attention import Attention
from zoo.layers.attention_decoder import AttentionDecoder
from zoo.layers.bahdanau_attention import BahdanauAttention
from zoo.layers.bidirectional import Bidirectional
from zoo.layers.gru import GRU, GRUCell
from zoo.layers.lstm import LSTM, LSTMCell
from zoo.layers.luong_attention import LuongAttention
from zoo.layers.recurrent_cell import RecurrentCell
from zoo.layers.rnn import RNN
from zoo.layers.sequence_pooling import SequencePooling
from zoo.layers.simple_rnn import SimpleRNN, SimpleRNNCell
from zoo.layers.stacked import Stacked
from zoo.layers.word_character_encoder import WordCharacterEncoder

__all__ = [
    "RecurrentCell",
    "SimpleRNNCell",
    "LSTMCell",
    "GRUCell",
    "RNN",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Stacked",
    "Bidirectional",
    "SequencePooling",
    "Attention",
    "BahdanauAttention",
    "LuongAttention",
    "AttentionDecoder",
    "WordCharacterEncoder",
]
