"""Load a configuration directory into one validated, immutable :class:`Snapshot`.

``load`` returns a snapshot or raises :class:`ConfigError` listing every problem with
``file:line: reason``; it never returns half a configuration, so a bad edit can never
replace a good snapshot.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from oncall.config.sections import list_sections, mapping_sections
from oncall.config.snapshot import Snapshot
from oncall.config.yamlfile import LocatedDict, LocatedList, locate, read_yaml
from oncall.errors import ConfigError, ConfigIssue
from oncall.fields import Model
from oncall.findings import Finding


def config_files(directory: Path) -> list[Path]:
    files = [
        p for p in directory.rglob("*")
        if p.suffix in (".yaml", ".yml") and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(directory).as_posix())


def digest(directory: Path) -> str:
    """A fingerprint of every configuration file (names, sizes, contents)."""
    h = hashlib.sha256()
    paths = config_files(directory) if directory.is_dir() else []
    toml = directory / "oncall.toml"
    for p in [*paths, toml] if toml.is_file() else paths:
        h.update(p.as_posix().encode())
        try:
            h.update(p.read_bytes())
        except OSError:
            h.update(b"<unreadable>")
    return h.hexdigest()


class _Merged:
    """Raw sections merged across files, remembering where each item came from."""

    def __init__(self) -> None:
        self.lists: dict[str, LocatedList] = {}
        self.maps: dict[str, LocatedDict] = {}
        self.issues: list[ConfigIssue] = []

    def add_file(self, data: Any, name: str) -> None:
        if data is None:
            return
        if not isinstance(data, LocatedDict):
            self.issues.append(ConfigIssue(
                file=name, line=getattr(data, "line", 1),
                message="a configuration file must be a mapping of sections "
                        f"({', '.join(sorted({*list_sections(), *mapping_sections()}))})",
            ))
            return
        for key, value in data.items():
            line = data.key_lines.get(key)
            if key.startswith("x-"):
                continue  # extension keys hold YAML anchors shared by several items
            if key in list_sections():
                if value is None:
                    continue
                if not isinstance(value, LocatedList):
                    self.issues.append(ConfigIssue(file=name, line=line, message=f"section {key!r} must be a list"))
                    continue
                merged = self.lists.setdefault(key, _new_list())
                merged.extend(value)
                merged.item_lines.extend(value.item_lines)
            elif key in mapping_sections():
                if value is None:
                    continue
                if key in self.maps:
                    first = self.maps[key]
                    self.issues.append(ConfigIssue(
                        file=name, line=line,
                        message=f"section {key!r} is already defined in {first.file}:{first.line}",
                    ))
                elif not isinstance(value, LocatedDict):
                    self.issues.append(ConfigIssue(file=name, line=line, message=f"section {key!r} must be a mapping"))
                else:
                    self.maps[key] = value
            else:
                known = sorted({*list_sections(), *mapping_sections()})
                hint = difflib.get_close_matches(key, known, n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(known)})"
                self.issues.append(ConfigIssue(file=name, line=line, message=f"unknown section {key!r}{suggestion}"))


def _new_list() -> LocatedList:
    lst = LocatedList()
    lst.item_lines = []
    return lst


def _follow_on(err: Any, errors: list[Any]) -> bool:
    """A list's "too short" that only repeats that one of its items failed.

    pydantic counts a list's length after dropping the items that failed, so a layer whose
    only restriction has a bad day would also report "layers: at least 1 item, not 0".
    """
    loc = tuple(err["loc"])
    return err["type"] == "too_short" and any(
        len(other["loc"]) > len(loc) and tuple(other["loc"][:len(loc)]) == loc for other in errors)


def _validation_issues(exc: ValidationError, raw: Any, prefix: str) -> list[ConfigIssue]:
    issues = []
    errors = exc.errors()
    for err in errors:
        if _follow_on(err, errors):
            continue
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        file, line = locate(raw, loc)
        where = ".".join(str(p) for p in loc)
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        label = f"{prefix}.{where}" if where else prefix
        issues.append(ConfigIssue(file=file or "<config>", line=line, message=f"{label}: {msg}"))
    return issues


def _item_label(section: str, raw: Any, index: int) -> str:
    ident = raw.get("id") or raw.get("name") if isinstance(raw, dict) else None
    return f"{section}[{ident}]" if ident else f"{section}[{index}]"


Check = Callable[[Snapshot, datetime, timedelta], list[Finding]]


def load(directory: Path, *, now: datetime, horizon: timedelta = timedelta(days=28),
         checks: tuple[Check, ...] | None = None) -> Snapshot:
    """Load and validate everything; raise ConfigError (errors only) or return the snapshot."""
    snapshot, issues = check(directory, now=now, horizon=horizon, checks=checks)
    errors = [i for i in issues if i.severity == "error"]
    if snapshot is None or errors:
        raise ConfigError(errors or issues)
    return snapshot


def check(directory: Path, *, now: datetime, horizon: timedelta = timedelta(days=28),
          checks: tuple[Check, ...] | None = None) -> tuple[Snapshot | None, list[ConfigIssue]]:
    """Validate a configuration directory; returns (snapshot or None, every issue found)."""
    if not directory.is_dir():
        return None, [ConfigIssue(file=str(directory), message="configuration directory does not exist")]
    merged = _Merged()
    files = config_files(directory)
    if not files:
        return None, [ConfigIssue(file=str(directory), message="no *.yaml files in the configuration directory")]
    for path in files:
        data, issues = read_yaml(path, display=str(path))
        merged.issues.extend(issues)
        merged.add_file(data, str(path))
    issues = list(merged.issues)

    items: dict[str, tuple[Model, ...]] = {}
    origins: dict[str, list[int]] = {}
    for section, model in list_sections().items():
        raw_list = merged.lists.get(section, _new_list())
        good: list[Model] = []
        origin: list[int] = []
        for i, raw in enumerate(raw_list):
            try:
                good.append(model.model_validate(raw))
                origin.append(i)
            except ValidationError as exc:
                issues.extend(_validation_issues(exc, raw, _item_label(section, raw, i)))
        items[section] = tuple(good)
        origins[section] = origin
    singles: dict[str, Model] = {}
    for section, model in mapping_sections().items():
        raw_map = merged.maps.get(section)
        try:
            singles[section] = model.model_validate(raw_map or {})
        except ValidationError as exc:
            issues.extend(_validation_issues(exc, raw_map, section))
    if any(i.severity == "error" for i in issues):
        return None, issues

    try:
        snapshot = Snapshot.build(directory, items, singles, digest=digest(directory), loaded_at=now)
    except ConfigError as exc:
        return None, issues + exc.issues
    from oncall.config.checks import DEFAULT_CHECKS

    for run in checks if checks is not None else DEFAULT_CHECKS:
        for finding in run(snapshot, now, horizon):
            issues.append(_place(finding, merged, origins, directory))
    if any(i.severity == "error" for i in issues):
        return None, issues
    return snapshot.with_warnings(tuple(issues)), issues


def _place(f: Finding, merged: _Merged, origins: dict[str, list[int]], directory: Path) -> ConfigIssue:
    if not f.path:
        return ConfigIssue(file=str(directory), message=f.message, severity=f.severity)
    section, *rest = f.path
    raw: Any
    if isinstance(section, str) and section in merged.lists:
        raw = merged.lists[section]
        if rest and isinstance(rest[0], int) and rest[0] < len(origins.get(section, [])):
            rest[0] = origins[section][rest[0]]
    elif isinstance(section, str) and section in merged.maps:
        raw = merged.maps[section]
    else:
        return ConfigIssue(file=str(directory), message=f.message, severity=f.severity)
    file, line = locate(raw, tuple(rest))
    if rest and isinstance(rest[0], int) and isinstance(raw, LocatedList) and rest[0] < len(raw):
        file = getattr(raw[rest[0]], "file", file)
    return ConfigIssue(file=file or str(directory), line=line, message=f.message, severity=f.severity)
