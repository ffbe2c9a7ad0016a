"""Tests of enas_tf2.data.ptb and data/ptb/process.py: text -> ids -> pickle, streams, windows.

Everything except the last test runs on tiny corpora written here in Mikolov's format (one
sentence per line, a leading and a trailing space), with the expected ids worked out by hand from
ENAS_PTB_SPEC.md section 4. The last test reads the real shared PTB files when they are present.
"""

from __future__ import annotations

import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

from enas_tf2.data import ptb, text_corpus, text_windows
from enas_tf2.errors import DataError

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PROCESS_PY = REPO_ROOT / "data" / "ptb" / "process.py"
#: The shared real data, next to the repository (absent on most machines: that test skips).
SHARED_PTB = pathlib.Path(__file__).resolve().parents[3] / "shared/data/ptb"

TRAIN_LINES = ("b a <unk>", "N c a")
VALID_LINES = ("a N", "c")
TEST_LINES = ("<unk> b",)
#: Sorted (Python str order) unique training tokens: '<' < 'N' < 'a', and '<eos>' < '<unk>'.
VOCAB = ("<eos>", "<unk>", "N", "a", "b", "c")
#: b a <unk> <eos> N c a <eos>
TRAIN_IDS = [4, 3, 1, 0, 2, 5, 3, 0]
#: a N <eos> c <eos>
VALID_IDS = [3, 2, 0, 5, 0]
#: <unk> b <eos>
TEST_IDS = [1, 4, 0]


def write_corpus(
    folder: pathlib.Path,
    names: tuple[str, str, str] = ptb.PTB_TEXT_NAMINGS[0],
    train: tuple[str, ...] = TRAIN_LINES,
    valid: tuple[str, ...] = VALID_LINES,
    test: tuple[str, ...] = TEST_LINES,
) -> pathlib.Path:
    """Writes three text files in Mikolov's format into `folder`; returns `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in zip(names, (train, valid, test)):
        (folder / name).write_text("".join(f" {line} \n" for line in lines), encoding="utf-8")
    return folder


def arange_stream(batch_size: int, batch_len: int) -> np.ndarray:
    """A `[B, T]` stream whose values are their own flat positions (easy coverage checks)."""
    return np.arange(batch_size * batch_len, dtype=np.int32).reshape(batch_size, batch_len)


# ----------------------------------------------------------------------------- text -> ids


def test_read_words_puts_one_eos_after_every_sentence(tmp_path):
    path = tmp_path / "ptb.train.txt"
    path.write_text(" b a <unk> \n N c a \n", encoding="utf-8")
    assert text_corpus.read_words(path) == ["b", "a", "<unk>", "<eos>", "N", "c", "a", "<eos>"]


def test_windows_line_ends_read_like_unix_ones(tmp_path):
    # Text mode reads with universal newlines, as the original under Python 3.
    path = tmp_path / "ptb.train.txt"
    path.write_bytes(b" b a <unk> \r\n N c a \r\n")
    assert text_corpus.read_words(path) == ["b", "a", "<unk>", "<eos>", "N", "c", "a", "<eos>"]


def test_text_ids_and_vocabulary_follow_the_spec(tmp_path):
    data = ptb.read_ptb_text(write_corpus(tmp_path / "ptb"))
    assert data.id_to_word == VOCAB
    assert data.word_to_id == {word: index for index, word in enumerate(VOCAB)}
    assert data.vocab_size == 6
    for split, expected in zip(ptb.PTB_SPLITS, (TRAIN_IDS, VALID_IDS, TEST_IDS)):
        ids = data.split(split)
        assert ids.dtype == np.int32 and ids.ndim == 1
        assert ids.tolist() == expected


@pytest.mark.parametrize("names", ptb.PTB_TEXT_NAMINGS, ids=lambda names: names[0])
def test_every_original_file_naming_is_read(tmp_path, names):
    data = ptb.load_ptb(write_corpus(tmp_path / "ptb", names=names))
    assert data.train.tolist() == TRAIN_IDS
    assert data.test.tolist() == TEST_IDS


def test_process_py_writes_the_original_pickle(tmp_path):
    folder = write_corpus(tmp_path / "ptb")
    output = tmp_path / "out" / "ptb.pkl"
    output.parent.mkdir()
    result = subprocess.run(
        [sys.executable, str(PROCESS_PY), f"--data_path={folder}", f"--output={output}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "vocab size: 6" in result.stderr and "train size: 8" in result.stderr

    raw = output.read_bytes()
    assert raw[:2] == b"\x80\x02"  # Pickle protocol 2, as the originals.
    bundle = pickle.loads(raw)
    assert isinstance(bundle, tuple) and len(bundle) == 5
    x_train, x_valid, x_test, word_to_id, id_to_word = bundle
    for array, expected in zip((x_train, x_valid, x_test), (TRAIN_IDS, VALID_IDS, TEST_IDS)):
        assert isinstance(array, np.ndarray) and array.dtype == np.int32 and array.ndim == 1
        assert array.tolist() == expected
    # Both dicts, in id order, as the original builds them.
    assert list(word_to_id.items()) == [(word, index) for index, word in enumerate(VOCAB)]
    assert list(id_to_word.items()) == list(enumerate(VOCAB))


def test_process_py_reports_a_missing_folder(tmp_path):
    result = subprocess.run(
        [sys.executable, str(PROCESS_PY), f"--data_path={tmp_path / 'nowhere'}",
         f"--output={tmp_path / 'ptb.pkl'}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "simple-examples.tgz" in result.stderr
    assert not (tmp_path / "ptb.pkl").exists()


def test_pickle_and_text_give_identical_arrays(tmp_path):
    text_dir = write_corpus(tmp_path / "text")
    from_text = ptb.load_ptb(text_dir)
    pkl_dir = tmp_path / "pkl"
    pkl_dir.mkdir()
    ptb.save_ptb_pickle(from_text, pkl_dir / ptb.PTB_PICKLE_NAME)
    # A file path, and a folder holding only ptb.pkl.
    for source in (pkl_dir / ptb.PTB_PICKLE_NAME, pkl_dir):
        from_pickle = ptb.load_ptb(source)
        for split in ptb.PTB_SPLITS:
            np.testing.assert_array_equal(from_pickle.split(split), from_text.split(split))
            assert from_pickle.split(split).dtype == np.int32
        assert from_pickle.id_to_word == from_text.id_to_word
        assert from_pickle.word_to_id == from_text.word_to_id
        assert from_pickle.source == str(pkl_dir / ptb.PTB_PICKLE_NAME)


def test_pickle_with_an_id_to_word_list_is_accepted(tmp_path):
    path = tmp_path / "list.pkl"
    arrays = [np.asarray(ids, np.int64) for ids in (TRAIN_IDS, VALID_IDS, TEST_IDS)]
    with open(path, "wb") as f:
        pickle.dump((*arrays, {w: i for i, w in enumerate(VOCAB)}, list(VOCAB)), f)
    data = ptb.load_ptb(path)
    assert data.id_to_word == VOCAB and data.valid.dtype == np.int32


# ----------------------------------------------------------------------------- errors


def test_missing_text_files_are_named(tmp_path):
    folder = tmp_path / "ptb"
    folder.mkdir()
    (folder / "ptb.train.txt").write_text(" a \n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        ptb.load_ptb(folder)
    message = str(error.value)
    assert "missing ptb.valid.txt, ptb.test.txt" in message
    assert "missing train.txt, valid.txt, test.txt" in message
    assert "no ptb.pkl" in message
    assert "simple-examples.tgz" in message and "python data/ptb/process.py" in message
    with pytest.raises(DataError, match="PTB text files not found.*missing ptb.valid.txt"):
        ptb.read_ptb_text(folder)


def test_missing_or_empty_data_path_raises(tmp_path):
    with pytest.raises(DataError, match="does not exist; expected a ptb.pkl file or a folder"):
        ptb.load_ptb(tmp_path / "nowhere")
    with pytest.raises(DataError, match="PTB folder .* does not exist.*process.py"):
        ptb.read_ptb_text(tmp_path / "nowhere")
    with pytest.raises(DataError, match="data_path is empty"):
        ptb.load_ptb("")


def test_word_outside_the_train_vocabulary_raises(tmp_path):
    folder = write_corpus(tmp_path / "ptb", valid=("a N", "c zebra a"))
    with pytest.raises(
        DataError,
        match=r"vocabulary mismatch between splits: word 'zebra' \(line 2, token 4\) of the "
        r"valid split is not in the train vocabulary",
    ):
        ptb.load_ptb(folder)


def test_unreadable_pickle_raises(tmp_path):
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(DataError, match="is not a readable pickle.*process.py"):
        ptb.load_ptb(garbage)

    wrong = tmp_path / "wrong.pkl"
    wrong.write_bytes(pickle.dumps({"train": [1, 2]}))
    with pytest.raises(DataError, match="holds <class 'dict'>; expected the tuple"):
        ptb.load_ptb(wrong)

    vocab = {w: i for i, w in enumerate(VOCAB)}
    out_of_range = tmp_path / "range.pkl"
    arrays = [np.asarray(ids, np.int32) for ids in (TRAIN_IDS, [3, 9], TEST_IDS)]
    out_of_range.write_bytes(pickle.dumps((*arrays, vocab, dict(enumerate(VOCAB)))))
    with pytest.raises(DataError, match=r"valid ids in \[3, 9\], outside the vocabulary 0..5"):
        ptb.load_ptb(out_of_range)

    inconsistent = tmp_path / "vocab.pkl"
    arrays = [np.asarray(ids, np.int32) for ids in (TRAIN_IDS, VALID_IDS, TEST_IDS)]
    inconsistent.write_bytes(pickle.dumps((*arrays, vocab, dict(enumerate(reversed(VOCAB))))))
    with pytest.raises(DataError, match="not inverse maps"):
        ptb.load_ptb(inconsistent)


def test_unknown_split_raises(tmp_path):
    data = ptb.read_ptb_text(write_corpus(tmp_path / "ptb"))
    with pytest.raises(DataError, match="unknown split 'dev'"):
        data.split("dev")


# ----------------------------------------------------------------------------- real data


def test_real_ptb_matches_the_spec():
    if not all((SHARED_PTB / f"ptb.{split}.txt").is_file() for split in ptb.PTB_SPLITS):
        pytest.skip(f"the shared PTB text files are not at {SHARED_PTB} (no real-data check)")
    data = ptb.load_ptb(SHARED_PTB)
    assert data.vocab_size == ptb.PTB_VOCAB_SIZE
    assert [data.word_to_id[word] for word in ("<eos>", "<unk>", "N")] == [43, 44, 45]
    assert (data.train.size, data.valid.size, data.test.size) == (929589, 73760, 82430)
    assert data.train[-1] == data.valid[-1] == data.test[-1] == 43
    assert text_windows.num_windows_per_epoch(data.train.size, 128, 35) == 207
    assert sum(1 for _ in text_windows.make_valid_dataset(data.valid)) == 32
