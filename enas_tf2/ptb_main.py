"""Language-model search and final training: `python -m enas_tf2.ptb_main --data_path=... --output_dir=...`.

Penn Treebank by default, or any corpus of three text files. Without `--child_fixed_arc` this
searches a recurrent cell (controller + supernet); with it, it trains that cell from scratch and
tests it. `--ptb_impl=enas_lm` (default) is the authors' corrected language model,
`--ptb_impl=original` the original repository's. Flags keep the original `src/ptb/main.py` names
(enas_lm's names are aliases, `enas_tf2/flags/language_model.py`); unset hyperparameters take the
reference's values (`enas_tf2/configs/language_model.py`); `--preset=NAME` starts from a script's.
"""

from __future__ import annotations

from absl import app

from enas_tf2 import programs
from enas_tf2.configs import language_model
from enas_tf2.flags import common
from enas_tf2.flags import help as help_flags
from enas_tf2.flags.language_model import MODULE, define_language_model_flags

PROGRAM = "ptb_main"
USAGE = "USAGE: python -m enas_tf2.ptb_main [--flag=value ...]  (scripts/ptb_*.sh pass their --preset)"


def make_task(config):
    """The task of a resolved config (imports TensorFlow: only after the flags were checked)."""
    from enas_tf2.tasks.language_model import LanguageModelTask  # pylint: disable=import-outside-toplevel

    return LanguageModelTask(config)


def main(argv: list[str]) -> None:
    programs.main(argv, PROGRAM, MODULE, language_model.resolve, language_model.inert_flag_warnings, make_task)


def define_flags() -> None:
    """The program's flags and its grouped `--help`."""
    define_language_model_flags()
    help_flags.define_help_flag(__doc__, USAGE, [common.MODULE, MODULE], language_model.INERT_FLAGS)


if __name__ == "__main__":
    define_flags()
    app.run(main)
