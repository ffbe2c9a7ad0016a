"""Op registries: the candidate ops of one search space, in the order of its architecture encoding.

An arc string names ops by integer id, and the id is the op's position in the space's list (the
original's order, ENAS_SPEC.md 2.1-2.3). That list must exist once: the arc parser checks ids
against it, the supernet builds one branch per entry, the fixed network builds the entry an arc
names, the controller samples `len(registry)` choices and the pictures label edges with the
names. `OpRegistry` is that list plus, per name, the *builder* that makes the op.

Names and ids are plain data, so `enas_tf2.arch` (pure Python) owns the registries and parses
arcs without TensorFlow. Builders are Keras code: each space's `ops` module registers them
(`@MACRO_OPS.register("conv_3x3")`), and the registry imports that module the first time a
builder is asked for, so a builder is never missing because of import order (the TF Model
Garden's `registry.py` asks callers to import the module themselves; a lookup that still fails
says which module should have registered the name).

Example:
    >>> ops = OpRegistry("toy", ("identity", "double"))
    >>> _ = ops.register("identity")(lambda x: x)
    >>> _ = ops.register("double")(lambda x: 2 * x)
    >>> ops.id_of("double"), ops.name_of(0), len(ops)
    (1, 'identity', 2)
    >>> ops.build(1, 21)
    42
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterator, Sequence

Builder = Callable[..., Any]


class OpRegistry:
    """The ops of one search space: id <-> name in encoding order, and each name's builder.

    Args:
        space: the space's name, for messages ("macro", "micro", "ptb", ...).
        names: op names in id order; the position of a name is its id in arc strings.
        builders_module: the module that registers the builders (imported on first use);
            None when the caller registers them itself.

    Raises:
        ValueError: `names` is empty or holds a name twice.
    """

    def __init__(self, space: str, names: Sequence[str], builders_module: str | None = None):
        names = tuple(names)
        if not names:
            raise ValueError(f"OpRegistry {space!r} needs at least one op name. Received: names=()")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"OpRegistry {space!r} lists {duplicates} more than once; ids must be unique.")
        self.space = space
        self.names = names
        self._builders_module = builders_module
        self._builders: dict[str, Builder] = {}

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __repr__(self) -> str:
        return f"OpRegistry({self.space!r}, {self.names!r})"

    def id_of(self, name: str) -> int:
        """The id of op `name` in arc strings.

        Raises:
            LookupError: `name` is not an op of this space (the message lists the known ones).
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise LookupError(
                f"The {self.space} space has no op {name!r}; its ops are {', '.join(self.names)}."
            ) from None

    def name_of(self, op_id: int) -> str:
        """The name of op id `op_id`.

        Raises:
            LookupError: `op_id` is not in `0..len(self) - 1`.
        """
        if not isinstance(op_id, int) or isinstance(op_id, bool) or not 0 <= op_id < len(self.names):
            raise LookupError(
                f"The {self.space} space has op ids 0..{len(self.names) - 1} "
                f"({', '.join(self.names)}); got {op_id!r}."
            )
        return self.names[op_id]

    def label(self, op_id: int) -> str:
        """`name_of(op_id)`, or `invalid op <id>` for an id outside the space (for messages and pictures)."""
        try:
            return self.name_of(op_id)
        except LookupError:
            return f"invalid op {op_id}"

    def register(self, name: str) -> Callable[[Builder], Builder]:
        """Decorator registering the builder of op `name`.

        Raises:
            LookupError: `name` is not one of `names`.
            KeyError: `name` already has a builder.
        """
        self.id_of(name)
        if name in self._builders:
            raise KeyError(f"The {self.space} op {name!r} already has a builder ({self._builders[name]!r}).")

        def decorator(builder: Builder) -> Builder:
            self._builders[name] = builder
            return builder

        return decorator

    def builder(self, op: int | str) -> Builder:
        """The builder of op `op` (an id or a name).

        Raises:
            LookupError: an unknown op, or no builder was registered for it.
        """
        name = self.name_of(op) if isinstance(op, int) else op
        self.id_of(name)
        if name not in self._builders and self._builders_module is not None:
            importlib.import_module(self._builders_module)
        if name not in self._builders:
            where = f" by {self._builders_module}" if self._builders_module else ""
            raise LookupError(f"No builder is registered{where} for the {self.space} op {name!r}.")
        return self._builders[name]

    def build(self, op: int | str, *args: Any, **kwargs: Any) -> Any:
        """`builder(op)(*args, **kwargs)`."""
        return self.builder(op)(*args, **kwargs)
