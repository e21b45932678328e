"""Commands that read or change state act on the service's database, or say they can't.

They run as an admin would: the real ``oncall`` process, from a directory that is not the
repository, and never create a database by accident.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from oncall import __version__
from oncall.config.loader import load
from oncall.directory import SnapshotDirectory
from oncall.incidents.model import TicketSummary
from oncall.incidents.service import IncidentService
from oncall.store.db import make_engine, upgrade

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "eastern-emergency"
SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def oncall(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
    return subprocess.run([sys.executable, "-m", "oncall", *args], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def service_dir(tmp_path: Path) -> Path:
    """A configuration directory whose oncall.toml names a database holding incident #1."""
    config = tmp_path / "etc"
    shutil.copytree(EXAMPLE, config)
    db = tmp_path / "state" / "oncall.db"
    (config / "oncall.toml").write_text(f'database_url = "sqlite:///{db}"\n')
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    snapshot = load(config, now=T0)
    service = IncidentService(engine, lambda: SnapshotDirectory(snapshot))
    service.open_or_update(TicketSummary(source="generic", ticket_id="T-7", subject="Checkout down"),
                           "emergency", T0)
    engine.dispose()
    return config


@pytest.mark.parametrize("command", [["incidents"], ["incidents", "--open"], ["ack", "3"],
                                     ["incidents", "show", "1"], ["db", "status"]])
def test_without_a_database_a_state_command_says_where_it_looked_and_creates_nothing(
        tmp_path: Path, command: list[str]) -> None:
    result = oncall(*command, cwd=tmp_path)
    assert 0 != result.returncode
    [line] = result.stderr.strip().splitlines()
    assert f"no oncall database at {tmp_path}/var/oncall.db" in line
    assert "ONCALL_DATABASE_URL is not set" in line and "--config" in line
    assert [] == list(tmp_path.iterdir())  # no ./var, no empty database


def test_the_configuration_directorys_database_url_is_used_from_anywhere(
        service_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = oncall("--config", str(service_dir), "incidents", "--json", cwd=elsewhere)
    assert 0 == listed.returncode, listed.stderr
    assert ["T-7"] == [i["ticket_id"] for i in json.loads(listed.stdout)]
    acked = oncall("--config", str(service_dir), "ack", "1", "--as", "erin", cwd=elsewhere)
    assert 0 == acked.returncode, acked.stderr
    assert "acknowledged by erin" in acked.stdout
    assert [] == list(elsewhere.iterdir())


def test_the_environment_names_the_database_too(service_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "state" / "oncall.db"
    (service_dir / "oncall.toml").unlink()
    result = oncall("--config", str(service_dir), "incidents", cwd=tmp_path,
                    env={"ONCALL_DATABASE_URL": f"sqlite:///{db}"})
    assert 0 == result.returncode, result.stderr
    assert "T-7" in result.stdout


def test_a_missing_file_named_by_oncall_toml_is_reported_with_its_origin(tmp_path: Path) -> None:
    (tmp_path / "oncall.toml").write_text('database_url = "sqlite:////nonexistent/oncall.db"\n')
    result = oncall("--config", str(tmp_path), "incidents", cwd=tmp_path)
    assert 0 != result.returncode
    assert f"no oncall database at /nonexistent/oncall.db (from database_url in {tmp_path}/oncall.toml)" \
        in result.stderr
    assert not Path("/nonexistent").exists()


def test_a_file_without_oncall_tables_is_not_taken_for_the_service(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.commit()
    result = oncall("incidents", cwd=tmp_path, env={"ONCALL_DATABASE_URL": f"sqlite:///{tmp_path}/other.db"})
    assert 0 != result.returncode
    assert "holds no oncall data" in result.stderr and "from ONCALL_DATABASE_URL" in result.stderr


def test_a_schema_this_version_does_not_know_is_refused(service_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "state" / "oncall.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'v9999_future'"))
    engine.dispose()
    result = oncall("--config", str(service_dir), "incidents", cwd=tmp_path)
    assert 0 != result.returncode
    assert "written by a newer oncall (schema v9999_future)" in result.stderr


def test_an_older_daemon_refuses_a_newer_schema_instead_of_running_on_it(service_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "state" / "oncall.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'v9999_future'"))
    engine.dispose()
    result = oncall("--config", str(service_dir), "run", cwd=tmp_path,
                    env={"ONCALL_LISTEN": "127.0.0.1:9", "ONCALL_LOG_FORMAT": "console"})
    assert 1 == result.returncode
    assert "written by a newer oncall (schema v9999_future)" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_backup_copies_the_live_database(service_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "backup.db"
    result = oncall("--config", str(service_dir), "db", "backup", str(target), cwd=tmp_path)
    assert 0 == result.returncode, result.stderr
    with sqlite3.connect(target) as copy:
        assert [("T-7",)] == copy.execute("SELECT ticket_id FROM incidents").fetchall()
    again = oncall("--config", str(service_dir), "db", "backup", str(target), cwd=tmp_path)
    assert 0 != again.returncode and "exists" in again.stderr


def test_db_upgrade_reports_a_current_schema(service_dir: Path, tmp_path: Path) -> None:
    result = oncall("--config", str(service_dir), "db", "upgrade", cwd=tmp_path)
    assert 0 == result.returncode, result.stderr
    assert "already current" in result.stdout


def test_version(tmp_path: Path) -> None:
    result = oncall("--version", cwd=tmp_path)
    assert (0, f"oncall {__version__}") == (result.returncode, result.stdout.strip())


def test_oncall_admin_runs_the_cli_with_the_services_configuration(service_dir: Path, tmp_path: Path) -> None:
    """The wrapper hands systemd-run the service's user, directories and secrets; a stand-in
    systemd-run that applies --setenv and runs the command shows the CLI reaches the state."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "oncall").write_text(f"#!/bin/sh\nexec {sys.executable} -m oncall \"$@\"\n")
    record = tmp_path / "systemd-run-args"
    (bin_dir / "systemd-run").write_text(
        "#!/bin/sh\n"
        f"printf '%s\\n' \"$@\" > {record}\n"
        "while [ \"$1\" != -- ]; do case $1 in --setenv=*) export \"${1#--setenv=}\";; esac; shift; done\n"
        "shift; exec \"$@\"\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    result = subprocess.run(
        [str(SYSTEMD / "oncall-admin"), "incidents", "--json"], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "ONCALL_PREFIX": str(tmp_path),
                         "ONCALL_CONFIG_DIR": str(service_dir), "SUDO_USER": "erin"})
    assert 0 == result.returncode, result.stderr
    assert ["T-7"] == [i["ticket_id"] for i in json.loads(result.stdout)]
    args = record.read_text().splitlines()
    for expected in ["--property=DynamicUser=yes", "--property=User=oncall", "--property=StateDirectory=oncall",
                     f"--property=EnvironmentFile=-{service_dir}/secrets.env", "--setenv=ONCALL_ACTOR=erin"]:
        assert expected in args


def test_incident_times_are_shown_in_the_readers_zone_with_the_offset(service_dir: Path, tmp_path: Path) -> None:
    ny = oncall("--config", str(service_dir), "incidents", cwd=tmp_path, env={"TZ": "America/New_York"})
    london = oncall("incidents", "--config", str(service_dir), cwd=tmp_path, env={"TZ": "Europe/London"})
    assert "2026-11-26 02:00-05:00 EST" in ny.stdout, ny.stderr
    assert "2026-11-26 07:00+00:00 GMT" in london.stdout, london.stderr


def test_sms_reply_from_an_unknown_person_is_refused(service_dir: Path, tmp_path: Path) -> None:
    result = oncall("--config", str(service_dir), "sms-reply", "mallory", "aa", cwd=tmp_path)
    assert 2 == result.returncode and "unknown person 'mallory'" in result.stderr
