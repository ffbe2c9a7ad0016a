"""Tiny CIFAR-10 python-pickle batches in the original format, for tests."""

from __future__ import annotations

import pathlib
import pickle

import numpy as np

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"


def write_batch(path: pathlib.Path, data: np.ndarray, labels: list[int]) -> None:
    """Writes one batch like the original cPickle files (bytes keys, protocol 2)."""
    batch = {
        b"batch_label": b"fake batch",
        b"labels": labels,
        b"data": data,
        b"filenames": [f"img_{i:05d}.png".encode() for i in range(len(labels))],
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def write_fake_cifar(folder: pathlib.Path, images_per_file: int = 20, seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Writes the five train batches and the test batch; returns rows and labels per file.

    Labels are learnable: each image's mean brightness grows with its label, so a
    tiny network trained for a few steps beats chance.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for name in TRAIN_FILES + (TEST_FILE,):
        labels = rng.integers(0, 10, size=images_per_file)
        noise = rng.integers(0, 96, size=(images_per_file, 3072))
        data = np.clip(noise + labels[:, None] * 16, 0, 255).astype(np.uint8)
        labels = [int(v) for v in labels]
        write_batch(folder / name, data, labels)
        written[name] = (data, labels)
    return written
