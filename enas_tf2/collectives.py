"""Cross-replica sums for batch norm inside `tf.switch_case`, and replica-local statistics.

Layers need two things from `tf.distribute` that its public API does not give inside control
flow: a sum over the replicas in sync that also works inside the supernets' `tf.switch_case`
branches (`cross_replica_sum`, for the global-batch statistics of batch norm) and a switch that
keeps a replica's statistics its own while replicas score different architectures
(`replica_local_statistics`). They live here, apart from the run set-up in `distribute.py`
(strategies, chief and worker folders), so that layers depend on nothing run-level.
"""

from __future__ import annotations

import contextlib
import threading
import weakref

import tensorflow as tf
from tensorflow.python.distribute import collective_util  # pylint: disable=g-direct-tensorflow-import

# ---------------------------------------------------------------------------------------------
# Replica-local batch statistics while replicas score different architectures.
# ---------------------------------------------------------------------------------------------
#
# In the controller phase each replica scores its *own* sampled architecture on its own reward
# minibatch, as one device scores each sample on a minibatch of its own. Batch statistics there
# (the micro search's per-input BN normalises with them also at evaluation) must be the
# replica's own: a cross-replica sum would mix two architectures' activations, and since the
# replicas then take different `tf.switch_case` branches, their collectives would never match
# and the step would hang. Replica functions are traced in one thread per replica, so the
# switch is thread-local and set around the tracing of the scoring code.

_replica_local = threading.local()


def replica_local_statistics_active() -> bool:
    return getattr(_replica_local, "active", False)


@contextlib.contextmanager
def replica_local_statistics():
    """Within the block, batch norm traced in this thread uses this replica's batch alone."""
    previous = replica_local_statistics_active()
    _replica_local.active = True
    try:
        yield
    finally:
        _replica_local.active = previous


# ---------------------------------------------------------------------------------------------
# A cross-replica sum that works inside `tf.switch_case` branches.
# ---------------------------------------------------------------------------------------------
#
# The supernets' batch norms sit inside `tf.switch_case` branches, and their training statistics
# must be those of the global batch. `ReplicaContext.all_reduce` goes through `merge_call` in
# `MirroredStrategy` on CPUs (and without XLA), which TensorFlow forbids inside control flow. The
# strategies' own collective all-reduce (`CollectiveAllReduce._all_reduce`, what they use under
# XLA) works there, except that its ordering token, an eager resource captured by the branch,
# breaks `tf.switch_case`'s gradient ("Tensor.graph is undefined"). `_graph_ordering_tokens`
# hands the collectives the token as a tensor of the outermost `tf.function` instead, which the
# branches capture like any other tensor. Both touch TensorFlow internals (TF 2.21);
# `tests/test_distribute.py` compares a distributed step with a one-device step, so a change
# in TensorFlow that breaks them fails loudly rather than training wrongly.

_ordering_tokens_patched = False


def _outermost_function_graph(graph):
    while getattr(getattr(graph, "outer_graph", None), "building_function", False):
        graph = graph.outer_graph
    return graph


def _graph_ordering_tokens() -> None:
    """Makes collective launchers return their ordering token as a tensor of the outermost function."""
    global _ordering_tokens_patched
    if _ordering_tokens_patched:
        return
    from tensorflow.python.distribute import cross_device_utils  # pylint: disable=g-import-not-at-top

    launcher_class = cross_device_utils.CollectiveReplicaLauncher
    original = launcher_class._get_ordering_token

    def graph_ordering_token(self):
        handle = original(self)
        if handle is None or not tf.inside_function():
            return handle
        outer = _outermost_function_graph(tf.compat.v1.get_default_graph())
        tokens = self.__dict__.setdefault("_enas_graph_tokens", weakref.WeakKeyDictionary())
        if outer not in tokens:
            with outer.as_default():
                tokens[outer] = tf.identity(handle)
        return tokens[outer]

    launcher_class._get_ordering_token = graph_ordering_token
    _ordering_tokens_patched = True


def _collective_ops(strategy: tf.distribute.Strategy):
    extended = strategy.extended
    ops = getattr(extended, "_collective_ops", None)  # MirroredStrategy
    return ops if ops is not None else extended._cross_device_ops  # MultiWorkerMirroredStrategy


def cross_replica_sum(values: list[tf.Tensor]) -> list[tf.Tensor]:
    """Sums `values` over the replicas in sync, with a summed gradient; callable inside control flow.

    Outside a replica context of several replicas it returns `values` unchanged.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return list(values)
    _graph_ordering_tokens()
    collective = _collective_ops(tf.distribute.get_strategy())
    replica_id = context._replica_id  # pylint: disable=protected-access
    options = collective_util.Options()

    def all_sum(tensors):
        return collective._all_reduce(tf.distribute.ReduceOp.SUM, list(tensors), replica_id, options)

    @tf.custom_gradient
    def summed(*tensors):
        def grad(*upstream):
            return all_sum([tf.convert_to_tensor(dy) for dy in upstream])

        return all_sum(tensors), grad

    return list(summed(*values))
