"""Words split as the Penn / Sentiment Treebank splits them, then looked up in a fixed vocabulary."""

import keras

from zoo.text.word_tokenizer import WordTokenizer


@keras.saving.register_keras_serializable(package="zoo")
class TreebankTokenizer(WordTokenizer):
    """A `WordTokenizer` (lowercase) whose `split` reads plain text as the treebank does
    (`zoo.trees.tokenize`, in-graph): "It's not bad, isn't it?" -> it 's not bad , is n't it ?
    Text that is already tokenized that way splits the same (the rules are idempotent on it)."""

    def __init__(self, vocabulary, **kwargs):
        kwargs.pop("lowercase", None)
        super().__init__(vocabulary, lowercase=True, **kwargs)

    def split(self, strings):
        from zoo.trees import tokenize

        return tokenize(self._string_tensor(strings))
