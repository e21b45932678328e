"""The schema revisions this version of oncall ships, read from its migration files without
importing alembic: a running daemon asks for them at start-up and its schema gate every
second, and alembic (with mako) would stay in every process's memory for that alone. alembic
itself is imported only to migrate (:func:`oncall.store.db.upgrade`, when the database is
behind) and by ``oncall db``."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

VERSIONS = Path(__file__).parent / "migrations" / "versions"


@functools.cache
def shipped() -> dict[str, str | None]:
    """Each shipped revision and the one it revises (``None`` for the first)."""
    found: dict[str, str | None] = {}
    for path in sorted(VERSIONS.glob("*.py")):
        names: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                if node.targets[0].id in ("revision", "down_revision"):
                    names[node.targets[0].id] = ast.literal_eval(node.value)
        revision, down = names.get("revision"), names.get("down_revision")
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            raise RuntimeError(f"{path}: a migration names its revision and the one it revises as strings")
        found[revision] = down
    return found


def known(revision: str) -> bool:
    """Whether ``revision`` is one of the migrations this code ships."""
    return revision in shipped()


@functools.cache
def head() -> str:
    """The revision no shipped migration revises: the schema this code runs on."""
    revised = set(shipped().values())
    heads = [r for r in shipped() if r not in revised]
    if len(heads) != 1:
        raise RuntimeError(f"the shipped migrations have {len(heads)} heads ({', '.join(sorted(heads))}), not one")
    return heads[0]
