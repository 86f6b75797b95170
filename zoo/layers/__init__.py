"""Recurrent layers: cells, the sequence loop, stacks, bidirectional wrappers, pooling, attention;
tree cells, the tree-level loop and the easy-first tree parser; the PixelRNN layers over images."""

from typing import NamedTuple

from zoo.layers.attention import Attention
from zoo.layers.attention_decoder import AttentionDecoder
from zoo.layers.bahdanau_attention import BahdanauAttention
from zoo.layers.bidirectional import Bidirectional
from zoo.layers.conv1d_lstm_cell import Conv1DLSTMCell
from zoo.layers.diagonal_bilstm import DiagonalBiLSTM
from zoo.layers.binary_tree_lstm_cell import BinaryTreeLSTMCell
from zoo.layers.child_sum_tree_lstm_cell import ChildSumTreeLSTMCell
from zoo.layers.gru import GRU, GRUCell
from zoo.layers.lstm import LSTM, LSTMCell
from zoo.layers.luong_attention import LuongAttention
from zoo.layers.masked_conv2d import MaskedConv2D
from zoo.layers.recurrent_cell import RecurrentCell
from zoo.layers.recursive_cell import RecursiveCell
from zoo.layers.rnn import RNN
from zoo.layers.row_lstm import RowLSTM
from zoo.layers.sequence_pooling import SequencePooling
from zoo.layers.simple_rnn import SimpleRNN, SimpleRNNCell
from zoo.layers.stacked import Stacked
from zoo.layers.tree_cell import TreeCell
from zoo.layers.tree_lstm_cell import TreeLSTMCell
from zoo.layers.tree_parser import TreeParser
from zoo.layers.tree_recurrence import TreeRecurrence, node_levels, tree_roots
from zoo.layers.word_character_encoder import WordCharacterEncoder


class Cell(NamedTuple):
    """What a config's `cell` name stands for: the sequence layer, its one-step cell, a title."""

    layer: type
    cell: type
    title: str


# The one cell-name table: every model config and recipe names its cell by these keys.
CELLS = {
    "rnn": Cell(SimpleRNN, SimpleRNNCell, "Elman RNN"),
    "gru": Cell(GRU, GRUCell, "GRU"),
    "lstm": Cell(LSTM, LSTMCell, "LSTM"),
}


def cell_named(name, caller):
    """The `Cell` of `name`, or a ValueError from `caller` listing the names."""
    if name not in CELLS:
        raise ValueError(f"{caller}: `cell` must be one of {sorted(CELLS)}, got {name!r}")
    return CELLS[name]

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
    "TreeCell",
    "TreeLSTMCell",
    "RecursiveCell",
    "BinaryTreeLSTMCell",
    "ChildSumTreeLSTMCell",
    "TreeRecurrence",
    "node_levels",
    "tree_roots",
    "TreeParser",
    "Conv1DLSTMCell",
    "RowLSTM",
    "DiagonalBiLSTM",
    "MaskedConv2D",
    "Cell",
    "CELLS",
    "cell_named",
]

