"""`--grappler=auto|on|off`: whether TensorFlow's graph optimiser rewrites the compiled steps.

Grappler optimises every traced function once, on its first call. A supernet's step is a big
graph (the micro search step has about 110,000 nodes once its `switch_case` branches are
inlined), and there Grappler costs far more than it returns: measured on this project's 2-core
Xeon, float32, the script's shapes (BUILD.md "Graph optimisation" has the tables),

* micro search, a run's three steps (train, controller, evaluation): the first train step takes
  58.6 s with Grappler and 38.9 s without, the step itself 2.18 s against 2.03 s;
* macro search (bench): first step 22.0 s against 13.8 s, step 15.3 against 13.2 units;
* PTB search (bench): no difference beyond noise (its graph is small).

The price is host memory: Grappler prunes the inlined graph to about 40,000 nodes, and the
executor of the unpruned one holds more (micro run 6.0 -> 7.2 GiB peak, macro bench 3.6 -> 4.0
GiB). A final network's graph is small and fixed, and there Grappler's fusions are what one
wants. So `auto` turns Grappler off for searches and leaves it on for final training; `on`
(less memory for a search, slower start) and `off` force either. The setting is process-wide
(`tf.config.optimizer`) and is made before the first step is traced; `restore` puts back what
was there (a run inside a longer process, the bench).
"""

from __future__ import annotations

import tensorflow as tf

from enas_tf2.configs.run import GRAPPLER_SETTINGS


def grappler_enabled(setting: str, search: bool) -> bool:
    """Whether Grappler runs for `setting` ("auto": not for a search's supernet steps)."""
    if setting not in GRAPPLER_SETTINGS:
        raise ValueError(f"--grappler={setting!r} is unknown; expected one of {', '.join(GRAPPLER_SETTINGS)}.")
    if setting == "auto":
        return not search
    return setting == "on"


def apply(setting: str, search: bool) -> tuple[bool, bool]:
    """Sets TensorFlow's optimiser options for this process.

    Only `disable_meta_optimizer` is set, either way, so a user's other
    `tf.config.optimizer` options are kept.

    Returns:
        Whether Grappler runs now, and the previous `disable_meta_optimizer` (for `restore`).
    """
    previous = bool(tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False))
    enabled = grappler_enabled(setting, search)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not enabled})
    return enabled, previous


def restore(previous_disabled: bool) -> None:
    """Puts back the `disable_meta_optimizer` that `apply` replaced (a run inside a longer process)."""
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": previous_disabled})


def describe(setting: str, enabled: bool) -> str:
    """One log line: the setting and what it means for this run."""
    reason = {"auto": "auto: off for a search's supernet steps, on for a final network",
              "on": "forced on", "off": "forced off"}[setting]
    return f"Grappler graph optimisation {'on' if enabled else 'off'} (--grappler={setting}; {reason})."
