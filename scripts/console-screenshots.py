#!/usr/bin/env python3
"""Regenerate the README's console screenshots (docs/console-phone.png, docs/console-desktop.png).

Starts the daemon on a copy of ./schedules (console transport, a temporary SQLite database),
files a few demo tickets, acknowledges one from the CLI, signs in with `oncall login-link`, and
photographs the console with Debian's Chromium through Playwright: an incident page on a
390×844 phone, the incident list and who is on call on a 1280×800 desktop.

Run from the repository root: ``.venv/bin/python scripts/console-screenshots.py``.
"""

# ruff: noqa: S105, S603 - a developer tool: fixed commands, a throwaway demo secret
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
ONCALL = Path(sys.executable).with_name("oncall")
CHROMIUM = "/usr/bin/chromium"
SECRET = "screenshot-demo-secret"
TICKETS = [
    ("DEMO-1041", "urgent", "demo", "Checkout API returns 502 for all EU customers"),
    ("DEMO-1042", "urgent", "demo", "Production database failover did not complete"),
    ("DEMO-1043", "urgent", "demo", "Customer portal login loops after SSO change"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="oncall-shots-"))
    config = tmp / "config"
    shutil.copytree(ROOT / "schedules", config)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONCALL_", "TWILIO_"))}
    env.update({"ONCALL_CONFIG": str(config), "ONCALL_DATABASE_URL": f"sqlite:///{tmp / 'oncall.db'}",
                "ONCALL_LISTEN": f"127.0.0.1:{port}", "ONCALL_SOURCES__GENERIC__SECRET": SECRET,
                "ONCALL_API_TOKEN": "screenshot-api-token", "ONCALL_LOG_FORMAT": "json",
                "ONCALL_HANDOFF_NOTICES": "false", "ONCALL_ENGINE_TICK_SECONDS": "1"})
    log = (tmp / "daemon.log").open("wb")
    daemon = subprocess.Popen([str(ONCALL), "run"], env=env, stdout=log, stderr=log)
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        for ident, priority, customer, subject in TICKETS:
            now = datetime.now(UTC).isoformat(timespec="seconds")
            body = json.dumps({"id": ident, "source": "generic", "subject": subject, "priority": priority,
                               "status": "new", "created_at": now, "customer": customer,
                               "environment": "production", "url": f"https://help.example.com/tickets/{ident}"})
            subprocess.run([str(ONCALL), "send-ticket", "-", "--url", url], input=body.encode(), env=env,
                           check=True, capture_output=True)
            time.sleep(1.5)
        time.sleep(2)
        subprocess.run([str(ONCALL), "ack", "1", "--as", "frank"], env=env, check=True, capture_output=True)
        link = subprocess.run([str(ONCALL), "login-link", "erin"], env=env, check=True, capture_output=True,
                              text=True).stdout.strip()
        shoot(url, link)
    finally:
        daemon.terminate()
        daemon.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def shoot(url: str, link: str) -> None:
    docs = ROOT / "docs"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                      color_scheme="dark")
        page = context.new_page()
        page.goto(link)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(url + "/")
        page.goto(url + "/incidents/3")
        page.screenshot(path=str(docs / "console-phone.png"))
        desktop = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light",
                                      storage_state=context.storage_state())
        page = desktop.new_page()
        page.goto(url + "/?state=all")
        page.screenshot(path=str(docs / "console-desktop.png"))
        if os.environ.get("ONCALL_SHOTS_EXTRA"):  # every page, for a look while working on them
            for path in ("/oncall", "/overrides", "/admin", "/shifts"):
                page.goto(url + path)
                page.screenshot(path=os.environ["ONCALL_SHOTS_EXTRA"] + path.replace("/", "-") + ".png",
                                full_page=True)
        browser.close()
    print(f"wrote {docs / 'console-phone.png'} and {docs / 'console-desktop.png'}")


if __name__ == "__main__":
    sys.exit(main())
