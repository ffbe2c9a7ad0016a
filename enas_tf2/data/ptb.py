"""Penn Treebank for ENAS: text or `ptb.pkl` -> word ids -> `[batch, time]` streams -> BPTT windows.

Both reference implementations (`melodyguan/enas` and google-research `enas_lm`) read PTB the
same way (ENAS_PTB_SPEC.md section 4, ENAS_SPEC.md 9.2): a `process.py` turns Mikolov's three
text files into a `ptb.pkl` bundle of int32 id arrays, the training code reshapes a split
row-contiguously into `[batch, time]` and walks along the time axis in BPTT windows (fixed
length, or enas_lm's random length, ENAS_PTB_SPEC.md 1.7). This module reproduces each step:

* `read_ptb_text` / `save_ptb_pickle` are the original `process.py` (`data/ptb/process.py` is a
  thin command line around them); `load_ptb` reads either form, so the pickle is optional;
* `batchify`, `window_bounds`, `iter_windows` and `make_window_dataset` are `input_producer`;
* `make_valid_dataset` / `make_test_dataset` are the data side of the evaluation protocol
  (ENAS_PTB_SPEC.md 2.5).

Everything except the `make_*_dataset` builders is NumPy only; TensorFlow is imported inside
those builders, so converting the data (`data/ptb/process.py`) does not pay for loading it.

Window randomness is a NumPy generator seeded with `(seed, epoch)`: an epoch's windows depend only
on those two numbers, so a resumed run sees exactly the windows it would have seen.
"""

from __future__ import annotations

import dataclasses
import pathlib
import pickle
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from enas_tf2.errors import DataError

if TYPE_CHECKING:
    import tensorflow as tf

#: The three splits, in the order of the pickled tuple.
PTB_SPLITS: tuple[str, ...] = ("train", "valid", "test")

#: Accepted text-file names, first complete set wins: Mikolov's (`simple-examples/data`), the
#: names enas_lm's `process.py` reads, and those of `melodyguan/enas` (`data/ptb/`).
PTB_TEXT_NAMINGS: tuple[tuple[str, str, str], ...] = (
    ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"),
    ("train.txt", "valid.txt", "test.txt"),
    ("train", "valid", "test"),
)

#: The pickle both originals write and read as `--data_path`.
PTB_PICKLE_NAME = "ptb.pkl"
#: Both originals pickle with protocol 2 (readable by Python 2 and 3).
PTB_PICKLE_PROTOCOL = 2

#: End-of-sentence token: every newline of a text file becomes one.
EOS = "<eos>"
#: Vocabulary size of Mikolov's PTB (9 999 words + `<eos>`); both models hard-code it.
PTB_VOCAB_SIZE = 10000

#: enas_lm's random BPTT length (ENAS_PTB_SPEC.md 1.7): base = bptt with this probability,
#: else bptt / 2;
RANDOM_BPTT_FULL_PROB = 0.95
#: then a normal around base with this standard deviation,
RANDOM_BPTT_STDDEV = 5.0
#: truncated at this many standard deviations (TF's `truncated_normal` re-draws beyond 2);
RANDOM_BPTT_TRUNCATION = 2.0
#: cast toward zero and capped at bptt + this (`seq_len <= num_steps + 20`).
RANDOM_BPTT_MAX_EXTRA = 20
#: An epoch of random windows ends once a window reaches `batch_len - 3`.
RANDOM_EPOCH_END_MARGIN = 3

#: Evaluation protocol of enas_lm `fixed.py` (ENAS_PTB_SPEC.md 2.5): valid batch 64, T 35,
#: state carried over the pass; test batch 1, T 1, state carried over the whole split.
VALID_BATCH_SIZE = 64
VALID_BPTT = 35
TEST_BATCH_SIZE = 1
TEST_BPTT = 1

_HOW_TO_GET_PTB = (
    "Get Mikolov's Penn Treebank (ptb.train.txt, ptb.valid.txt, ptb.test.txt in data/ of "
    "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz) and pass "
    "--data_path=<the folder holding them>, or convert them once with "
    "`python data/ptb/process.py --data_path=<that folder> --output=ptb.pkl` and pass "
    "--data_path=ptb.pkl."
)


@dataclasses.dataclass(frozen=True, eq=False)
class PtbData:
    """The three PTB splits as word ids, and the vocabulary.

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
        if name not in PTB_SPLITS:
            raise DataError(f"unknown PTB split {name!r}; expected one of {', '.join(PTB_SPLITS)}.")
        return getattr(self, name)


# --------------------------------------------------------------------------------------
# Text -> ids (the original process.py)
# --------------------------------------------------------------------------------------


def _text_file_sets(folder: pathlib.Path) -> tuple[dict[str, pathlib.Path] | None, list[str]]:
    """Returns the first complete set of text files in `folder` (or None) and what each lacks."""
    problems = []
    for names in PTB_TEXT_NAMINGS:
        paths = {split: folder / name for split, name in zip(PTB_SPLITS, names)}
        missing = [path.name for path in paths.values() if not path.is_file()]
        if not missing:
            return paths, []
        problems.append(f"{' / '.join(names)} (missing {', '.join(missing)})")
    return None, problems


def find_ptb_text_files(data_dir: str | pathlib.Path) -> dict[str, pathlib.Path]:
    """Returns the train/valid/test text files of a PTB folder.

    Args:
        data_dir: a folder holding the three files under one of the `PTB_TEXT_NAMINGS`.

    Returns:
        `{"train": path, "valid": path, "test": path}`.

    Raises:
        DataError: the folder does not exist or holds no complete set; the message names the
            files missing under each naming and how to get PTB.
    """
    folder = pathlib.Path(data_dir).expanduser()
    if not folder.is_dir():
        raise DataError(f"PTB folder {str(folder)!r} does not exist. {_HOW_TO_GET_PTB}")
    paths, problems = _text_file_sets(folder)
    if paths is None:
        raise DataError(
            f"PTB text files not found in {str(folder)!r}. Looked for: {'; '.join(problems)}. "
            f"{_HOW_TO_GET_PTB}"
        )
    return paths


def read_words(path: str | pathlib.Path) -> list[str]:
    """Reads one PTB text file into its token list, exactly as the original `process.py`.

    Strip the whole text, turn every newline into the token `<eos>`, split on single spaces and
    append one final `<eos>` (the one the strip removed): one `<eos>` after every sentence.

    The original would also return empty or whitespace-bearing tokens for text that is not in
    Mikolov's format (double spaces, tabs, `\\r\\n` line ends, an empty file); those are rejected
    here instead, because they would silently become vocabulary words.

    Raises:
        DataError: the file cannot be read, or is not in Mikolov's format (the message names the
            file, line and token).
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read PTB text file {str(path)!r}: {e}. {_HOW_TO_GET_PTB}") from e
    words = text.strip().replace("\n", EOS).split(" ")
    words.append(EOS)
    # Checked per word type, not per token: 10 000 checks instead of 900 000.
    bad = [word for word in set(words) if not word or word != "".join(word.split())]
    if bad:
        index = min(words.index(word) for word in bad)
        line = words[:index].count(EOS) + 1
        raise DataError(
            f"PTB text file {str(path)!r}, line {line}, token {index} is {words[index]!r}; "
            "expected Mikolov's format: one sentence per line, tokens separated by single "
            "spaces, '\\n' line ends, a non-empty file. "
            f"{_HOW_TO_GET_PTB}"
        )
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
            f"PTB copy. {_HOW_TO_GET_PTB}"
        ) from None


def read_ptb_text(data_dir: str | pathlib.Path) -> PtbData:
    """Reads the three PTB text files into ids, as the original `process.py`.

    Args:
        data_dir: see `find_ptb_text_files`.

    Raises:
        DataError: files missing or malformed, or a valid/test word not in the train vocabulary.
    """
    paths = find_ptb_text_files(data_dir)
    train_words = read_words(paths["train"])
    id_to_word = build_vocabulary(train_words)
    word_to_id = {word: index for index, word in enumerate(id_to_word)}
    ids = {"train": words_to_ids(train_words, word_to_id, "train")}
    for split in PTB_SPLITS[1:]:
        ids[split] = words_to_ids(read_words(paths[split]), word_to_id, split)
    return PtbData(
        train=ids["train"],
        valid=ids["valid"],
        test=ids["test"],
        id_to_word=id_to_word,
        word_to_id=word_to_id,
        source=str(pathlib.Path(data_dir).expanduser()),
    )


def save_ptb_pickle(data: PtbData, output_path: str | pathlib.Path) -> None:
    """Writes the `ptb.pkl` the originals' `--data_path` reads.

    Content, exactly as the original `process.py`: pickle protocol 2 of the tuple
    `(x_train, x_valid, x_test, word_to_id, id_to_word)` with 1-D int32 arrays, `word_to_id` a
    dict word -> id in id order and `id_to_word` a dict id -> word (not a list).

    Raises:
        DataError: the file cannot be written.
    """
    payload = (
        np.asarray(data.train, dtype=np.int32),
        np.asarray(data.valid, dtype=np.int32),
        np.asarray(data.test, dtype=np.int32),
        {word: index for index, word in enumerate(data.id_to_word)},
        dict(enumerate(data.id_to_word)),
    )
    path = pathlib.Path(output_path).expanduser()
    try:
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=PTB_PICKLE_PROTOCOL)
    except OSError as e:
        raise DataError(
            f"cannot write the PTB pickle {str(path)!r}: {e}. Pass --output=<a writable file>."
        ) from e


def _pickle_error(path: pathlib.Path, problem: str) -> DataError:
    """Returns the error for a pickle that is not the original's PTB bundle."""
    return DataError(
        f"PTB pickle {str(path)!r} {problem}; expected the tuple (x_train, x_valid, x_test, "
        "word_to_id, id_to_word) that data/ptb/process.py writes. Regenerate it from the text "
        f"files, or pass the folder holding them as --data_path. {_HOW_TO_GET_PTB}"
    )


def load_ptb_pickle(path: str | pathlib.Path) -> PtbData:
    """Reads a `ptb.pkl` written by `save_ptb_pickle` or by either original `process.py`.

    `encoding="latin1"` also reads `melodyguan/enas`'s Python-2 pickle (its NumPy arrays and
    byte-string words). Pickle executes code from the file: only read data you trust (as the
    original).

    Raises:
        DataError: the file is unreadable, not a pickle, or not a consistent PTB bundle (wrong
            structure, vocabulary not a bijection onto 0..V-1, ids out of range).
    """
    path = pathlib.Path(path).expanduser()
    try:
        with open(path, "rb") as f:
            bundle = pickle.load(f, encoding="latin1")
    except OSError as e:
        raise DataError(f"cannot read PTB pickle {str(path)!r}: {e}. {_HOW_TO_GET_PTB}") from e
    except Exception as e:  # pylint: disable=broad-except
        # Unpickling arbitrary bytes can raise almost any exception type.
        raise _pickle_error(path, f"is not a readable pickle ({type(e).__name__}: {e})") from e

    if not isinstance(bundle, (tuple, list)) or len(bundle) != 5:
        found = f"a {len(bundle)}-tuple" if isinstance(bundle, (tuple, list)) else type(bundle)
        raise _pickle_error(path, f"holds {found}")
    *arrays, word_to_id, id_to_word = bundle
    if not isinstance(word_to_id, dict) or not isinstance(id_to_word, (dict, list, tuple)):
        raise _pickle_error(path, "has no word_to_id dict / id_to_word dict")
    vocab_size = len(word_to_id)
    try:
        words = tuple(str(id_to_word[index]) for index in range(vocab_size))
    except (KeyError, IndexError):
        words = ()
    if len(id_to_word) != vocab_size or any(word_to_id.get(w) != i for i, w in enumerate(words)):
        raise _pickle_error(
            path, "has word_to_id and id_to_word that are not inverse maps over ids 0..V-1"
        )
    splits = {}
    for split, ids in zip(PTB_SPLITS, arrays):
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise _pickle_error(path, f"has a {split} split of {ids.dtype} {list(ids.shape)}")
        if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
            raise _pickle_error(
                path,
                f"has {split} ids in [{ids.min()}, {ids.max()}], outside the vocabulary "
                f"0..{vocab_size - 1}",
            )
        splits[split] = ids.astype(np.int32)
    return PtbData(
        id_to_word=words,
        word_to_id={word: index for index, word in enumerate(words)},
        source=str(path),
        **splits,
    )


def load_ptb(data_path: str | pathlib.Path) -> PtbData:
    """Loads PTB from a pickle or from the text files (the `--data_path` of a PTB run).

    `data_path` may be:

    * a file: read as the pickle (the originals' `--data_path`, any file name);
    * a folder with the three text files (see `PTB_TEXT_NAMINGS`): read as text, like
      `process.py` (about a second; both forms give identical arrays);
    * a folder without them but with `ptb.pkl`: read that pickle. Only this exact name is looked
      for, so a folder of several pickles is never ambiguous.

    Raises:
        DataError: `data_path` is empty or missing, holds neither form (the message lists what is
            missing and how to get PTB), or the data is malformed (see `read_ptb_text`,
            `load_ptb_pickle`).
    """
    if not str(data_path):
        raise DataError(f"PTB data_path is empty. {_HOW_TO_GET_PTB}")
    path = pathlib.Path(data_path).expanduser()
    if path.is_file():
        return load_ptb_pickle(path)
    if not path.is_dir():
        raise DataError(
            f"PTB data_path {str(path)!r} does not exist; expected a {PTB_PICKLE_NAME} file or a "
            f"folder with the text files. {_HOW_TO_GET_PTB}"
        )
    paths, problems = _text_file_sets(path)
    if paths is not None:
        return read_ptb_text(path)
    if (path / PTB_PICKLE_NAME).is_file():
        return load_ptb_pickle(path / PTB_PICKLE_NAME)
    raise DataError(
        f"PTB data not found in {str(path)!r}: no {PTB_PICKLE_NAME} and no complete set of text "
        f"files. Looked for: {'; '.join(problems)}. {_HOW_TO_GET_PTB}"
    )


# --------------------------------------------------------------------------------------
# [batch, time] streams and BPTT windows (the original input_producer)
# --------------------------------------------------------------------------------------


def _check_positive(name: str, value: int) -> int:
    """Returns `value` as an int, or raises unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DataError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def batchify(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Reshapes a split into `[batch_size, N // batch_size]` rows, as the original.

    The first `batch_size * (N // batch_size)` ids are kept (the remainder is dropped) and
    reshaped row-major, so row b is one contiguous stretch of the corpus and a state carried
    along the time axis sees running text.

    Args:
        ids: `int [N]` word ids.
        batch_size: rows B.

    Returns:
        `int32 [B, N // B]`.

    Raises:
        DataError: `ids` is not 1-D, `batch_size` is not positive, or a row would hold fewer than
            2 ids (no input/target pair).
    """
    batch_size = _check_positive("batch_size", batch_size)
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise DataError(f"PTB ids must be a 1-D array; got shape {list(ids.shape)}.")
    batch_len = ids.shape[0] // batch_size
    if batch_len < 2:
        raise DataError(
            f"{ids.shape[0]} ids give {batch_len} per row at batch_size={batch_size}; each row "
            "needs at least 2 (an input and its target). Use a smaller batch size or more data."
        )
    return ids[: batch_size * batch_len].reshape(batch_size, batch_len).astype(np.int32)


def num_windows_per_epoch(num_ids: int, batch_size: int, bptt: int) -> int:
    """Returns the original's nominal windows per epoch, `((N // B) - 1) // bptt`.

    This is the number of fixed-length windows of a pass, and the "batches per epoch" both
    originals use for the total step count and epoch numbering even with random lengths
    (ENAS_PTB_SPEC.md section 4 table: 207 for PTB train at B = 128, T = 35). The real number of
    random-length windows in an epoch is `len(window_bounds(..., random_len=True))`.
    """
    batch_size = _check_positive("batch_size", batch_size)
    bptt = _check_positive("bptt", bptt)
    return max((num_ids // batch_size - 1) // bptt, 0)


def sample_random_bptt(rng: np.random.Generator, bptt: int) -> int:
    """Draws one enas_lm window length before the caps (ENAS_PTB_SPEC.md 1.7).

    `base = bptt` with probability 0.95, else `bptt / 2`; then a normal of mean `base` and
    standard deviation 5, re-drawn beyond 2 standard deviations (TF's `truncated_normal`), cast
    toward zero: lengths 25..44 or 7..27 for bptt = 35. For bptt < 22 the draw can reach 0 or
    below, where the original's window would be empty or run backwards; it is raised to 1.
    """
    base = float(bptt) if rng.random() < RANDOM_BPTT_FULL_PROB else bptt / 2.0
    while True:
        z = rng.standard_normal()
        if abs(z) <= RANDOM_BPTT_TRUNCATION:
            break
    return max(int(base + RANDOM_BPTT_STDDEV * z), 1)


def window_bounds(
    batch_len: int,
    bptt: int,
    random_len: bool = False,
    seed: int = 0,
    epoch: int = 0,
    include_remainder: bool = False,
) -> np.ndarray:
    """Returns one epoch's windows over a `[B, batch_len]` stream as `(start, length)` rows.

    Window `(s, n)` has inputs `stream[:, s:s+n]` and targets `stream[:, s+1:s+n+1]`.

    * Fixed (`random_len=False`): `(batch_len - 1) // bptt` windows `(i * bptt, bptt)`, in
      order. `include_remainder` adds one shorter last window so that every target column
      `1..batch_len-1` is scored exactly once (the full-pass test protocol).
    * Random (enas_lm `input_producer(random_len=True)`, ENAS_PTB_SPEC.md 1.7): from start 0,
      each length is `sample_random_bptt`, capped at `bptt + 20` and at
      `batch_len - start - 1`; the next window starts where this one ends; the epoch ends with
      the first window whose end reaches `batch_len - 3` (so the last <= 3 columns of each row
      are never inputs). The generator is seeded with `(seed, epoch)`: the original draws from
      one stream over all epochs, which has the same distribution.

    Args:
        batch_len: columns of the stream, `N // B`.
        bptt: the (nominal) window length T.
        random_len: enas_lm's random lengths.
        seed: non-negative seed of the random lengths.
        epoch: non-negative epoch number, mixed into the seed.
        include_remainder: fixed windows only, see above.

    Returns:
        `int64 [num_windows, 2]`.

    Raises:
        DataError: bad arguments (non-positive sizes, negative seed/epoch, `include_remainder`
            with `random_len`), or `batch_len < 2`.
    """
    bptt = _check_positive("bptt", bptt)
    batch_len = _check_positive("batch_len", batch_len)
    if batch_len < 2:
        raise DataError(f"a stream needs at least 2 columns for one window; got {batch_len}.")
    if not random_len:
        num_windows = (batch_len - 1) // bptt
        bounds = [(index * bptt, bptt) for index in range(num_windows)]
        covered = num_windows * bptt
        if include_remainder and covered < batch_len - 1:
            bounds.append((covered, batch_len - 1 - covered))
        if not bounds:
            raise DataError(
                f"a stream of {batch_len} columns has no window of bptt={bptt} (a window needs "
                f"bptt + 1 columns); use a smaller bptt or batch size."
            )
        return np.asarray(bounds, dtype=np.int64)
    if include_remainder:
        raise DataError("include_remainder applies to fixed-length windows only.")
    for name, value in (("seed", seed), ("epoch", epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise DataError(f"{name} must be a non-negative integer; got {value!r}.")
    rng = np.random.default_rng([int(seed), int(epoch)])
    bounds, start = [], 0
    while True:
        length = min(
            sample_random_bptt(rng, bptt), bptt + RANDOM_BPTT_MAX_EXTRA, batch_len - start - 1
        )
        bounds.append((start, length))
        start += length
        if start >= batch_len - RANDOM_EPOCH_END_MARGIN:
            return np.asarray(bounds, dtype=np.int64)


def _check_stream(stream: np.ndarray) -> np.ndarray:
    """Returns `stream` as an int32 `[B, T]` array, or raises."""
    stream = np.asarray(stream)
    if stream.ndim != 2 or not np.issubdtype(stream.dtype, np.integer) or stream.shape[1] < 2:
        raise DataError(
            f"a PTB stream must be an integer [batch, time] array with time >= 2 (see batchify); "
            f"got {stream.dtype} {list(stream.shape)}."
        )
    return stream.astype(np.int32, copy=False)


def iter_windows(
    stream: np.ndarray,
    bptt: int,
    random_len: bool = False,
    seed: int = 0,
    epoch: int = 0,
    include_remainder: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields one epoch of `(x, y)` windows of a `[B, batch_len]` stream, in order.

    `x = stream[:, s:s+n]`, `y = stream[:, s+1:s+n+1]` (the next word of each input) for every
    `(s, n)` of `window_bounds` (same arguments). The arrays are views of `stream`.

    Raises:
        DataError: as `window_bounds`, or `stream` is not an integer `[B, T >= 2]` array.
    """
    stream = _check_stream(stream)
    for start, length in window_bounds(
        stream.shape[1], bptt, random_len, seed, epoch, include_remainder
    ):
        yield stream[:, start : start + length], stream[:, start + 1 : start + length + 1]


def make_window_dataset(
    stream: np.ndarray,
    bptt: int,
    random_len: bool = False,
    seed: int = 0,
    epoch: int = 0,
    include_remainder: bool = False,
) -> tf.data.Dataset:
    """Returns one epoch of `iter_windows` as a `tf.data.Dataset` of `(x, y)`.

    The window bounds are computed up front (they do not depend on the data), then each window
    is a slice of the stream held as one constant, so the pipeline is pure TensorFlow and
    deterministic. Call it once per epoch with the epoch number (or `.repeat()` fixed windows
    for an endless in-order queue, as enas_lm's reward windows).

    Element spec: `(int32 [B, None], int32 [B, None])` when the length varies (`random_len`,
    or a shorter remainder window); `[B, bptt]` for fixed windows, which fits a train step
    traced with a `[B, None]` input signature too.

    Raises:
        DataError: as `iter_windows`.
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    stream = _check_stream(stream)
    bounds = window_bounds(stream.shape[1], bptt, random_len, seed, epoch, include_remainder)
    varying = random_len or bool(bounds.size and bounds[-1, 1] != bptt)
    time_dim = None if varying else bptt
    data = tf.constant(stream, dtype=tf.int32)
    batch_size = stream.shape[0]

    def slice_window(start: tf.Tensor, length: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = data[:, start : start + length]
        y = data[:, start + 1 : start + length + 1]
        x.set_shape([batch_size, time_dim])
        y.set_shape([batch_size, time_dim])
        return x, y

    bounds = bounds.astype(np.int32)
    return tf.data.Dataset.from_tensor_slices((bounds[:, 0], bounds[:, 1])).map(slice_window)


def make_valid_dataset(
    ids: np.ndarray, batch_size: int = VALID_BATCH_SIZE, bptt: int = VALID_BPTT
) -> tf.data.Dataset:
    """Returns the validation pass of enas_lm `fixed.py` (ENAS_PTB_SPEC.md 2.5): fixed windows.

    Batch 64, T 35, in order, the remainder dropped: 32 windows covering 71 680 of PTB's
    73 759 valid targets. The caller zeroes the state before the pass, carries it across the
    windows and reports exp(mean of the window-mean cross-entropies).

    Raises:
        DataError: as `batchify` / `make_window_dataset`.
    """
    return make_window_dataset(batchify(ids, batch_size), bptt)


def make_test_dataset(ids: np.ndarray, bptt: int = TEST_BPTT) -> tf.data.Dataset:
    """Returns the test pass (ENAS_PTB_SPEC.md 2.5): batch 1 over the whole split.

    Every one of the `N - 1` targets is scored exactly once (82 429 for PTB test). The original
    steps one token at a time (`bptt=1`); with the state carried and no dropout a longer `bptt`
    computes exactly the same per-token losses in far fewer steps, so a caller may pass one
    (the last window is then shorter). The caller reports exp(mean per-token cross-entropy).

    Raises:
        DataError: as `batchify` / `make_window_dataset`.
    """
    return make_window_dataset(batchify(ids, TEST_BATCH_SIZE), bptt, include_remainder=True)


def make_random_window_dataset(stream: np.ndarray, bptt: int, seed: int | None = None) -> tf.data.Dataset:
    """Returns an endless dataset of `(x, y)` windows at uniformly random starts.

    The original's controller reward window (ENAS_SPEC.md 8.6): start `i ~ U{0, ..., batch_len -
    bptt - 1}`, inputs `stream[:, i:i+bptt]`, targets shifted by one; no state carry.

    Raises:
        DataError: the stream is too short for one window, or as `_check_stream`.
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    stream = _check_stream(stream)
    bptt = _check_positive("bptt", bptt)
    batch_size, batch_len = stream.shape
    num_starts = batch_len - bptt
    if num_starts < 1:
        raise DataError(
            f"a stream of {batch_len} columns has no window of bptt={bptt} (a window needs bptt + 1 columns)."
        )
    data = tf.constant(stream, dtype=tf.int32)

    def slice_window(value: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        start = tf.cast(value % num_starts, tf.int32)
        x = tf.ensure_shape(data[:, start : start + bptt], [batch_size, bptt])
        y = tf.ensure_shape(data[:, start + 1 : start + bptt + 1], [batch_size, bptt])
        return x, y

    return tf.data.Dataset.random(seed=seed).map(slice_window)
