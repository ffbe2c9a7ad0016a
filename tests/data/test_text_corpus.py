"""Any corpus: whitespace-separated tokens per line, `<eos>` per line, its own vocabulary, three files."""

from __future__ import annotations

import pytest

from enas_tf2.data import ptb, text_corpus
from enas_tf2.errors import DataError


def test_any_whitespace_separates_tokens_and_every_line_ends_with_eos(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("Hello\tworld  again\r\n\nbye\n\n", encoding="utf-8")
    assert text_corpus.read_words(path) == ["Hello", "world", "again", "<eos>", "<eos>", "bye", "<eos>"]


def test_mikolov_format_reads_exactly_as_the_original_process_py(tmp_path):
    text = " b a <unk> \n N c a \n"
    path = tmp_path / "ptb.train.txt"
    path.write_text(text, encoding="utf-8")
    original = text.strip().replace("\n", "<eos>").split(" ") + ["<eos>"]
    assert text_corpus.read_words(path) == original


def test_empty_or_unreadable_file_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty.txt.*is empty"):
        text_corpus.read_words(empty)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="cannot read text file"):
        text_corpus.read_words(binary)


def test_three_files_of_any_corpus_give_its_own_vocabulary(tmp_path):
    files = {}
    for split, text in (("train", "the cat sat\nthe dog ran\n"), ("valid", "the cat ran\n"), ("test", "a dog\n")):
        files[split] = tmp_path / f"my_{split}.text"
        files[split].write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match="word 'a' .* test split is not in the train vocabulary"):
        ptb.load_ptb(",".join(str(files[s]) for s in ("train", "valid", "test")))
    files["test"].write_text("the dog sat\n", encoding="utf-8")
    corpus = ptb.load_ptb(",".join(str(files[s]) for s in ("train", "valid", "test")))
    assert corpus.id_to_word == ("<eos>", "cat", "dog", "ran", "sat", "the")
    assert corpus.vocab_size == 6
    assert [corpus.id_to_word[i] for i in corpus.test] == ["the", "dog", "sat", "<eos>"]


@pytest.mark.parametrize("data_path, message", [
    ("a.txt,b.txt", "names 2 files"),
    ("a.txt,,c.txt", "names 3 files"),
])
def test_a_file_list_must_name_three_files(tmp_path, data_path, message):
    with pytest.raises(DataError, match=message):
        ptb.load_ptb(data_path)


def test_a_missing_file_of_the_list_is_named(tmp_path):
    (tmp_path / "train.txt").write_text("a b\n", encoding="utf-8")
    with pytest.raises(DataError, match="valid file .*nowhere.txt.* does not exist"):
        ptb.load_ptb(f"{tmp_path / 'train.txt'},{tmp_path / 'nowhere.txt'},{tmp_path / 'train.txt'}")
