"""Editing overrides as YAML an admin can review in git (``oncall override add|remove``).

Edits are textual so other entries and comments survive: a new override is inserted as
a block-list item after the existing ones, a removed one has exactly its lines cut.
Each edit is re-parsed and compared with the intended result; if the file's layout
defeats the textual edit, the file is rewritten from its parsed content instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from oncall.errors import ScheduleError
from oncall.schedules.models import Override

OVERRIDES_FILE = "overrides.yaml"
_HEADER = ("# Overrides: who covers which schedule when. Managed with `oncall override add|remove`;\n"
           "# hand edits are fine too.\n")
_FIELDS = ("id", "schedule", "person", "replaces", "start", "end", "reason")


def new_override_id(override_start: datetime, person: str, tz: ZoneInfo,
                    taken: Collection[str]) -> str:
    """'ovr-2026-12-24-dave', with '-2', '-3'… when that id is taken."""
    base = f"ovr-{override_start.astimezone(tz).date().isoformat()}-{person}"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def problems_with(override: Override, *, existing: Iterable[Override], people_ids: Collection[str],
                  schedule_ids: Collection[str], now: datetime) -> list[str]:
    """Why ``override`` must not be added (empty: fine)."""
    out = []
    if override.schedule not in schedule_ids:
        out.append(f"unknown schedule {override.schedule!r} (known: {', '.join(sorted(schedule_ids))})")
    for role, who in (("person", override.person), ("replaced person", override.replaces)):
        if who is not None and who not in people_ids:
            out.append(f"unknown {role} {who!r}; add them to people first")
    if override.end <= override.start:
        out.append(f"the window ends ({override.end.isoformat()}) before it starts "
                   f"({override.start.isoformat()})")
    elif override.end <= now:
        out.append(f"the window ended in the past ({override.end.isoformat()})")
    for other in existing:
        if other.id == override.id:
            out.append(f"an override with id {override.id!r} already exists")
        elif (other.schedule, other.replaces) == (override.schedule, override.replaces) \
                and other.start < override.end and override.start < other.end:
            slot = f"{override.replaces!r}'s slot" if override.replaces else "the whole schedule"
            out.append(f"overlaps override {other.id!r} ({other.person}, {other.start.isoformat()}"
                       f" to {other.end.isoformat()}) for {slot}; remove it first "
                       f"(oncall override remove {other.id})")
    return out


def _scalar(value: str) -> str:
    """Plain when YAML reads it back as the same string, else double-quoted (JSON syntax)."""
    try:
        plain_ok = yaml.safe_load(f"k: {value}") == {"k": value}
    except yaml.YAMLError:
        plain_ok = False
    return value if plain_ok and "#" not in value else json.dumps(value)


def _content_end(lines: list[str], start: int, end: int) -> int:
    """Move ``end`` back over blank and comment-only lines (they belong to what follows)."""
    while end > start + 1 and (not lines[end - 1].strip()
                               or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def _entry_lines(override: Override, indent: str) -> list[str]:
    data = override.model_dump(mode="json", by_alias=True)
    lines = []
    for i, key in enumerate(_FIELDS):
        value = data.get(key)
        if value is None:
            continue
        lead = f"{indent}- " if i == 0 else f"{indent}  "
        lines.append(f"{lead}{key}: {_scalar(value)}\n")
    return lines


def _overrides_node(text: str) -> tuple[yaml.MappingNode | None, int | None]:
    """The root mapping and the index of its 'overrides' pair (None when absent)."""
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return None, None
    for i, (key, _value) in enumerate(root.value):
        if isinstance(key, yaml.ScalarNode) and key.value == "overrides":
            return root, i
    return root, None


def _line_end(mark: Any) -> int:
    """Index of the first line after a node ending at ``mark``."""
    return int(mark.line) if mark.column == 0 else int(mark.line) + 1


def _listed(text: str) -> list[dict[str, Any]]:
    data = yaml.safe_load(text) if text.strip() else None
    items = data.get("overrides") if isinstance(data, dict) else None
    return list(items or [])


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # atomic: the daemon's reload never sees half a file


def _rewrite(text: str, items: list[dict[str, Any]]) -> str:
    data = yaml.safe_load(text) if text.strip() else None
    data = data if isinstance(data, dict) else {}
    data["overrides"] = items
    return _HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _inserted(text: str, override: Override) -> str:
    if not text.strip():
        return _HEADER + "overrides:\n" + "".join(_entry_lines(override, "  "))
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    root, index = _overrides_node(text)
    if root is None:
        raise ValueError("not a mapping")
    if index is None:
        return "".join([*lines, "overrides:\n", *_entry_lines(override, "  ")])
    key, value = root.value[index]
    if isinstance(value, yaml.SequenceNode) and value.value and not value.flow_style:
        indent = " " * value.start_mark.column
        last = value.value[-1]
        at = _content_end(lines, last.start_mark.line, _line_end(last.end_mark))
        return "".join([*lines[:at], *_entry_lines(override, indent), *lines[at:]])
    if (isinstance(value, yaml.SequenceNode) and not value.value) or (
            isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null")):
        row = key.start_mark.line
        new = [f"{' ' * key.start_mark.column}overrides:\n", *_entry_lines(override, "  ")]
        return "".join([*lines[:row], *new, *lines[row + 1:]])
    raise ValueError("unusual layout")


def add_override(config_dir: Path, override: Override, *, existing: tuple[Override, ...],
                 people_ids: Collection[str], schedule_ids: Collection[str],
                 now: datetime) -> Path:
    """Append ``override`` to ``<config_dir>/overrides.yaml``; ScheduleError when refused."""
    problems = problems_with(override, existing=existing, people_ids=people_ids,
                             schedule_ids=schedule_ids, now=now)
    if problems:
        raise ScheduleError(f"override {override.id!r} refused: " + "; ".join(problems))
    path = config_dir / OVERRIDES_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        before = _listed(text)
    except yaml.YAMLError as exc:
        raise ScheduleError(f"{path} is not valid YAML; fix it first: {exc}") from None
    wanted = [*before, override.model_dump(mode="json", by_alias=True, exclude_none=True)]
    try:
        new_text = _inserted(text, override)
        ok = _listed(new_text) == wanted
    except (ValueError, yaml.YAMLError, AttributeError):
        ok = False
    if not ok:
        new_text = _rewrite(text, wanted)
    _write(path, new_text)
    return path


def _removed(text: str, override_id: str) -> str | None:
    """``text`` without the override item ``override_id``; None when not in this file."""
    root, index = _overrides_node(text)
    if root is None or index is None:
        return None
    key, seq = root.value[index]
    if not isinstance(seq, yaml.SequenceNode):
        return None
    lines = text.splitlines(keepends=True)
    for n, item in enumerate(seq.value):
        ident = next((v.value for k, v in getattr(item, "value", [])
                      if isinstance(k, yaml.ScalarNode) and k.value == "id"
                      and isinstance(v, yaml.ScalarNode)), None)
        if ident != override_id:
            continue
        if seq.flow_style:
            raise ValueError("flow style")
        start = item.start_mark.line
        end = _content_end(lines, start, seq.value[n + 1].start_mark.line
                           if n + 1 < len(seq.value) else _line_end(item.end_mark))
        kept = [*lines[:start], *lines[end:]]
        if len(seq.value) == 1:  # now empty: say so rather than leave `overrides:` as null
            row = key.start_mark.line
            kept[row] = f"{' ' * key.start_mark.column}overrides: []\n"
        return "".join(kept)
    return None


def remove_override(config_dir: Path, override_id: str) -> Path:
    """Delete override ``override_id`` from whichever YAML file in ``config_dir`` holds it."""
    files = sorted([*config_dir.rglob("*.yaml"), *config_dir.rglob("*.yml")])
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            before = _listed(text)
        except (yaml.YAMLError, AttributeError):
            continue
        if not any(isinstance(i, dict) and i.get("id") == override_id for i in before):
            continue
        wanted = [i for i in before if not (isinstance(i, dict) and i.get("id") == override_id)]
        try:
            new_text = _removed(text, override_id)
            ok = new_text is not None and _listed(new_text) == wanted
        except (ValueError, yaml.YAMLError):
            new_text, ok = None, False
        _write(path, new_text if ok and new_text is not None else _rewrite(text, wanted))
        return path
    raise ScheduleError(f"no override with id {override_id!r} in {config_dir} "
                        "(see `oncall override list`)")


def list_overrides(overrides: Iterable[Override], *, schedule: str | None = None,
                   after: datetime | None = None) -> list[Override]:
    """Overrides (optionally of one schedule, optionally still running after ``after``) by start."""
    return sorted((o for o in overrides
                   if (schedule is None or o.schedule == schedule)
                   and (after is None or o.end > after)),
                  key=lambda o: (o.start, o.id))
