"""Penn Treebank as both references read it: Mikolov's three text files or the original's `ptb.pkl`.

Both reference implementations (`melodyguan/enas` and google-research `enas_lm`) read PTB the
same way (ENAS_PTB_SPEC.md section 4, ENAS_SPEC.md 9.2): a `process.py` turns Mikolov's three
text files into a `ptb.pkl` bundle of int32 id arrays. `read_ptb_text` / `save_ptb_pickle` are
that `process.py` (`data/ptb/process.py` is a thin command line around them); `load_ptb` reads
either form, or any corpus's three files (`text_corpus`), so the pickle is optional.
"""

from __future__ import annotations

import pathlib
import pickle

import numpy as np

from enas_tf2.data.text_corpus import SPLITS, TextCorpus, read_text_files
from enas_tf2.errors import DataError

#: The three splits, in the order of the pickled tuple.
PTB_SPLITS: tuple[str, ...] = SPLITS

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
#: Vocabulary size of Mikolov's PTB (9 999 words + `<eos>`); other corpora have their own.
PTB_VOCAB_SIZE = 10000

_HOW_TO_GET_PTB = (
    "Get Mikolov's Penn Treebank (ptb.train.txt, ptb.valid.txt, ptb.test.txt in data/ of "
    "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz) and pass "
    "--data_path=<the folder holding them>, or convert them once with "
    "`python data/ptb/process.py --data_path=<that folder> --output=ptb.pkl` and pass "
    "--data_path=ptb.pkl."
)


def _text_file_sets(folder: pathlib.Path) -> tuple[dict[str, pathlib.Path] | None, list[str]]:
    """Returns the first complete set of text files in `folder` (or None) and what each lacks."""
    problems = []
    for names in PTB_TEXT_NAMINGS:
        paths = {split: folder / name for split, name in zip(SPLITS, names)}
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


def read_ptb_text(data_dir: str | pathlib.Path) -> TextCorpus:
    """Reads the three PTB text files into ids, as the original `process.py`.

    Args:
        data_dir: see `find_ptb_text_files`.

    Raises:
        DataError: files missing or malformed, or a valid/test word not in the train vocabulary.
    """
    paths = find_ptb_text_files(data_dir)
    return read_text_files(paths, source=str(pathlib.Path(data_dir).expanduser()))


def save_ptb_pickle(data: TextCorpus, output_path: str | pathlib.Path) -> None:
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


def load_ptb_pickle(path: str | pathlib.Path) -> TextCorpus:
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
    for split, ids in zip(SPLITS, arrays):
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
    return TextCorpus(
        id_to_word=words,
        word_to_id={word: index for index, word in enumerate(words)},
        source=str(path),
        **splits,
    )


def load_ptb(data_path: str | pathlib.Path) -> TextCorpus:
    """Loads PTB from a pickle or from the text files (the `--data_path` of a PTB run).

    `data_path` may be:

    * a file: read as the pickle (the originals' `--data_path`, any file name);
    * `TRAIN,VALID,TEST`: three text files of any corpus (`text_corpus.read_text_files`);
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
    if "," in str(data_path):
        files = [part.strip() for part in str(data_path).split(",")]
        if len(files) != 3 or not all(files):
            raise DataError(f"--data_path={data_path} names {len(files)} files; a corpus given as files is "
                            "TRAIN,VALID,TEST (three paths separated by commas).")
        return read_text_files(dict(zip(SPLITS, files)))
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
