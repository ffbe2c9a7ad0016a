"""Image classification search and final training: `python -m enas_tf2.cifar10_main --search_for=macro ...`.

CIFAR-10 by default (the original's python batches, `--data_path`), or any image data
(`--data_source=tfds --tfds_name=NAME`, `--data_source=folder`). Flags keep the original
`src/cifar10/main.py` names and defaults (`enas_tf2/flags/image.py`); `--preset=NAME` starts
from an original script's values (`enas_tf2/configs/presets.py`; the `scripts/cifar10_*.sh`
pass theirs). Without `--child_fixed_arc` this runs a search (controller + supernet); with it,
it trains that architecture from scratch (final mode).
"""

from __future__ import annotations

from absl import app

from enas_tf2 import programs
from enas_tf2.configs import image
from enas_tf2.flags import common
from enas_tf2.flags import help as help_flags
from enas_tf2.flags.image import MODULE, define_image_flags

PROGRAM = "cifar10_main"
USAGE = "USAGE: python -m enas_tf2.cifar10_main [--flag=value ...]  (scripts/cifar10_{macro,micro}_{search,final}.sh pass their --preset)"


def make_task(config):
    """The task of a resolved config (imports TensorFlow: only after the flags were checked)."""
    from enas_tf2.tasks.image_classification import ImageClassificationTask  # pylint: disable=import-outside-toplevel

    return ImageClassificationTask(config)


def main(argv: list[str]) -> None:
    programs.main(argv, PROGRAM, MODULE, image.resolve, image.inert_flag_warnings, make_task)


def define_flags() -> None:
    """The program's flags and its grouped `--help`."""
    define_image_flags()
    help_flags.define_help_flag(__doc__, USAGE, [common.MODULE, MODULE], image.INERT_FLAGS)


if __name__ == "__main__":
    define_flags()
    app.run(main)
