"""Text corpora for language modelling: word files -> tokens -> a vocabulary -> int32 id arrays.

A corpus is three text files (train, valid, test), one sentence per line. As the original
`process.py` reads Penn Treebank (ENAS_PTB_SPEC.md 4, ENAS_SPEC.md 9.2), every sentence ends with
the token `<eos>` and the vocabulary is the sorted set of training tokens, its size whatever the
corpus has (10,000 for PTB). `ptb` knows PTB's file names and the original's pickle.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Mapping, Sequence

import numpy as np

from enas_tf2.errors import DataError

#: The three splits, in the order of the original's pickled tuple.
SPLITS: tuple[str, ...] = ("train", "valid", "test")
#: End-of-sentence token: every line of a text file ends with one.
EOS = "<eos>"


@dataclasses.dataclass(frozen=True, eq=False)
class TextCorpus:
    """A corpus's three splits as word ids, and its vocabulary (PTB's or any other).

    `eq=False` because field-wise `==` on NumPy arrays is ambiguous; instances compare by
    identity.

    Attributes:
        train: `int32 [N_train]` word ids (929 589 for PTB), one `<eos>` after every sentence.
        valid: `int32 [N_valid]` (73 760).
        test: `int32 [N_test]` (82 430).
        id_to_word: the vocabulary in id order (sorted training words; 10 000 for PTB).
        word_to_id: the inverse of `id_to_word`.
        source: where the data was read from, for logs.
    """

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    id_to_word: tuple[str, ...]
    word_to_id: dict[str, int]
    source: str = ""

    @property
    def vocab_size(self) -> int:
        """The number of word types."""
        return len(self.id_to_word)

    def split(self, name: str) -> np.ndarray:
        """Returns the ids of split `name` ("train", "valid" or "test").

        Raises:
            DataError: `name` is not a split.
        """
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}.")
        return getattr(self, name)


def read_words(path: str | pathlib.Path) -> list[str]:
    """Reads one text file into its tokens: each line's whitespace-separated words, then `<eos>`.

    On Mikolov's PTB files (tokens separated by single spaces, a space at both ends of each
    line) this is exactly the original `process.py`: strip the text, turn every newline into
    `<eos>`, split on spaces and append the last `<eos>`. Any whitespace separates tokens
    (tabs, repeated spaces, `\r\n` line ends), so other corpora read as their lines say, and no
    empty or whitespace-bearing token can become a vocabulary word.

    Raises:
        DataError: the file cannot be read or holds no token.
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read text file {str(path)!r}: {e}. Corpus files are UTF-8 text, one sentence "
                        "per line.") from e
    words = [word for line in text.strip().splitlines() for word in (*line.split(), EOS)]
    if not words:
        raise DataError(f"text file {str(path)!r} is empty; a corpus file holds one sentence per line.")
    return words


def build_vocabulary(train_words: Sequence[str]) -> tuple[str, ...]:
    """Returns the vocabulary in id order: the sorted unique training tokens (Python str order).

    As the original: ids follow sorted order, so `<eos>` = 43, `<unk>` = 44, `N` = 45 on PTB.
    """
    return tuple(sorted(set(train_words)))


def words_to_ids(
    words: Sequence[str], word_to_id: dict[str, int], split: str = "train"
) -> np.ndarray:
    """Maps tokens to an int32 id array; a token outside the vocabulary is an error.

    The original has no OOV mapping (PTB's `<unk>` is already in the text), so a word of
    valid/test that training never saw means the files do not belong together.

    Raises:
        DataError: "vocabulary mismatch between splits", naming the word, split and line.
    """
    try:
        return np.fromiter((word_to_id[word] for word in words), dtype=np.int32, count=len(words))
    except KeyError as e:
        word = e.args[0]
        index = list(words).index(word)
        line = list(words[:index]).count(EOS) + 1
        raise DataError(
            f"vocabulary mismatch between splits: word {word!r} (line {line}, token {index}) of "
            f"the {split} split is not in the train vocabulary. PTB's valid and test files use "
            "only training words (rare words are already <unk>); use the three files of one "
            "corpus, or map the words training never sees to <unk> in valid and test."
        ) from None


def read_text_files(paths: Mapping[str, str | pathlib.Path], source: str = "") -> TextCorpus:
    """Reads a corpus's three text files (`{"train": ..., "valid": ..., "test": ...}`) into ids.

    Raises:
        DataError: a file is missing, unreadable or empty, or a valid/test word is not in the
            train vocabulary.
    """
    for split in SPLITS:
        if split not in paths:
            raise DataError(f"a corpus needs a {split} file; got {sorted(paths)}.")
        if not pathlib.Path(paths[split]).is_file():
            raise DataError(f"the {split} file {str(paths[split])!r} does not exist.")
    train_words = read_words(paths["train"])
    id_to_word = build_vocabulary(train_words)
    word_to_id = {word: index for index, word in enumerate(id_to_word)}
    ids = {"train": words_to_ids(train_words, word_to_id, "train")}
    for split in SPLITS[1:]:
        ids[split] = words_to_ids(read_words(paths[split]), word_to_id, split)
    return TextCorpus(
        train=ids["train"], valid=ids["valid"], test=ids["test"], id_to_word=id_to_word, word_to_id=word_to_id,
        source=source or ", ".join(str(paths[split]) for split in SPLITS),
    )
