"""YAML documents that remember where each key was written, for errors that name file and line."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchharness.errors import UserError

Path_ = tuple[Any, ...]  # a location in the document: keys and list indexes


# Bounds on what a YAML document may cost to read (a scenario is a few kilobytes, 3 levels deep:
# include[0].batch_size).
MAX_BYTES = 256 * 1024  # pure-Python PyYAML reads about 100 KB a second on a slow core
MAX_DEPTH = 32  # levels below the top, counted through aliases; Python's recursion limit is far beyond
MAX_VALUES = 100_000  # values (scalars, lists, mappings), each alias counted as what it stands for

YAML_TAG = "tag:yaml.org,2002:"
SCALAR_TAGS = frozenset(YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp"))
COLLECTION_TAGS = {yaml.MappingNode: YAML_TAG + "map", yaml.SequenceNode: YAML_TAG + "seq"}


@dataclass
class Document:
    data: Any
    lines: dict[Path_, int]  # location -> 1-based line
    problems: list[tuple[int, Path_, str]]  # (line, location, message)
    # Locations whose value could not be read (a bad tag): ``data`` holds the raw text there, and
    # the problem above is the one to report for it.
    unreadable: set[Path_] = field(default_factory=set)


class _Refused(Exception):
    """A document too costly or too strange to read: one problem, at ``line`` and ``path``."""

    def __init__(self, line: int, path: Path_, message: str):
        super().__init__(message)
        self.line, self.path, self.message = line, path, message


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer refuses nesting deeper than ``MAX_DEPTH`` (before Python's recursion
    limit ends it in a traceback) and remembers anchor names and the lines aliases are written on."""

    def __init__(self, text: str):
        super().__init__(text)
        self.path: list = []  # keys and indexes of the node being composed
        self.anchor_of: dict[int, str] = {}  # id(node) -> its anchor's name
        self.alias_line: dict[tuple[int, int], int] = {}  # (id(sequence), index) -> line of the *alias

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) and isinstance(index, int):
            self.alias_line[(id(parent), index)] = event.start_mark.line + 1
        part = index.value if isinstance(index, yaml.ScalarNode) else "(key)" if index is None else index
        self.path.append(part)
        if len(self.path) > MAX_DEPTH + 1:  # the root is composed with a placeholder part
            raise _Refused(event.start_mark.line + 1, tuple(self.path[1:]),
                           f"nested deeper than {MAX_DEPTH} levels; a scenario needs 3")
        try:
            node = super().compose_node(parent, index)
        finally:
            self.path.pop()
        if not isinstance(event, yaml.AliasEvent) and event.anchor is not None:
            self.anchor_of[id(node)] = event.anchor
        return node


def compose(text: str, source: str) -> Document:
    """Parse YAML safely, keeping the line of every key and reporting duplicate keys.

    Raises UserError for syntax errors (with line and column), empty files, and documents that
    nest deeper than ``MAX_DEPTH``, expand past ``MAX_VALUES`` (an alias bomb) or contain themselves
    (a recursive alias). Unknown tags and values their tag cannot read (``!!int "abc"``) are
    collected in ``problems``.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_shape(node, loader)
    except _Refused as refused:
        raise UserError(f"{source}:{refused.line}: {dotted(refused.path)}: {refused.message}") from None
    except yaml.MarkedYAMLError as exc:
        raise UserError(_syntax_error_line(exc, source)) from None
    except yaml.YAMLError as exc:
        raise UserError(f"{source}:1: YAML error: {' '.join(str(exc).split())}") from None
    finally:
        loader.dispose()
    if node is None:
        raise UserError(f"{source}:1: file is empty; a scenario needs at least 'name'")
    doc = Document(None, {}, [])
    doc.data = _node_to_python(node, (), doc, yaml.SafeLoader(""), loader.alias_line)
    return doc


def _children(node, path: Path_, alias_line: dict) -> list[tuple[Any, Path_, int]]:
    """(child node, its location, its line) of a collection node; mapping keys come as ``(key)``."""
    if isinstance(node, yaml.MappingNode):
        out = []
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "(key)"
            line = key_node.start_mark.line + 1
            out += [(key_node, (*path, "(key)"), line), (value_node, (*path, key), line)]
        return out
    if isinstance(node, yaml.SequenceNode):
        return [(item, (*path, i), alias_line.get((id(node), i), item.start_mark.line + 1))
                for i, item in enumerate(node.value)]
    return []


def _check_shape(root, loader: _Loader) -> None:
    """Refuse a document that contains itself, or that its aliases make deeper than ``MAX_DEPTH`` or
    larger than ``MAX_VALUES``, before anything walks it: each node is measured once (an alias reuses
    its anchor's measure), so an alias bomb costs its written size, not what it stands for."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values it stands for, levels)
    open_: set[int] = set()  # nodes being measured: reaching one again is a cycle
    count = 0  # values so far in reading order, each alias counted in full

    def measure(node, path: Path_, line: int, depth: int) -> tuple[int, int]:  # depth: levels below the top
        nonlocal count
        key = id(node)
        name = loader.anchor_of.get(key, "?")
        if key in open_:
            raise _Refused(line, path, f"recursive alias: *{name} stands for a value that contains it")
        if key in measured:  # an alias: what its anchor measured
            size, levels = measured[key]
            if depth + levels - 1 > MAX_DEPTH:
                raise _Refused(line, path, f"alias *{name} nests values deeper than {MAX_DEPTH} levels")
            count += size
            if count > MAX_VALUES:
                raise _Refused(line, path, f"alias *{name} stands for {size:,} values: the document expands "
                                           f"past {MAX_VALUES:,} (an alias bomb?)")
            return size, levels
        count += 1
        if count > MAX_VALUES:
            raise _Refused(line, path, f"the document holds more than {MAX_VALUES:,} values")
        open_.add(key)
        size, levels = 1, 0
        for child, child_path, child_line in _children(node, path, loader.alias_line):
            child_size, child_levels = measure(child, child_path, child_line, depth + 1)
            size, levels = size + child_size, max(levels, child_levels)
        open_.discard(key)
        measured[key] = (size, levels + 1)
        return measured[key]

    measure(root, (), root.start_mark.line + 1, 0)


def _syntax_error_line(exc: yaml.MarkedYAMLError, source: str) -> str:
    """One line: where PyYAML noticed the problem, and where the construct it was reading began."""
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    message = " ".join((exc.problem or exc.context or "invalid YAML").split())
    if exc.context and exc.context_mark and exc.problem:
        start = exc.context_mark
        message += f" ({exc.context} that starts on line {start.line + 1}, column {start.column + 1})"
    return f"{where}: YAML syntax error: {message}"


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(YAML_TAG):] if tag.startswith(YAML_TAG) else tag


def _tag_problem(node) -> str | None:
    """Why a node's tag is not one a scenario may use, or None."""
    allowed = COLLECTION_TAGS.get(type(node))
    if (node.tag == allowed) if allowed else (node.tag in SCALAR_TAGS):
        return None
    if node.tag == YAML_TAG + "merge":
        return "merge keys (<<) are not supported; write the keys out"
    known = "unsupported" if node.tag.startswith(YAML_TAG) else "unknown"
    return f"{known} tag {_short_tag(node.tag)}; a scenario holds plain values, lists and mappings"


def _read_scalar(node, constructor) -> tuple[Any, str | None]:
    """(value, None), or (the raw text, why): a tag a scenario may not use, or a value its tag cannot read."""
    problem = _tag_problem(node)
    if problem is None:
        try:
            return constructor.construct_object(node, deep=True), None
        except Exception:  # PyYAML's constructors raise ValueError, KeyError, TypeError...: all one thing here
            problem = f"{node.value!r} is not a valid {_short_tag(node.tag)}"
    return node.value, problem


def _node_to_python(node, path: Path_, doc: Document, constructor, alias_line: dict) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        value, problem = _read_scalar(node, constructor)
    else:
        value, problem = None, _tag_problem(node)
    if problem is not None:
        doc.problems.append((doc.lines[path], path, problem))
        doc.unreadable.add(path)
        return value
    if isinstance(node, yaml.ScalarNode):
        return value
    if isinstance(node, yaml.MappingNode):
        result: dict = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                doc.problems.append((line, path, "a key must be a plain name, not a list or mapping"))
                continue
            key, problem = _read_scalar(key_node, constructor)
            if problem is not None:
                doc.problems.append((line, path, problem))
                continue
            if not isinstance(key, (str, int, float, bool)):
                doc.problems.append((line, path, f"key {yaml_repr(key)} must be a plain name"))
                continue
            child = (*path, key)
            if key in result:
                doc.problems.append((line, child, f"duplicate key (first on line {doc.lines[child]}); "
                                     "YAML would silently keep the last value"))
                continue
            doc.lines[child] = line
            result[key] = _node_to_python(value_node, child, doc, constructor, alias_line)
        return result
    items = []
    for i, item in enumerate(node.value):
        doc.lines.setdefault((*path, i), alias_line.get((id(node), i), item.start_mark.line + 1))
        items.append(_node_to_python(item, (*path, i), doc, constructor, alias_line))
    return items


def dotted(path: Path_) -> str:
    """``("sweep", "batch_size", 1)`` -> ``"sweep.batch_size[1]"``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def line_of(path: Path_, lines: dict[Path_, int]) -> int:
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return 1


def yaml_repr(value: Any) -> str:
    """A value as the scenario's author wrote it: true/false/null rather than Python's spelling."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
    return repr(value)


def read_yaml(path: Path, what: str) -> tuple[bytes, Document]:
    """Read and compose a YAML file of at most ``MAX_BYTES``; raises UserError (one line, naming the
    file) if it cannot."""
    source = str(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)  # never more: a 10 MB file must not be read, let alone parsed
    except FileNotFoundError:
        raise UserError(f"{source}: no such {what}") from None
    except OSError as exc:
        raise UserError(f"{source}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise UserError(f"{source}: too large for a {what}: over {MAX_BYTES // 1024} KiB (one is a few kilobytes; "
                        "a sweep list of that size would also plan far more trials than can run)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return raw, compose(text, source)
