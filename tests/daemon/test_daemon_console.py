"""The web console through the daemon's ASGI app (no browser): sign-in by code and by login
link, sessions and CSRF, rate limits, acting on incidents as the signed-in person, overrides
made on the web merged everywhere, single sign-on through a proxy header, incident links."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from daemon_rig import MakeRig, Rig

from oncall.config.snapshot import with_stored_overrides
from oncall.web.console.auth import CODE_ATTEMPTS
from oncall.web.console.routes import build_console
from oncall.web.console.signin import incident_link_path

PAGES = ["/", "/incidents/1", "/oncall", "/shifts", "/overrides", "/admin", "/admin/explain"]


class Browser:
    """A cookie-keeping client on the daemon's app, as one browser would be."""

    def __init__(self, app: Any, peer: str = "203.0.113.7", base_url: str = "http://127.0.0.1:18080") -> None:
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(peer, 50000)),
                                        base_url=base_url)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.get(path, **kw))

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True,
             **kw: Any) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form["csrf"] = self.csrf()
        return self.loop.run_until_complete(self.client.post(path, data=form, **kw))

    def csrf(self) -> str:
        page = self.get("/signin")
        if page.status_code == 303:  # signed in: every page's sign-out form carries it too
            page = self.get("/shifts")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text[:500]
        return found.group(1)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture
def rig(make_rig: MakeRig) -> Rig:
    return make_rig(api_token="api-token-for-tests")


@pytest.fixture
def browser(rig: Rig) -> Iterator[Browser]:
    b = Browser(rig.daemon.build_app())
    yield b
    b.close()


def page_open(rig: Rig) -> int:
    rig.file("T-1")
    rig.work()
    return int(rig.daemon.service.list(open_only=True)[0].id)


def sign_in_with_link(rig: Rig, b: Browser, person: str = "erin") -> None:
    console = build_console(_deps(rig))
    token = console.tokens.new_link(person, rig.clock.now())
    assert 200 == b.get(f"/signin/link?token={token}").status_code
    answer = b.post("/signin/link", {"token": token})
    assert 303 == answer.status_code


def _deps(rig: Rig) -> Any:
    from oncall.web.console.core import ConsoleDeps

    d = rig.daemon
    return ConsoleDeps(service=d.service, snapshot=lambda: d.snapshot, engine=d.engine, clock=rig.clock.now,
                       settings=d.settings, transport=d.transport, overrides=d.overrides,
                       on_overrides_changed=d.refresh_overrides)


def test_nothing_but_the_sign_in_page_answers_without_a_session(rig: Rig, browser: Browser) -> None:
    page_open(rig)
    for path in PAGES:
        answer = browser.get(path)
        assert 303 == answer.status_code, path
        assert answer.headers["location"].startswith("/signin?next=")
    for path in ("/incidents/1/ack", "/overrides"):
        assert 303 == browser.post(path, {}).status_code
    assert "triggered" == rig.daemon.service.get(1).state.value
    assert 200 == browser.get("/signin").status_code


def test_a_code_goes_to_the_persons_own_phone_and_signs_them_in(rig: Rig, browser: Browser) -> None:
    answer = browser.post("/signin", {"who": "erin"})
    assert 200 == answer.status_code
    sent = [m for m in rig.transport.sent if "sign-in code" in m.text]
    assert ["+12025550143"] == [m.to for m in sent]
    code = re.search(r"code: (\d{6})", sent[0].text).group(1)  # type: ignore[union-attr]
    answer = browser.post("/signin/code", {"who": "erin", "code": code, "next": "/oncall"})
    assert (303, "/oncall") == (answer.status_code, answer.headers["location"])
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=43200" in cookie
    assert 200 == browser.get("/oncall").status_code
    # Spent: the same code does not sign in twice.
    other = Browser(rig.daemon.build_app())
    assert 401 == other.post("/signin/code", {"who": "erin", "code": code}).status_code
    other.close()


def test_an_unknown_person_gets_the_same_answer_and_no_message(rig: Rig, browser: Browser) -> None:
    known = browser.post("/signin", {"who": "erin"}).text
    unknown = browser.post("/signin", {"who": "mallory@example.com"}).text
    assert known.replace("erin", "X") == unknown.replace("mallory@example.com", "X")
    assert 1 == len([m for m in rig.transport.sent if "sign-in code" in m.text])


def test_wrong_guesses_spend_the_code(rig: Rig, browser: Browser) -> None:
    browser.post("/signin", {"who": "erin"})
    code = re.search(r"code: (\d{6})", rig.transport.sent[-1].text).group(1)  # type: ignore[union-attr]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(CODE_ATTEMPTS):
        assert 401 == browser.post("/signin/code", {"who": "erin", "code": wrong}).status_code
    assert 401 == browser.post("/signin/code", {"who": "erin", "code": code}).status_code


def test_sign_in_attempts_are_rate_limited_per_address(rig: Rig, browser: Browser) -> None:
    statuses = [browser.post("/signin/code", {"who": "erin", "code": "123456"}).status_code for _ in range(31)]
    assert 429 == statuses[-1]
    assert {401} == set(statuses[:30])


def test_a_login_link_works_once_within_15_minutes_on_any_instance(make_rig: MakeRig, rig: Rig) -> None:
    console = build_console(_deps(rig))
    token = console.tokens.new_link("gina", rig.clock.now())
    # Another instance on the same database (or the same one after a restart) accepts it.
    second = make_rig(api_token="api-token-for-tests")
    b = Browser(second.daemon.build_app())
    assert 200 == b.get(f"/signin/link?token={token}").status_code  # a preview does not spend it
    assert 303 == b.post("/signin/link", {"token": token}).status_code
    assert 200 == b.get("/admin").status_code
    again = Browser(rig.daemon.build_app())
    assert 401 == again.post("/signin/link", {"token": token}).status_code
    late = console.tokens.new_link("gina", rig.clock.now())
    rig.clock.advance(timedelta(minutes=16))
    assert 401 == again.post("/signin/link", {"token": late}).status_code
    b.close()
    again.close()


def test_a_post_without_the_forms_csrf_token_changes_nothing(rig: Rig, browser: Browser) -> None:
    ident = page_open(rig)
    sign_in_with_link(rig, browser)
    answer = browser.post(f"/incidents/{ident}/ack", {"csrf": "forged"}, csrf=False)
    assert 403 == answer.status_code
    assert "triggered" == rig.daemon.service.get(ident).state.value


def test_acknowledging_on_the_web_is_recorded_as_that_person(rig: Rig, browser: Browser) -> None:
    ident = page_open(rig)
    sign_in_with_link(rig, browser, "frank")
    page = browser.get(f"/incidents/{ident}")
    for button in ("Acknowledge", "Escalate", "Resolve"):
        assert f">{button}</button>" in page.text
    answer = browser.post(f"/incidents/{ident}/ack")
    assert (303, f"/incidents/{ident}?done=acknowledged") == (answer.status_code, answer.headers["location"])
    inc = rig.daemon.service.get(ident)
    assert ("acknowledged", "frank") == (inc.state.value, inc.acknowledged_by)
    acks = [(a.actor, a.channel) for a in rig.daemon.service.audit(ident) if a.kind == "acknowledged"]
    assert [("frank", "web")] == acks
    again = browser.post(f"/incidents/{ident}/ack")
    assert 409 == again.status_code and "already acknowledged" in again.text


def test_only_admins_see_the_admin_pages(rig: Rig, browser: Browser) -> None:
    sign_in_with_link(rig, browser, "erin")
    assert 403 == browser.get("/admin").status_code
    assert 403 == browser.get("/admin/explain").status_code
    admin = Browser(rig.daemon.build_app())
    sign_in_with_link(rig, admin, "gina")
    assert 200 == admin.get("/admin").status_code
    answer = admin.post("/admin/explain", {"ticket": '{"id": "X", "priority": "urgent", "customer": "acme", '
                                                      '"created_at": "2026-11-28T03:00:00-05:00"}'})
    assert 200 == answer.status_code
    assert "PAGE through emergency" in answer.text and "after-hours-emergency" in answer.text
    admin.close()


def override_form(**values: str) -> dict[str, str]:
    base = {"schedule": "emergency", "person": "gina", "replaces": "", "start": "2026-11-28T04:00",
            "end": "2026-11-28T10:00", "reason": "swap"}
    return {**base, **values}


def test_an_override_made_on_the_web_changes_who_is_on_call_everywhere(rig: Rig, browser: Browser) -> None:
    sign_in_with_link(rig, browser, "erin")
    at = rig.clock.now() + timedelta(hours=2)
    before = rig.daemon.snapshot.on_call("emergency", at)
    answer = browser.post("/overrides", override_form())
    assert 303 == answer.status_code, answer.text[:2000]
    assert ("gina",) == rig.daemon.snapshot.on_call("emergency", at) != before
    assert ("gina",) == rig.daemon.directory().on_call("emergency", at)  # paging reads the same
    told = [m for m in rig.transport.sent if m.person_id == "gina" and "put you on call" in m.text]
    assert 1 == len(told)
    # The same window again overlaps; a swap for someone who is not on call changes nothing.
    refused = browser.post("/overrides", override_form())
    assert 422 == refused.status_code and "overlaps override" in refused.text
    idle = browser.post("/overrides", override_form(person="frank", replaces="gina", start="2026-11-29T04:00",
                                                    end="2026-11-29T05:00"))
    assert 422 == idle.status_code and "changes nothing" in idle.text
    unknown = browser.post("/overrides", override_form(person="zed", start="2026-11-30T04:00"))
    assert 422 == unknown.status_code and "unknown person" in unknown.text


def test_web_overrides_are_removed_by_the_people_they_name_or_an_admin(rig: Rig, browser: Browser) -> None:
    sign_in_with_link(rig, browser, "erin")
    browser.post("/overrides", override_form(person="frank"))
    ident = rig.daemon.snapshot.overrides[-1].id
    assert ident.startswith("web-")
    stranger_rig_browser = Browser(rig.daemon.build_app())
    sign_in_with_link(rig, stranger_rig_browser, "erin")
    # erin made it but is not named in it and is no admin: refused.
    assert 403 == stranger_rig_browser.post(f"/overrides/{ident}/remove").status_code
    admin = Browser(rig.daemon.build_app())
    sign_in_with_link(rig, admin, "gina")
    assert 303 == admin.post(f"/overrides/{ident}/remove").status_code
    assert ident not in {o.id for o in rig.daemon.snapshot.overrides}
    history = rig.daemon.overrides.history()
    assert [("erin", "gina")] == [(h.created_by, h.removed_by) for h in history]
    stranger_rig_browser.close()
    admin.close()


def test_merging_stored_overrides_keeps_the_files_ones_and_replaces_the_stored_ones(rig: Rig) -> None:
    snap = rig.daemon.snapshot
    files = snap.overrides
    assert files == with_stored_overrides(snap, ()).overrides
    b = Browser(rig.daemon.build_app())
    sign_in_with_link(rig, b)
    b.post("/overrides", override_form())
    merged = rig.daemon.snapshot
    assert len(files) + 1 == len(merged.overrides)
    assert merged.overrides == with_stored_overrides(merged, rig.daemon.overrides.live()).overrides
    b.close()


def test_a_trusted_proxy_header_signs_in_only_from_a_trusted_peer(make_rig: MakeRig) -> None:
    rig = make_rig(console={"trusted_header": "X-Forwarded-Email"})
    headers = {"X-Forwarded-Email": "erin"}
    trusted = Browser(rig.daemon.build_app(), peer="127.0.0.1")
    assert 200 == trusted.get("/", headers=headers).status_code
    outsider = Browser(rig.daemon.build_app(), peer="198.51.100.9")
    assert 303 == outsider.get("/", headers=headers).status_code
    trusted.close()
    outsider.close()


def test_the_proxy_header_is_ignored_unless_configured(rig: Rig) -> None:
    b = Browser(rig.daemon.build_app(), peer="127.0.0.1")
    assert 303 == b.get("/", headers={"X-Forwarded-Email": "erin", "X-Forwarded-User": "erin"}).status_code
    b.close()


def test_an_incident_link_opens_that_incident_for_that_person_while_it_is_open(rig: Rig) -> None:
    ident = page_open(rig)
    console = build_console(_deps(rig))
    path = incident_link_path(console, ident, "erin")
    b = Browser(rig.daemon.build_app())
    assert 200 == b.get(path).status_code
    assert 303 == b.get("/").status_code  # nothing else
    assert 404 == b.get(path.replace(f"/i/{ident}/", f"/i/{ident + 1}/")).status_code
    assert 404 == b.get(path.replace("/erin/", "/frank/")).status_code
    assert 303 == b.post(path + "/ack").status_code
    assert "erin" == rig.daemon.service.get(ident).acknowledged_by
    rig.daemon.service.resolve(ident, "erin", rig.clock.now(), "cli")
    assert 404 == b.get(path).status_code
    b.close()


def test_pages_render_for_a_signed_in_person(rig: Rig, browser: Browser) -> None:
    page_open(rig)
    sign_in_with_link(rig, browser, "gina")
    for path in PAGES:
        answer = browser.get(path)
        assert 200 == answer.status_code, (path, answer.text[:500])
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        assert "http://" not in re.sub(r'(href|action|value)="http://127\.0\.0\.1:18080', "", answer.text) \
            or path == "/shifts"
    feed = browser.get("/shifts").text
    assert "/calendars/person/gina.ics?token=" in feed


def test_with_incident_links_a_page_carries_a_link_that_acts_without_signing_in(make_rig: MakeRig) -> None:
    rig = make_rig(console={"incident_links": True}, public_url="https://oncall.example.com")
    ident = page_open(rig)
    sms = [m for m in rig.to("erin") if m.channel.value == "sms"]
    found = re.search(r"https://oncall\.example\.com(/i/\d+/erin/\w+)", sms[0].text)
    assert found, sms[0].text
    b = Browser(rig.daemon.build_app(), base_url="https://oncall.example.com")  # Secure cookies: https
    page = b.get(found.group(1))
    assert 200 == page.status_code and ">Acknowledge</button>" in page.text
    assert 303 == b.post(found.group(1) + "/ack").status_code
    assert "erin" == rig.daemon.service.get(ident).acknowledged_by
    b.close()


def test_without_the_setting_pages_carry_no_link(rig: Rig) -> None:
    page_open(rig)
    assert all("/i/" not in m.text for m in rig.transport.sent)


def test_the_list_shows_open_incidents_first_then_the_rest_newest_first(rig: Rig, browser: Browser) -> None:
    for ticket_id in ("T-1", "T-2", "T-3"):
        rig.file(ticket_id)
    rig.work()
    rig.daemon.service.resolve(2, "erin", rig.clock.now(), "cli")
    sign_in_with_link(rig, browser)
    listed = re.findall(r'href="/incidents/(\d+)"', browser.get("/?state=all").text)
    assert ["3", "1", "2"] == listed
    assert ["3", "1"] == re.findall(r'href="/incidents/(\d+)"', browser.get("/").text)
    assert ["2"] == re.findall(r'href="/incidents/(\d+)"', browser.get("/?state=resolved").text)
    assert [] == re.findall(r'href="/incidents/(\d+)"', browser.get("/?state=all&customer=nobody").text)
