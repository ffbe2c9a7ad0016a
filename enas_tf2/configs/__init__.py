"""Configurations: the original scripts' hyperparameters by name, and flags resolved to config objects.

* `presets`: the eight original scripts' flag values (and each PTB reference's defaults), the
  one place the scripts, both programs, the benchmark and the tests read them from;
* `run`: what every run has, whatever its task (`RunConfig`, `ControllerConfig`);
* `image` / `language_model`: a program's flag values -> one frozen config object of its task,
  with every default resolved and every contradiction a `FlagError`. They work on plain
  `{flag name: value}` dicts, so they are tested without absl; models and trainers then take
  resolved values only (configs separate from models, as in the TF Model Garden).
"""
