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
import tensorflow as tf

from enas_tf2.data import ptb
from enas_tf2.errors import DataError

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
PROCESS_PY = REPO_ROOT / "data" / "ptb" / "process.py"
#: The shared real data, next to the repository (absent on most machines: that test skips).
SHARED_PTB = pathlib.Path(__file__).resolve().parents[2] / "shared/data/ptb"

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
    assert ptb.read_words(path) == ["b", "a", "<unk>", "<eos>", "N", "c", "a", "<eos>"]


def test_windows_line_ends_read_like_unix_ones(tmp_path):
    # Text mode reads with universal newlines, as the original under Python 3.
    path = tmp_path / "ptb.train.txt"
    path.write_bytes(b" b a <unk> \r\n N c a \r\n")
    assert ptb.read_words(path) == ["b", "a", "<unk>", "<eos>", "N", "c", "a", "<eos>"]


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


@pytest.mark.parametrize(
    "content, bad",
    [(" a  b \n", "''"), ("", "''"), (" a\tb \n", r"'a\\tb'")],
    ids=["double_space", "empty", "tab"],
)
def test_text_not_in_mikolov_format_raises(tmp_path, content, bad):
    path = tmp_path / "ptb.train.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=f"line 1, token .* is {bad}; expected Mikolov's format"):
        ptb.read_words(path)


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
    with pytest.raises(DataError, match="unknown PTB split 'dev'"):
        data.split("dev")


# ----------------------------------------------------------------------------- batchify


def test_batchify_drops_the_remainder_and_keeps_rows_contiguous():
    ids = np.arange(23)
    stream = ptb.batchify(ids, 4)
    assert stream.shape == (4, 5) and stream.dtype == np.int32
    np.testing.assert_array_equal(stream, np.arange(20).reshape(4, 5))
    assert ptb.batchify(ids, 1).shape == (1, 23)


def test_batchify_errors():
    with pytest.raises(DataError, match="batch_size must be a positive integer; got 0"):
        ptb.batchify(np.arange(10), 0)
    with pytest.raises(DataError, match="10 ids give 1 per row at batch_size=6"):
        ptb.batchify(np.arange(10), 6)
    with pytest.raises(DataError, match=r"1-D array; got shape \[2, 5\]"):
        ptb.batchify(np.zeros((2, 5), np.int32), 1)


@pytest.mark.parametrize(
    "num_ids, batch_size, bptt, expected",
    [
        # ENAS_PTB_SPEC.md section 4 table (train / valid / test sizes of the real data).
        (929589, 128, 35, 207), (929589, 64, 35, 414), (929589, 20, 35, 1327),
        (73760, 128, 35, 16), (73760, 64, 35, 32), (73760, 20, 35, 105), (73760, 1, 1, 73759),
        (82430, 128, 35, 18), (82430, 64, 35, 36), (82430, 20, 35, 117), (82430, 1, 1, 82429),
    ],
)
def test_num_windows_per_epoch_matches_the_spec_table(num_ids, batch_size, bptt, expected):
    assert ptb.num_windows_per_epoch(num_ids, batch_size, bptt) == expected


# ----------------------------------------------------------------------------- fixed windows


def test_fixed_windows_cover_the_stream_with_targets_shifted_by_one():
    stream = arange_stream(3, 23)  # (23 - 1) // 5 = 4 windows; columns 20..22 unused as input.
    windows = list(ptb.iter_windows(stream, 5))
    assert len(windows) == 4 == ptb.num_windows_per_epoch(stream.size, 3, 5)
    for index, (x, y) in enumerate(windows):
        assert x.shape == y.shape == (3, 5)
        np.testing.assert_array_equal(x, stream[:, 5 * index : 5 * index + 5])
        np.testing.assert_array_equal(y, x + 1)  # The next word of the same row.
    np.testing.assert_array_equal(np.concatenate([x for x, _ in windows], axis=1), stream[:, :20])


def test_fixed_windows_with_remainder_score_every_target_once():
    stream = arange_stream(2, 23)
    bounds = ptb.window_bounds(23, 5, include_remainder=True)
    assert bounds.tolist() == [[0, 5], [5, 5], [10, 5], [15, 5], [20, 2]]
    targets = np.concatenate([y for _, y in ptb.iter_windows(stream, 5, include_remainder=True)], 1)
    np.testing.assert_array_equal(targets, stream[:, 1:])
    # No remainder when the windows already end at the last target.
    assert ptb.window_bounds(21, 5, include_remainder=True).tolist() == [
        [0, 5], [5, 5], [10, 5], [15, 5]
    ]


def test_window_argument_errors():
    with pytest.raises(DataError, match="bptt must be a positive integer; got 0"):
        ptb.window_bounds(10, 0)
    with pytest.raises(DataError, match="no window of bptt=35"):
        ptb.window_bounds(20, 35)
    with pytest.raises(DataError, match="at least 2 columns"):
        ptb.window_bounds(1, 1)
    with pytest.raises(DataError, match="fixed-length windows only"):
        ptb.window_bounds(100, 5, random_len=True, include_remainder=True)
    with pytest.raises(DataError, match="seed must be a non-negative integer; got -1"):
        ptb.window_bounds(100, 5, random_len=True, seed=-1)
    with pytest.raises(DataError, match=r"integer \[batch, time\] array"):
        next(ptb.iter_windows(np.arange(10), 2))


def test_fixed_window_dataset_matches_the_numpy_windows():
    stream = arange_stream(3, 23)
    dataset = ptb.make_window_dataset(stream, 5)
    assert dataset.element_spec == (
        tf.TensorSpec([3, 5], tf.int32), tf.TensorSpec([3, 5], tf.int32)
    )
    got = [(x.numpy(), y.numpy()) for x, y in dataset]
    want = list(ptb.iter_windows(stream, 5))
    assert len(got) == len(want)
    for (gx, gy), (wx, wy) in zip(got, want):
        np.testing.assert_array_equal(gx, wx)
        np.testing.assert_array_equal(gy, wy)


# ----------------------------------------------------------------------------- random windows


def test_random_lengths_follow_the_enas_lm_distribution():
    rng = np.random.default_rng(0)
    lengths = np.array([ptb.sample_random_bptt(rng, 35) for _ in range(20000)])
    # Truncation at 2 std, cast toward zero: 25..44 (base 35) or 7..27 (base 17.5).
    assert lengths.min() >= 7 and lengths.max() == 44
    # Lengths below 25 only come from the short base (p = 0.05; 95 % of its mass is < 25).
    assert 0.035 < np.mean(lengths < 25) < 0.06
    assert abs(lengths.mean() - 33.6) < 0.3  # ENAS_PTB_SPEC.md 1.7: mean ~33.6.
    # Small bptt: the draw is raised to 1 instead of giving an empty / backward window.
    small = [ptb.sample_random_bptt(rng, 2) for _ in range(2000)]
    assert min(small) == 1 and max(small) <= 12


def test_random_windows_cover_the_stream_contiguously_until_the_epoch_end():
    batch_len = 3000
    for epoch in range(5):
        bounds = ptb.window_bounds(batch_len, 35, random_len=True, seed=7, epoch=epoch)
        starts, lengths = bounds[:, 0], bounds[:, 1]
        ends = starts + lengths
        assert starts[0] == 0
        # Each window starts where the previous one ended.
        np.testing.assert_array_equal(starts[1:], ends[:-1])
        assert np.all(lengths >= 1) and np.all(lengths <= 35 + 20)
        assert np.all(lengths[:-1] >= 7) and np.all(lengths[:-1] <= 44)
        # The epoch ends with the first window reaching batch_len - 3; targets stay in range.
        assert batch_len - 3 <= ends[-1] <= batch_len - 1
        assert np.all(ends[:-1] < batch_len - 3)

    stream = arange_stream(2, 400)
    windows = list(ptb.iter_windows(stream, 35, random_len=True, seed=3))
    inputs = np.concatenate([x for x, _ in windows], axis=1)
    np.testing.assert_array_equal(inputs, stream[:, : inputs.shape[1]])
    for x, y in windows:
        np.testing.assert_array_equal(y, x + 1)


def test_random_windows_are_reproducible_per_seed_and_epoch():
    def bounds(seed, epoch):
        return ptb.window_bounds(5000, 35, random_len=True, seed=seed, epoch=epoch)

    np.testing.assert_array_equal(bounds(1, 0), bounds(1, 0))
    assert not np.array_equal(bounds(1, 0), bounds(2, 0))
    assert not np.array_equal(bounds(1, 0), bounds(1, 1))


def test_random_window_count_per_epoch_is_near_the_nominal_count():
    # 64 rows of PTB train: ~432 real steps against 414 nominal (ENAS_PTB_SPEC.md 2.3).
    batch_len = 929589 // 64
    counts = [
        len(ptb.window_bounds(batch_len, 35, random_len=True, seed=0, epoch=e)) for e in range(5)
    ]
    assert ptb.num_windows_per_epoch(929589, 64, 35) == 414
    assert all(420 <= count <= 445 for count in counts)


def test_random_window_dataset_has_a_dynamic_time_axis():
    stream = arange_stream(4, 500)
    dataset = ptb.make_window_dataset(stream, 35, random_len=True, seed=5, epoch=2)
    assert dataset.element_spec == (
        tf.TensorSpec([4, None], tf.int32), tf.TensorSpec([4, None], tf.int32)
    )
    got = [(x.numpy(), y.numpy()) for x, y in dataset]
    want = list(ptb.iter_windows(stream, 35, random_len=True, seed=5, epoch=2))
    assert len(got) == len(want) and len({x.shape[1] for x, _ in got}) > 1
    for (gx, gy), (wx, wy) in zip(got, want):
        np.testing.assert_array_equal(gx, wx)
        np.testing.assert_array_equal(gy, wy)


# ----------------------------------------------------------------------------- eval protocol


def test_valid_dataset_is_batch_64_fixed_35_in_order():
    ids = np.arange(73760)
    dataset = ptb.make_valid_dataset(ids)
    assert dataset.element_spec[0].shape.as_list() == [64, 35]
    windows = list(dataset.as_numpy_iterator())
    assert len(windows) == 32  # Covers 32 * 35 * 64 = 71 680 targets (ENAS_PTB_SPEC.md 2.5).
    stream = ptb.batchify(ids, 64)
    np.testing.assert_array_equal(windows[0][0], stream[:, :35])
    np.testing.assert_array_equal(windows[-1][1], stream[:, 31 * 35 + 1 : 32 * 35 + 1])


def test_test_dataset_scores_every_target_of_the_split_once():
    ids = np.arange(100, 150)
    one_by_one = list(ptb.make_test_dataset(ids).as_numpy_iterator())
    assert len(one_by_one) == 49 and one_by_one[0][0].shape == (1, 1)
    chunked = ptb.make_test_dataset(ids, bptt=8)
    assert chunked.element_spec[0].shape.as_list() == [1, None]
    for windows in (one_by_one, list(chunked.as_numpy_iterator())):
        np.testing.assert_array_equal(np.concatenate([x for x, _ in windows], 1)[0], ids[:-1])
        np.testing.assert_array_equal(np.concatenate([y for _, y in windows], 1)[0], ids[1:])


# ----------------------------------------------------------------------------- real data


def test_real_ptb_matches_the_spec():
    if not all((SHARED_PTB / f"ptb.{split}.txt").is_file() for split in ptb.PTB_SPLITS):
        pytest.skip(f"the shared PTB text files are not at {SHARED_PTB} (no real-data check)")
    data = ptb.load_ptb(SHARED_PTB)
    assert data.vocab_size == ptb.PTB_VOCAB_SIZE
    assert [data.word_to_id[word] for word in ("<eos>", "<unk>", "N")] == [43, 44, 45]
    assert (data.train.size, data.valid.size, data.test.size) == (929589, 73760, 82430)
    assert data.train[-1] == data.valid[-1] == data.test[-1] == 43
    assert ptb.num_windows_per_epoch(data.train.size, 128, 35) == 207
    assert sum(1 for _ in ptb.make_valid_dataset(data.valid)) == 32


def test_random_reward_windows_are_shifted_pairs_at_uniform_starts():
    """The original's reward window (ENAS_SPEC.md 8.6): start in 0..batch_len-bptt-1, targets shifted."""
    stream = arange_stream(3, 20)
    dataset = ptb.make_random_window_dataset(stream, bptt=6, seed=4)
    starts = set()
    for x, y in dataset.take(200):
        x, y = x.numpy(), y.numpy()
        assert x.shape == y.shape == (3, 6)
        np.testing.assert_array_equal(y, x + 1)
        start = int(x[0, 0])
        assert 0 <= start <= 20 - 6 - 1
        np.testing.assert_array_equal(x, stream[:, start : start + 6])
        starts.add(start)
    assert starts == set(range(14))  # every start is reachable
    with pytest.raises(DataError, match="bptt=20"):
        ptb.make_random_window_dataset(stream, bptt=20)
