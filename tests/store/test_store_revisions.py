"""The shipped schema revisions as oncall reads them without alembic, against alembic's own
reading of the same migration files; and a process at the current schema never imports alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from oncall.errors import StoreError
from oncall.store import revisions
from oncall.store.db import alembic_config, current_revision, make_engine, upgrade


def test_the_shipped_revisions_and_head_are_alembics() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert {s.revision: s.down_revision for s in scripts.walk_revisions()} == revisions.shipped()
    assert scripts.get_current_head() == revisions.head()
    assert revisions.known(revisions.head()) and not revisions.known("9999")


def test_a_process_whose_database_is_current_never_imports_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    engine = make_engine(url)
    upgrade(engine)  # a fresh file: alembic creates the schema
    engine.dispose()
    code = ("import sys; from oncall.store.db import make_engine, upgrade; from oncall.daemon.gate import SchemaGate;"
            f"e = make_engine({url!r}); upgrade(e); g = SchemaGate(e); assert g.refresh().open, g.refresh();"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "[]" == done.stdout.strip()


def test_the_revision_is_read_without_alembic_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'o.db'}")
    assert current_revision(engine) is None
    upgrade(engine)
    assert revisions.head() == current_revision(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="newer oncall"):
        upgrade(engine)
    engine.dispose()


def test_a_migration_file_without_a_revision_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "v0001_x.py").write_text('revision = "0001"\ndown_revision = None\n')
    (tmp_path / "v0002_y.py").write_text("down_revision = '0001'\n")
    monkeypatch.setattr(revisions, "VERSIONS", tmp_path)
    revisions.shipped.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"v0002_y\.py"):
            revisions.shipped()
    finally:
        monkeypatch.undo()
        revisions.shipped.cache_clear()
