"""The `tf.Module`s that a SavedModel export serves: an image classifier and a language-model scorer.

Each wraps a trained fixed network and puts everything a client would otherwise
have to copy from this project into the graph: the image normalisation with
the training split's statistics and the class names, the PTB vocabulary (as an asset, with a
word -> id lookup) and the carried recurrent state. The exported functions run
the network in inference mode (no dropout, batch norm on its moving averages),
so a served model gives exactly what `model(x, training=False)` gives here.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

UNKNOWN_WORD = "<unk>"


def _metadata_function(metadata_json: str) -> tf.types.experimental.GenericFunction:
    """A no-argument function returning the export's metadata JSON (a serving signature)."""

    @tf.function(input_signature=[])
    def metadata():
        return {"metadata_json": tf.constant(metadata_json)}

    return metadata


class _Untracked:
    """Holds the Keras network out of the module's object graph.

    Tracked as a dependency of the exported `tf.Module`, a Keras 3 model's variables are saved as
    copies that are not the `tf.Variable`s the serving functions capture, and the TF1-style
    loaders (TensorFlow Serving, `saved_model_cli run`) then fail with "Could not find variable
    ..." (keras-team/keras#20095). The export tracks the variables its functions capture instead
    (`track_function_variables`), as `keras.export.ExportArchive` does.
    """

    def __init__(self, model: keras.Model):
        self.model = model


def track_function_variables(module: tf.Module, functions) -> int:
    """Makes the variables that `functions` (concrete functions) capture tracked dependencies of `module`.

    Returns their number. Call it before `tf.saved_model.save(module, ...)`.
    """
    variables, seen = [], set()
    for function in functions:
        for variable in function.variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                variables.append(variable)
    module.function_variables = variables
    return len(variables)


class ImageClassifier(tf.Module):
    """Raw images in, class probabilities and ids out.

    Images are `uint8 [N, H, W, C]` at the size the network was trained on (or float on the
    same 0..255 scale); the module applies `(x / 255 - mean) / std` with the statistics the
    network was trained with, as the training pipeline does.

    Args:
        model: the trained fixed network (`MacroNetwork` or `MicroNetwork`).
        mean: per-channel mean on the [0, 1] scale, `[C]`.
        std: per-channel std on the [0, 1] scale, `[C]`.
        image_shape: `(H, W, C)` of the served images.
        class_names: the class of each output, served as `class_names`.
        metadata_json: served by the `metadata` signature.
    """

    def __init__(self, model: keras.Model, mean: Sequence[float], std: Sequence[float],
                 image_shape: Sequence[int], class_names: Sequence[str], metadata_json: str):
        super().__init__(name="image_classifier")
        self._network = _Untracked(model)
        image_shape = tuple(int(d) for d in image_shape)
        channels = image_shape[-1]
        self._mean = np.asarray(mean, np.float32).reshape(1, 1, 1, channels)
        self._std = np.asarray(std, np.float32).reshape(1, 1, 1, channels)
        self.class_names = tf.constant(list(class_names))
        self.metadata = _metadata_function(metadata_json)
        self.classify_uint8 = tf.function(
            self._classify, input_signature=[tf.TensorSpec((None,) + image_shape, tf.uint8, name="images")]
        )
        self.classify_float = tf.function(
            self._classify, input_signature=[tf.TensorSpec((None,) + image_shape, tf.float32, name="images")]
        )

    def normalize(self, images: tf.Tensor) -> tf.Tensor:
        return (tf.cast(images, tf.float32) / 255.0 - self._mean) / self._std

    def _classify(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        logits = self._network.model(self.normalize(images), training=False)
        return {
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "class_ids": tf.argmax(logits, axis=-1, output_type=tf.int64),
        }

    def signatures(self) -> dict:
        return {
            "serving_default": self.classify_uint8.get_concrete_function(),
            "classify_float": self.classify_float.get_concrete_function(),
            "metadata": self.metadata.get_concrete_function(),
        }


class PtbScorer(tf.Module):
    """Next-word log-probabilities of token streams, with the recurrent state carried by the client.

    `score(token_ids [N, T], state [N, H])` returns `log_probs [N, T, V]` (position `t`
    predicts token `t + 1`) and the state after the window, so a long stream scored
    window by window equals scoring it in one piece. `initial_state(batch_size)` gives
    the zero state every evaluation starts from; `tokenize(words)` maps words to ids
    with the training vocabulary (unknown words to `<unk>`).

    Args:
        model: the trained `PtbNetwork`.
        vocab_path: the vocabulary file (one word per line, line `i` = id `i`); it is
            copied into the export as an asset.
        words: the same vocabulary, to find the id of `<unk>`.
        metadata_json: served by the `metadata` signature.
    """

    def __init__(self, model: keras.Model, vocab_path: str, words: Sequence[str], metadata_json: str):
        super().__init__(name="ptb_scorer")
        self._network = _Untracked(model)
        self.hidden_size = int(model.hidden_size)
        self.vocab_size = int(model.vocab_size)
        if len(words) != self.vocab_size:
            raise ValueError(f"The vocabulary has {len(words)} words but the network {self.vocab_size} outputs.")
        self.vocab_asset = tf.saved_model.Asset(vocab_path)
        unknown_id = list(words).index(UNKNOWN_WORD) if UNKNOWN_WORD in words else -1
        self.vocab_table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.vocab_asset,
                key_dtype=tf.string,
                key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
                value_dtype=tf.int64,
                value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
            ),
            default_value=unknown_id,
        )
        self.metadata = _metadata_function(metadata_json)
        hidden = self.hidden_size
        self.initial_state = tf.function(
            self._initial_state, input_signature=[tf.TensorSpec([], tf.int32, name="batch_size")]
        )
        self.score = tf.function(
            self._score,
            input_signature=[
                tf.TensorSpec([None, None], tf.int64, name="token_ids"),
                tf.TensorSpec([None, hidden], tf.float32, name="state"),
            ],
        )
        self.tokenize = tf.function(self._tokenize, input_signature=[tf.TensorSpec([None, None], tf.string, name="words")])

    def _initial_state(self, batch_size: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"state": tf.zeros(tf.stack([batch_size, self.hidden_size]), tf.float32)}

    def _score(self, token_ids: tf.Tensor, state: tf.Tensor) -> dict[str, tf.Tensor]:
        tf.debugging.assert_less(
            token_ids, tf.constant(self.vocab_size, tf.int64), message="token id outside the vocabulary"
        )
        tf.debugging.assert_non_negative(token_ids, message="negative token id")
        logits, new_state = self._network.model(tf.cast(token_ids, tf.int32), state, training=False)
        return {"log_probs": tf.nn.log_softmax(logits, axis=-1), "state": new_state}

    def _tokenize(self, words: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"token_ids": self.vocab_table.lookup(words)}

    def signatures(self) -> dict:
        return {
            "serving_default": self.score.get_concrete_function(),
            "initial_state": self.initial_state.get_concrete_function(),
            "tokenize": self.tokenize.get_concrete_function(),
            "metadata": self.metadata.get_concrete_function(),
        }
