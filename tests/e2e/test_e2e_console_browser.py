"""The console in a real browser against the real daemon: sign in with a login link, see a
page arrive, acknowledge it, make an override, run Explain; at phone and desktop sizes, with
axe-core finding no serious or critical accessibility violation on any page visited.

One daemon and one browser serve the whole module; each test has its own browser context
(its own cookies)."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from console_browser import DESKTOP, PHONE, assert_accessible, assert_no_horizontal_scroll, launch
from e2e_process import API_TOKEN, CONFIG, ONCALL, SECRET, DaemonProcess, free_port, ticket, wait_until

from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as twilio:
        yield twilio


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, fake: FakeTwilio) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("console")
    config = tmp / "config"
    config.mkdir()
    for name, text in CONFIG.items():
        (config / name).write_text(text)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONCALL_", "TWILIO_"))}
    env.update({
        "ONCALL_CONFIG": str(config), "ONCALL_DATABASE_URL": f"sqlite:///{tmp / 'oncall.db'}",
        "ONCALL_LISTEN": f"127.0.0.1:{port}", "ONCALL_PUBLIC_URL": url,
        "ONCALL_TWILIO__ACCOUNT_SID": ACCOUNT_SID, "ONCALL_TWILIO__AUTH_TOKEN": AUTH_TOKEN,
        "ONCALL_TWILIO__FROM_NUMBER": FROM_NUMBER, "ONCALL_TWILIO__API_BASE_URL": fake.base_url,
        "ONCALL_SOURCES__GENERIC__SECRET": SECRET, "ONCALL_API_TOKEN": API_TOKEN,
        "ONCALL_ENGINE_TICK_SECONDS": "0.5", "ONCALL_RELOAD_CHECK_SECONDS": "3600",
        "ONCALL_HANDOFF_NOTICES": "false", "ONCALL_CONSOLE__REFRESH_SECONDS": "1",
    })
    assert ONCALL.exists()
    proc = DaemonProcess(env=env, dir=tmp, url=url)
    proc.start()
    yield proc
    proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def new_page(browser: Any, size: dict[str, int], scheme: str = "light") -> Any:
    context = browser.new_context(viewport=size, color_scheme=scheme, bypass_csp=True)  # lets axe-core in
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def sign_in(daemon: DaemonProcess, page: Any, person: str) -> None:
    result = daemon.cli("login-link", person)
    assert 0 == result.returncode, result.stderr
    url = result.stdout.strip()
    assert url.startswith(daemon.url + "/signin/link?token=")
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(daemon.url + "/")


def who(daemon: DaemonProcess) -> dict[str, list[str]]:
    result = daemon.cli("who", "--json")
    assert 0 == result.returncode, result.stderr
    return dict(json.loads(result.stdout))


def test_nothing_but_the_sign_in_page_without_a_session(daemon: DaemonProcess, browser: Any) -> None:
    page = new_page(browser, PHONE)
    for path in ("/", "/oncall", "/overrides", "/admin", "/admin/explain", "/incidents/1", "/shifts"):
        page.goto(daemon.url + path)
        assert page.url.startswith(daemon.url + "/signin?next=")
        assert page.get_by_role("heading", name="Sign in").is_visible()
    assert_accessible(page)
    assert_no_horizontal_scroll(page)
    page.context.close()


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_page_arrives_in_the_list_and_acknowledging_it_stops_paging(
        daemon: DaemonProcess, browser: Any, fake: FakeTwilio, size: dict[str, int]) -> None:
    page = new_page(browser, size)
    sign_in(daemon, page, "erin")
    assert_accessible(page)
    ticket_id = f"WEB-{size['width']}"
    assert 202 == daemon.post_ticket(ticket(ticket_id, "fast")).status_code
    # The open list refreshes itself: the new incident appears without a reload.
    item = page.locator("li.incident", has_text=ticket_id)
    item.wait_for()
    incident = wait_until("the incident", lambda: next(
        (i for i in daemon.incidents() if i["ticket_id"] == ticket_id), None))
    assert_no_horizontal_scroll(page)
    item.get_by_role("link").click()
    page.wait_for_url(f"{daemon.url}/incidents/{incident['id']}")
    assert page.get_by_role("button", name="Escalate").is_visible()
    assert page.get_by_role("button", name="Resolve").is_visible()
    assert_accessible(page)
    assert_no_horizontal_scroll(page)
    wait_until("the first page", lambda: any(m.body and ticket_id in m.body for m in fake.messages))
    page.get_by_role("button", name="Acknowledge").click()
    page.get_by_text("Incident acknowledged.").wait_for()
    assert "acknowledged" == daemon.api(f"/api/incidents/{incident['id']}")["state"]
    assert "erin" == daemon.api(f"/api/incidents/{incident['id']}")["acknowledged_by"]
    audit = daemon.api(f"/api/incidents/{incident['id']}")["audit"]
    assert [("erin", "web")] == [(a["actor"], a["channel"]) for a in audit if a["kind"] == "acknowledged"]
    # The "fast" policy escalates every second: after the ack nothing more goes out for it.
    sent = len(fake_requests(fake))
    time.sleep(2.5)
    assert sent == len(fake_requests(fake))
    assert page.get_by_text("Acknowledged by Erin Evans").is_visible()
    assert_accessible(page)
    page.context.close()


def fake_requests(fake: FakeTwilio) -> list[Any]:
    return list(fake.messages) + list(fake.calls)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_an_override_made_on_the_web_changes_who_and_the_cli_removes_it(
        daemon: DaemonProcess, browser: Any, size: dict[str, int]) -> None:
    page = new_page(browser, size)
    sign_in(daemon, page, "gina")
    on_call = who(daemon)["emergency"]
    assert ["gina"] != on_call
    page.get_by_role("link", name="Overrides").click()
    assert_accessible(page)
    assert_no_horizontal_scroll(page)
    page.get_by_label("Who covers").select_option("gina")
    page.get_by_label("Instead of").select_option(on_call[0])
    now = datetime.now(UTC).astimezone(ZoneInfo("America/New_York"))
    page.get_by_label("From").fill((now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("To").fill((now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Reason").fill("browser test")
    page.get_by_role("button", name="Create override").click()
    done = page.get_by_text(re.compile(r"Override added web-"))
    done.wait_for()
    ident = re.search(r"web-\d{4}-\d\d-\d\d-[a-z]+(?:-\d+)?", done.inner_text()).group(0)  # type: ignore[union-attr]
    assert ["gina"] == who(daemon)["emergency"]
    listed = daemon.cli("override", "list")
    assert ident in listed.stdout and "[web]" in listed.stdout
    # The same override again overlaps: refused with the reason, as `oncall override add` would.
    page.get_by_label("Who covers").select_option("gina")
    page.get_by_label("Instead of").select_option(on_call[0])
    page.get_by_label("From").fill((now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("To").fill((now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Create override").click()
    page.get_by_text(re.compile("overlaps override")).wait_for()
    removed = daemon.cli("override", "remove", ident)
    assert 0 == removed.returncode, removed.stderr
    assert on_call == who(daemon)["emergency"]
    page.goto(daemon.url + "/oncall")
    page.get_by_role("heading", name=re.compile("next 14 days")).wait_for()
    assert_accessible(page)
    assert_no_horizontal_scroll(page)
    page.context.close()


def test_explain_shows_the_decision_with_every_reason(daemon: DaemonProcess, browser: Any) -> None:
    page = new_page(browser, DESKTOP)
    sign_in(daemon, page, "gina")
    page.get_by_role("link", name="Admin").click()
    page.get_by_text("Readiness").wait_for()
    assert_accessible(page)
    page.get_by_role("link", name="Explain a ticket").click()
    body = {"id": "EXPLAIN-1", "subject": "Production down", "priority": "urgent", "customer": "quiet",
            "created_at": "2026-11-28T03:00:00-05:00"}
    page.get_by_label("Ticket JSON").fill(json.dumps(body))
    page.get_by_role("button", name="Explain").click()
    result = page.locator("#result")
    result.wait_for()
    assert "No page" == result.locator("h2").inner_text()
    assert "rule 'otherwise' matched" in result.inner_text() or "otherwise" in result.inner_text()
    assert_accessible(page)
    page.set_viewport_size(PHONE)
    assert_no_horizontal_scroll(page)
    page.context.close()


def test_a_person_who_is_not_an_admin_is_refused_the_admin_pages(daemon: DaemonProcess, browser: Any) -> None:
    page = new_page(browser, PHONE, scheme="dark")
    sign_in(daemon, page, "frank")
    assert 0 == page.get_by_role("link", name="Admin").count()
    response = page.goto(daemon.url + "/admin")
    assert 403 == response.status
    # The other pages, in the dark scheme a phone at night likely uses.
    for path in ("/", "/oncall", "/shifts", "/overrides"):
        page.goto(daemon.url + path)
        assert_accessible(page)
        assert_no_horizontal_scroll(page)
    page.context.close()
