"""`--grappler=auto|on|off`: whether TensorFlow's graph optimiser rewrites the compiled steps.

Grappler optimises every traced function once, on its first call. A supernet's step is a big
graph (the micro search step has about 110,000 nodes once its `switch_case` branches are
inlined), and there Grappler costs far more than it returns: measured on this project's 2-core
Xeon, float32, the script's shapes (BUILD.md "Graph optimisation" has the tables),

* micro search (bench): first step 60.5 s with Grappler against 41.4 s without, the same step
  time (36.9 units); a run's three steps (train, controller, evaluation): 58.6 s against 38.9 s;
* macro search (bench): first step 22.3 s against 14.4 s, step 14.8 against 12.8 units;
* PTB search (bench): no difference beyond noise (its graph is small).

The price is host memory: Grappler prunes the inlined graph to about 40,000 nodes, and the
executor of the unpruned one holds more (micro run 6.0 -> 7.2 GiB peak, macro bench 3.7 -> 4.1
GiB). A final network's graph is small and fixed, and there Grappler's fusions are what one
wants. So `auto` turns Grappler off for searches and leaves it on for final training; `on`
(less memory for a search, slower start) and `off` force either. The setting is process-wide
(`tf.config.optimizer`), made before the first step is traced; `configured` puts back what was
there when the run or the bench ends.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import tensorflow as tf

from enas_tf2.configs.run import check_grappler


def grappler_enabled(setting: str, search: bool) -> bool:
    """Whether Grappler runs for `setting` ("auto": not for a search's supernet steps)."""
    check_grappler(setting)
    if setting == "auto":
        return not search
    return setting == "on"


@contextlib.contextmanager
def configured(setting: str, search: bool) -> Iterator[bool]:
    """Sets TensorFlow's optimiser for the block; yields whether Grappler runs, then restores.

    Only `disable_meta_optimizer` is set and put back, so a user's other `tf.config.optimizer`
    options are kept, and a run or a bench inside a longer process (the tests) leaves it as it was.
    """
    previous = bool(tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False))
    enabled = grappler_enabled(setting, search)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not enabled})
    try:
        yield enabled
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": previous})


def state(enabled: bool) -> str:
    """ "on" or "off": the bench's row and the log line."""
    return "on" if enabled else "off"


def describe(setting: str, enabled: bool) -> str:
    """One log line: the setting and what it means for this run."""
    reason = {"auto": "auto: off for a search's supernet steps, on for a final network",
              "on": "forced on", "off": "forced off"}[setting]
    return f"Grappler graph optimisation {state(enabled)} (--grappler={setting}; {reason})."
