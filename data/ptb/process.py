"""Converts Mikolov's Penn Treebank text files into the `ptb.pkl` the ENAS PTB code reads.

The original `data/ptb/process.py` of both reference implementations, as a command line:

    python data/ptb/process.py --data_path=<folder with ptb.{train,valid,test}.txt> \\
        --output=ptb.pkl

It writes pickle protocol 2 of `(x_train, x_valid, x_test, word_to_id, id_to_word)`: 1-D int32
word-id arrays with one `<eos>` after every sentence, the vocabulary being the sorted training
words (ENAS_PTB_SPEC.md section 4). The logic lives in `enas_tf2.data.ptb`; the pickle is
optional there, since `--data_path` of a PTB run also accepts the text folder itself.
"""

import pathlib
import sys

# Run as `python data/ptb/process.py` from anywhere: make the repository importable.
_REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import logging  # pylint: disable=g-import-not-at-top,wrong-import-position

from enas_tf2.data import ptb  # pylint: disable=g-import-not-at-top,wrong-import-position
from enas_tf2.errors import DataError  # pylint: disable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS

flags.DEFINE_string(
    "data_path",
    None,
    "Folder holding the PTB text files: ptb.train.txt / ptb.valid.txt / ptb.test.txt "
    "(Mikolov's names), train.txt / valid.txt / test.txt, or train / valid / test.",
)
flags.DEFINE_string(
    "output", ptb.PTB_PICKLE_NAME, "The pickle to write (the --data_path of a PTB run)."
)
flags.mark_flag_as_required("data_path")


def main(argv: list[str]) -> int:
    """Reads the text files, writes the pickle and logs the sizes the original prints."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        data = ptb.read_ptb_text(FLAGS.data_path)
        ptb.save_ptb_pickle(data, FLAGS.output)
    except DataError as e:
        logging.error("%s", e)
        return 1
    logging.info("vocab size: %d", data.vocab_size)
    for split in ptb.PTB_SPLITS:
        logging.info("%s size: %d", split, data.split(split).size)
    logging.info("wrote %s", FLAGS.output)
    return 0


if __name__ == "__main__":
    app.run(main)
