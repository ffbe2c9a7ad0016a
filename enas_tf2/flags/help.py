"""`--help` that lists the program's own flags, grouped (data, child, controller, run), one line each.

absl's `--help` prints only the flags of the `__main__` module, and the programs define theirs in
`enas_tf2/flags/`, so it listed none; `--helpfull` lists all 330, absl's and TensorFlow's mixed
in. `define_help_flag` replaces absl's `--help` (and `-?`, `--helpshort`) with one that prints
the program's docstring and its flags by group, each as `--name=default  first sentence of
its help`; the flags kept only so that the original command lines run (`INERT_FLAGS`, "No
effect" in their help) are named once, on one line, at the end. `--helpfull` stays absl's.
"""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
from typing import Any, Iterable, Sequence

from absl import app, flags

#: Group titles in the order printed.
GROUPS = ("data", "child", "controller", "run")
INERT_TITLE = "accepted for compatibility with the original scripts, no effect"
#: Flags about the data that do not follow a prefix rule.
DATA_FLAGS = frozenset({
    "data_path", "data_source", "tfds_name", "image_size", "batch_size", "num_valid_images", "data_format",
})
#: Flags of the search itself (beyond `controller_*`): how the final architecture is derived.
CONTROLLER_FLAGS = frozenset({"derive_samples", "search_policy"})
_INERT_PREFIXES = ("no effect", "accepted for compatibility")


def flag_group(name: str) -> str:
    """The help group of the flag `name` (see `GROUPS`)."""
    if name in DATA_FLAGS:
        return "data"
    if name in CONTROLLER_FLAGS or name.startswith("controller_"):
        return "controller"
    if name.startswith(("child_", "ptb_")) or name in ("search_for", "compat_macro_branch_bug", "test_bptt"):
        return "child"
    return "run"


def _default_text(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if value == "" or " " in value else value
    return str(value)


def _help_text(flag: flags.Flag) -> str:
    """The flag's help without the `<a|b|c>: ` that absl puts before an enum's."""
    return re.sub(r"^<[^>]*>: ", "", " ".join((flag.help or "").split()))


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _fit(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: max(0, width - 3)].rsplit(" ", 1)[0].rstrip(",;:") + "..."


def is_inert(flag: flags.Flag, inert_flags: Iterable[str]) -> bool:
    """Whether the flag is accepted only for compatibility (listed, or its help says it has no effect)."""
    return flag.name in set(inert_flags) or _help_text(flag).lower().startswith(_INERT_PREFIXES)


def grouped_help(doc: str, usage: str, modules: Sequence[str], inert_flags: Iterable[str] = (),
                 width: int | None = None, flag_values: flags.FlagValues = flags.FLAGS) -> str:
    """The `--help` text: `doc`'s first paragraph, `usage`, then the flags of `modules` by group."""
    width = width or max(80, min(140, shutil.get_terminal_size(fallback=(120, 24)).columns))
    inert_flags = tuple(inert_flags)
    grouped: dict[str, list[flags.Flag]] = {group: [] for group in GROUPS}
    inert: list[str] = []
    seen = set()
    for module in modules:
        for flag in flag_values.get_flags_for_module(module):
            if flag.name in seen:
                continue
            seen.add(flag.name)
            if is_inert(flag, inert_flags):
                inert.append(flag.name)
            else:
                grouped[flag_group(flag.name)].append(flag)
    summary = (doc or "").strip().split("\n\n")[0]
    lines = [" ".join(summary.split()), "", usage, ""]
    entries = {group: [(f"--{f.name}={_default_text(f.default)}", _first_sentence(_help_text(f))) for f in sorted(
        members, key=lambda f: f.name)] for group, members in grouped.items()}
    column = min(36, max((len(left) for rows in entries.values() for left, _ in rows), default=0))
    for group in GROUPS:
        if not entries[group]:
            continue
        lines.append(f"{group}:")
        for left, text in entries[group]:
            if len(left) > column:
                lines.append(f"  {left}")
                left = ""
            lines.append(f"  {left:<{column}}  {_fit(text, width - column - 4)}".rstrip())
        lines.append("")
    if inert:
        names = ", ".join(f"--{name}" for name in sorted(inert))
        lines.append(textwrap.fill(f"{INERT_TITLE}: {names}", width=width, subsequent_indent="  "))
        lines.append("")
    lines.append("Try --helpfull for every flag, absl's and TensorFlow's included.")
    return "\n".join(lines) + "\n"


class GroupedHelpFlag(flags.BooleanFlag):
    """`--help` / `-?` / `--helpshort`: prints `grouped_help` to stdout and exits with status 0."""

    def __init__(self, name: str, short_name: str | None, text: callable):
        super().__init__(name, False, "Show this program's flags, grouped; --helpfull shows every flag.",
                         short_name=short_name, allow_hide_cpp=True)
        self._text = text

    def parse(self, argument):
        if self._parse(argument):
            sys.stdout.write(self._text())
            sys.stdout.flush()
            sys.exit(0)


def define_help_flag(doc: str, usage: str, modules: Sequence[str], inert_flags: Iterable[str] = ()) -> None:
    """Replaces absl's `--help`, `-?` and `--helpshort` with the grouped help (idempotent)."""
    app.define_help_flags()  # absl's --helpfull, --helpxml, --only_check_flags; then ours replace --help
    existing = flags.FLAGS["help"] if "help" in flags.FLAGS else None
    if isinstance(existing, GroupedHelpFlag):
        return
    for name in ("help", "?", "helpshort"):
        if name in flags.FLAGS:
            delattr(flags.FLAGS, name)
    inert_flags = tuple(inert_flags)

    def text() -> str:
        return grouped_help(doc, usage, modules, inert_flags)

    flags.DEFINE_flag(GroupedHelpFlag("help", "?", text), module_name=app.__name__)
    flags.DEFINE_flag(GroupedHelpFlag("helpshort", None, text), module_name=app.__name__)
