"""The demo's banner tells a newcomer what to type in another terminal; typed literally in a
new shell (nothing exported), those commands file a page and acknowledge it by text."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from e2e_process import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
ONCALL = Path(sys.executable).with_name("oncall")


def test_the_banners_demo_commands_work_in_a_new_shell(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "demo-ticket.json", tmp_path / "examples")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "demo.env").write_text("ONCALL_SOURCES__GENERIC__SECRET=demo-secret-0123456789\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "oncall").symlink_to(ONCALL)
    shutil.copytree(REPO / "schedules", tmp_path / "schedules")
    listen = f"127.0.0.1:{free_port()}"
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ONCALL_LISTEN": listen}
    out = (tmp_path / "stdout.txt").open("wb")
    daemon = subprocess.Popen([str(ONCALL), "run"], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                              env={**clean, "ONCALL_SOURCES__GENERIC__SECRET": "demo-secret-0123456789",
                                   "ONCALL_LOG_FORMAT": "console"})
    try:
        banner = wait_until("the banner", lambda: "demo" in (t := (tmp_path / "stdout.txt").read_text())
                            and "sms-reply" in t and t)
        lines = banner.splitlines()
        start = next(i for i, ln in enumerate(lines) if "by hand:" in ln)
        by_hand = " ".join(ln.strip() for ln in lines[start:start + 2]).split("by hand:", 1)[1].rstrip(")")
        filed = subprocess.run(["bash", "-c", by_hand], cwd=tmp_path, env=clean, capture_output=True, text=True,
                               timeout=60)
        assert 0 == filed.returncode, filed.stderr
        assert filed.stdout.startswith("202 ")

        def incidents() -> list[dict[str, object]]:
            result = subprocess.run([".venv/bin/oncall", "incidents", "--json"], cwd=tmp_path, env=clean,
                                    capture_output=True, text=True, timeout=60)
            return list(json.loads(result.stdout)) if result.returncode == 0 else []

        wait_until("the demo incident", incidents)
        [reply_hint] = [ln.strip() for ln in lines if "sms-reply" in ln]

        def reply_acknowledges() -> bool:
            # until the page has gone out, the reply is answered "You have no open page"
            subprocess.run(["bash", "-c", reply_hint], cwd=tmp_path, env=clean, capture_output=True, text=True,
                           timeout=60, check=True)
            return [inc["state"] for inc in incidents()] == ["acknowledged"]

        wait_until("the text reply to acknowledge the page", reply_acknowledges)
    finally:
        daemon.terminate()
        daemon.wait(20)
        out.close()
