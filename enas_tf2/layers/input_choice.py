"""Input choices of a supernet (NNI's `InputChoice`): which earlier tensors a choice point reads.

Two kinds, both driven by the architecture tensor with graph ops, so one trace serves every
architecture:

* one input by an index tensor: `NodeArray.read` (a micro slot's input node, a PTB node's
  predecessor);
* a subset by a 0/1 mask: `add_selected` (the macro skip connections, the loose ends a micro
  search cell convolves into its output).
"""

from __future__ import annotations

from typing import Callable, Sequence

import tensorflow as tf

#: A candidate of `add_selected`: a tensor, or a function computing it only when it is selected.
Candidate = tf.Tensor | Callable[[], tf.Tensor]


class NodeArray:
    """The nodes of a cell, readable by an int32 index tensor.

    A supernet slot reads "node `index`" where `index` comes from the arc
    tensor. The nodes live in a `tf.TensorArray` and the slot reads
    `array.read(index)`: one element is fetched, nothing is stacked, and the
    backward pass writes the slot's gradient into that one element of a
    gradient array that sums every write. The alternatives each measured worse
    on a search-size micro cell (10 reads of `[160, 32, 32, 20]` nodes, forward
    and backward): `tf.gather` over `tf.stack(nodes)` copies every candidate and
    took 1.8x the time of the static cell; `tf.switch_case` over the nodes is
    as fast as static indexing, but its gradient materialises a zero tensor for
    every unselected candidate of every slot, which doubled the peak memory.

    Python ints index the plain list (static networks and the tests).

    Args:
        nodes: the first nodes (a micro cell's two calibrated inputs), one shape.

    Example:
        >>> nodes = NodeArray([tf.zeros([2]), tf.ones([2])])
        >>> nodes.append(2 * tf.ones([2]))
        >>> nodes.read(tf.constant(2)).numpy(), len(nodes)
        (array([2., 2.], dtype=float32), 3)
    """

    def __init__(self, nodes: Sequence[tf.Tensor]):
        self.nodes = list(nodes)
        self._array = tf.TensorArray(
            self.nodes[0].dtype, size=0, dynamic_size=True, clear_after_read=False,
            element_shape=self.nodes[0].shape,
        )
        for position, node in enumerate(self.nodes):
            self._write(position, node)

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, position: int) -> tf.Tensor:
        return self.nodes[position]

    def _write(self, position: int, node: tf.Tensor) -> None:
        self._array = self._array.write(position, node)
        # The last node is often never read through the array (no later block); without
        # this TensorFlow logs a "never used" error for that write.
        mark_used = getattr(self._array, "mark_used", None)  # only eager arrays are wrapped
        if mark_used is not None:
            mark_used()

    def append(self, node: tf.Tensor) -> None:
        """Adds the next node (a block's output)."""
        self._write(len(self.nodes), node)
        self.nodes.append(node)

    def read(self, index: tf.Tensor | int) -> tf.Tensor:
        """`nodes[index]` for an int32 scalar tensor (or a Python int)."""
        if isinstance(index, int):
            return self.nodes[index]
        return self._array.read(tf.cast(index, tf.int32))


def add_selected(base: tf.Tensor, candidates: Sequence[Candidate], mask: tf.Tensor) -> tf.Tensor:
    """`base + sum_j mask[j] * candidates[j]` for a 0/1 tensor mask of static length.

    Each candidate is added under a `tf.cond` on its mask bit instead of being
    multiplied by it: an unselected candidate then costs nothing in the forward
    or the backward pass, where a masked multiply would read and write a full
    activation twice per candidate (about 15% of a 12-layer macro search step).
    A candidate given as a function is computed only inside its branch (a micro
    cell's `relu(node) . W_node` for its loose ends: convolving every node and
    masking cost ~25 % of a search step).

    Args:
        base: the tensor the selected candidates are added to.
        candidates: tensors of `base`'s shape, or functions returning one.
        mask: int or float tensor `[len(candidates)]` of 0/1 (graph values, not Python).

    Returns:
        `base` plus the selected candidates.

    Example:
        >>> add_selected(tf.zeros([2]), [tf.ones([2]), lambda: 10 * tf.ones([2])], tf.constant([0, 1])).numpy()
        array([10., 10.], dtype=float32)
    """
    total = base
    for j, candidate in enumerate(candidates):
        term = candidate if callable(candidate) else (lambda candidate=candidate: candidate)
        total = tf.cond(
            mask[j] > 0,
            lambda total=total, term=term: total + term(),
            lambda total=total: tf.identity(total),
        )
    return total
