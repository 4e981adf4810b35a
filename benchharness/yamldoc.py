"""YAML documents that remember where each key was written, for errors that name file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchharness.errors import UserError

Path_ = tuple[Any, ...]  # a location in the document: keys and list indexes


@dataclass
class Document:
    data: Any
    lines: dict[Path_, int]  # location -> 1-based line
    problems: list[tuple[int, Path_, str]]  # (line, location, message)


def compose(text: str, source: str) -> Document:
    """Parse YAML safely, keeping the line of every key and reporting duplicate keys.

    Raises UserError for syntax errors (with line and column) and empty files.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise UserError(_syntax_error_line(exc, source)) from None
    except yaml.YAMLError as exc:
        raise UserError(f"{source}:1: YAML error: {exc}") from None
    finally:
        loader.dispose()
    if node is None:
        raise UserError(f"{source}:1: file is empty; a scenario needs at least 'name'")
    doc = Document(None, {}, [])
    doc.data = _node_to_python(node, (), doc, yaml.SafeLoader(""))
    return doc


def _syntax_error_line(exc: yaml.MarkedYAMLError, source: str) -> str:
    """One line: where PyYAML noticed the problem, and where the construct it was reading began."""
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    message = " ".join((exc.problem or exc.context or "invalid YAML").split())
    if exc.context and exc.context_mark and exc.problem:
        start = exc.context_mark
        message += f" ({exc.context} that starts on line {start.line + 1}, column {start.column + 1})"
    return f"{where}: YAML syntax error: {message}"


def _node_to_python(node, path: Path_, doc: Document, constructor) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, (str, int, float, bool)):
                doc.problems.append((line, path, f"key {key!r} must be a plain name"))
                continue
            child = (*path, key)
            if key in result:
                doc.problems.append((line, child, f"duplicate key (first on line {doc.lines[child]}); "
                                     "YAML would silently keep the last value"))
                continue
            doc.lines[child] = line
            result[key] = _node_to_python(value_node, child, doc, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_node_to_python(item, (*path, i), doc, constructor) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)


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
    return repr(value)




def read_yaml(path: Path, what: str) -> tuple[bytes, Document]:
    """Read and compose a YAML file; raises UserError (one line, naming the file) if it cannot."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{source}: no such {what}") from None
    except OSError as exc:
        raise UserError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return raw, compose(text, source)
