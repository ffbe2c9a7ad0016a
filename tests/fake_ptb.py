"""A tiny learnable PTB-format corpus for end-to-end tests (no real data needed).

Sentences come from a fixed random Markov chain over `vocab_size` words, so a language model
can beat the uniform perplexity quickly; every word occurs in the training split, so valid and
test never hold an unknown word.
"""

from __future__ import annotations

import pathlib

import numpy as np


def write_fake_ptb(
    folder: pathlib.Path, vocab_size: int = 40, train_words: int = 6000, eval_words: int = 1200, seed: int = 0
) -> pathlib.Path:
    """Writes `ptb.{train,valid,test}.txt` (Mikolov format) into `folder`; returns `folder`."""
    rng = np.random.default_rng(seed)
    words = [f"w{i:02d}" for i in range(vocab_size - 1)]  # + "<eos>" from the line ends
    successors = rng.integers(0, len(words), size=(len(words), 3))

    def sentences(num_words: int) -> list[str]:
        lines, current = [], list(words) if num_words == train_words else []
        state = int(rng.integers(len(words)))
        total = len(current)
        while total < num_words:
            state = int(successors[state, rng.integers(3)])
            current.append(words[state])
            total += 1
            if len(current) >= 12 or rng.random() < 0.08:
                lines.append(" ".join(current))
                current = []
        if current:
            lines.append(" ".join(current))
        return lines

    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", train_words), ("valid", eval_words), ("test", eval_words)):
        text = "".join(f" {line} \n" for line in sentences(count))
        (folder / f"ptb.{split}.txt").write_text(text, encoding="utf-8")
    return folder
