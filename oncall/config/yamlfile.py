"""YAML reading that remembers where every value came from (file and line).

Errors found later by validation are reported as ``file:line: reason``; the line
comes from :class:`Located` containers built here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from oncall.errors import ConfigIssue


class LocatedDict(dict[str, Any]):
    """A mapping that knows the line of each of its keys (1-based)."""

    file: str = "<unknown>"
    line: int | None = None
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    """A sequence that knows the line of each of its items (1-based)."""

    file: str = "<unknown>"
    line: int | None = None
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    """SafeLoader building Located containers; duplicate keys are errors."""

    file_name = "<unknown>"


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    result = LocatedDict()
    result.file = loader.file_name
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.MarkedYAMLError(
                "while constructing a mapping", node.start_mark,
                "keys must be plain values", key_node.start_mark,
            )
        skey = str(key) if not isinstance(key, str) else key
        if skey in result:
            raise yaml.MarkedYAMLError(
                "while constructing a mapping", node.start_mark,
                f"duplicate key {skey!r}", key_node.start_mark,
            )
        result[skey] = loader.construct_object(value_node, deep=True)
        result.key_lines[skey] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    result.file = loader.file_name
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _construct_timestamp_as_text(loader: _Loader, node: yaml.ScalarNode) -> str:
    # YAML 1.1 turns 2026-07-04 and 2026-07-04T00:00:00 into date/naive datetime objects,
    # silently dropping a time zone in some spellings. Keep the text; pydantic parses it
    # and rejects naive timestamps where a zone is required.
    return str(loader.construct_scalar(node))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_text)


def read_yaml(path: Path, display: str | None = None) -> tuple[Any, list[ConfigIssue]]:
    """Read one YAML file. Returns (data, issues); data is None when unreadable."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ConfigIssue(file=name, message=f"cannot read file: {exc}")]
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> tuple[Any, list[ConfigIssue]]:
    try:
        loader = _Loader(text)  # the reader rejects control characters right here
    except yaml.reader.ReaderError as exc:
        bad_line = text.count("\n", 0, exc.position) + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return None, [ConfigIssue(file=name, line=bad_line, message=f"invalid YAML: unacceptable character "
                                                                 f"{char}: {exc.reason}")]
    loader.file_name = name
    try:
        return loader.get_single_data(), []
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(p for p in (exc.context, exc.problem) if p)
        return None, [ConfigIssue(file=name, line=line, message=f"invalid YAML: {reason}")]
    except yaml.YAMLError as exc:
        return None, [ConfigIssue(file=name, message=f"invalid YAML: {exc}")]
    finally:
        loader.dispose()


def locate(data: Any, path: tuple[int | str, ...]) -> tuple[str | None, int | None]:
    """Walk ``path`` into located data; return (file, line) of the deepest located node."""
    file: str | None = getattr(data, "file", None)
    line: int | None = getattr(data, "line", None)
    node = data
    for part in path:
        if isinstance(node, LocatedDict) and isinstance(part, str):
            if part in node.key_lines:
                line = node.key_lines[part]
            if part not in node:
                break
            node = node[part]
        elif isinstance(node, LocatedList) and isinstance(part, int):
            if 0 <= part < len(node):
                line = node.item_lines[part]
                node = node[part]
            else:
                break
        else:
            break
        file = getattr(node, "file", file)
    return file, line
