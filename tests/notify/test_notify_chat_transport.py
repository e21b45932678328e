"""The chat channel against a fake chat service on 127.0.0.1: pages and admin alerts posted in
the webhook's service's format, 429/5xx retried with backoff (Retry-After honoured), other 4xx
final, the webhook's URL — a secret — never in a log line, an error or ``oncall check``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import structlog
from pydantic import ValidationError

from oncall.errors import DeliveryError, PermanentDeliveryError
from oncall.interfaces import Channel, Outbound
from oncall.notify.channels import CHANNELS, address_findings, reachable
from oncall.notify.chat import ChatPoster, ChatSettings, ChatTransport, build, mask_webhook, retry_after_seconds
from oncall.notify.composite import ChannelRouter, build_transport
from oncall.notify.retry import RetryPolicy
from oncall.schedules.models import Person
from oncall.testing.fake_chat import FakeChat

SLACK, TEAMS, MATTERMOST, GOOGLE = "/slack/T0/B0/s3cr3t", "/teams/workflows/abc/s3cr3t", "/mattermost/hooks/s3cr3t", \
    "/googlechat/v1/spaces/AAA/messages"
PUBLIC = "https://oncall.example.com"


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    with FakeChat() as fake:
        yield fake


@pytest.fixture
def slept() -> list[float]:
    return []


def settings_for(chat: FakeChat) -> ChatSettings:
    return ChatSettings.model_validate({"webhooks": {
        "support": {"url": chat.url(SLACK), "kind": "slack"},
        "Teams_Room": {"url": chat.url(TEAMS), "kind": "teams"},
        "mm": {"url": chat.url(MATTERMOST), "kind": "mattermost"},
        "gchat": {"url": chat.url(GOOGLE), "kind": "googlechat"}}})


@pytest.fixture
def transport(chat: FakeChat, slept: list[float]) -> Iterator[ChatTransport]:
    poster = ChatPoster(settings_for(chat), retry=RetryPolicy(sleep=slept.append))
    transport = ChatTransport(settings_for(chat), PUBLIC, poster=poster)
    yield transport
    transport.close()


def page(to: str = "support", text: str = "URGENT acme: Production down (ticket T-1001)",
         incidents: tuple[int, ...] = (12,)) -> Outbound:
    return Outbound(key="k1", channel=Channel("chat"), to=to, person_id="support-room", incident_ids=incidents,
                    text=text)


def test_a_page_reaches_each_service_in_its_format(transport: ChatTransport, chat: FakeChat) -> None:
    results = {to: transport.send(page(to)) for to in ("support", "teams_room", "mm", "gchat")}
    assert "Production down" in chat.posts(SLACK)[0].body["text"]
    [card] = chat.posts(TEAMS)[0].body["attachments"]
    assert "application/vnd.microsoft.card.adaptive" == card["contentType"]
    assert f"{PUBLIC}/incidents/12" == card["content"]["actions"][0]["url"]
    assert "Production down" in chat.posts(MATTERMOST)[0].body["text"]
    assert "Production down" in chat.posts(GOOGLE)[0].body["text"]
    assert all("application/json" in p.content_type for p in chat.requests)
    assert results["gchat"].provider_id is not None and results["gchat"].provider_id.startswith("spaces/")
    assert {"posted"} == {r.status for r in results.values()}


def test_a_webhook_name_is_matched_whatever_its_case(transport: ChatTransport, chat: FakeChat) -> None:
    transport.send(page("Teams_Room"))
    assert 1 == len(chat.posts(TEAMS))


def test_server_errors_are_retried_with_backoff_then_posted(transport: ChatTransport, chat: FakeChat,
                                                            slept: list[float]) -> None:
    chat.fail_next(2, status=500)
    transport.send(page())
    assert (["500", "500", "200"], 2) == ([r.outcome for r in chat.requests], len(slept))


def test_a_429_waits_what_retry_after_asks(transport: ChatTransport, chat: FakeChat, slept: list[float]) -> None:
    chat.fail_next(1, status=429, retry_after=3)
    transport.send(page())
    assert ([3.0], 1) == (slept, len(chat.posts(SLACK)))


def test_a_retry_after_beyond_the_budget_ends_the_attempts_at_once(transport: ChatTransport, chat: FakeChat,
                                                                   slept: list[float]) -> None:
    chat.fail_next(1, status=429, retry_after=60)
    with pytest.raises(DeliveryError, match="retry after 60s") as caught:
        transport.send(page())
    assert not isinstance(caught.value, PermanentDeliveryError)
    assert ([], 1) == (slept, len(chat.requests))


def test_retries_are_bounded(transport: ChatTransport, chat: FakeChat) -> None:
    chat.fail_next(5, status=503)
    with pytest.raises(DeliveryError, match="HTTP 503"):
        transport.send(page())
    assert 3 == len(chat.requests)


def test_a_dropped_connection_is_retried(transport: ChatTransport, chat: FakeChat) -> None:
    chat.fail_next(1, status="drop")
    transport.send(page())
    assert ["drop", "200"] == [r.outcome for r in chat.requests]


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_other_client_errors_are_permanent_and_not_retried(transport: ChatTransport, chat: FakeChat,
                                                           status: int) -> None:
    chat.fail_next(1, status=status)
    with pytest.raises(PermanentDeliveryError) as caught:
        transport.send(page())
    assert (status, 1) == (caught.value.code, len(chat.requests))


def test_a_name_no_webhook_has_is_permanent(transport: ChatTransport, chat: FakeChat) -> None:
    with pytest.raises(PermanentDeliveryError, match="'nowhere' is not configured"):
        transport.send(page("nowhere"))
    assert [] == chat.requests


def test_the_webhook_url_is_never_logged_even_at_debug(transport: ChatTransport, chat: FakeChat,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    chat.fail_next(3, status=500)
    with structlog.testing.capture_logs() as logs, caplog.at_level(logging.DEBUG):
        with pytest.raises(DeliveryError) as caught:
            transport.send(page())
        transport.send(page())
    seen = repr(logs) + caplog.text + str(caught.value)
    assert "HTTP Request" in caplog.text  # httpx did log the requests…
    assert "s3cr3t" not in seen and chat.base_url not in seen  # …without the URL
    assert {"chat.post_failed", "chat.posted"} <= {e["event"] for e in logs}


def test_an_admin_alert_is_posted_with_its_own_first_line_as_title(transport: ChatTransport,
                                                                   chat: FakeChat) -> None:
    transport.send(page(text="oncall admin alert: source zendesk is silent", incidents=()))
    [post] = chat.posts(SLACK)
    assert post.body["text"].endswith("oncall admin alert: source zendesk is silent")
    assert "oncall ack" not in str(post.body)


def test_a_personal_incident_link_is_not_posted_to_a_room(transport: ChatTransport, chat: FakeChat) -> None:
    """The console's sign-in-free link is one person's: a room gets the incident page instead."""
    transport.send(page(text=f"URGENT acme: Production down (ticket T-1) {PUBLIC}/i/12/support-room/Zm9vYmFy"))
    body = str(chat.posts(SLACK)[0].body)
    assert "/i/12/" not in body and f"{PUBLIC}/incidents/12" in body


def test_the_channel_is_registered_routed_and_quiet(chat: FakeChat) -> None:
    spec = CHANNELS["chat"]
    assert (timedelta(minutes=1), False, "addresses.chat") == (spec.default_min_interval, spec.rings,
                                                                spec.address_key)
    process = SimpleNamespace(twilio=SimpleNamespace(configured=False), smtp=SimpleNamespace(configured=False),
                              chat=settings_for(chat), public_url=PUBLIC)
    routed, banner = build_transport(process)
    assert "chat (chat)" == banner and frozenset({Channel("chat")}) == routed.channels()
    assert isinstance(routed, ChannelRouter)
    chat_transport = routed.routes[Channel("chat")]
    assert isinstance(chat_transport, ChatTransport)
    chat_transport.close()
    assert build(SimpleNamespace(chat=ChatSettings(), public_url=None)) is None
    room = Person.model_validate({"id": "support-room", "name": "#support", "timezone": "UTC",
                                  "addresses": {"chat": "support"}, "contact_methods": ["chat"]})
    assert "support" == reachable(room, "chat", sms_blocked=True)  # STOP is an SMS matter


def test_settings_name_webhooks_by_kind_and_keep_their_urls_secret() -> None:
    with pytest.raises(ValidationError, match="Input should be 'slack', 'teams', 'mattermost' or 'googlechat'"):
        ChatSettings.model_validate({"webhooks": {"ops": {"url": "https://hooks.example/x", "kind": "irc"}}})
    with pytest.raises(ValidationError) as caught:
        ChatSettings.model_validate({"webhooks": {"ops": {"url": "hooks.example/s3cr3t-path", "kind": "slack"}}})
    assert "s3cr3t" not in str([e["msg"] for e in caught.value.errors()])
    assert "**********" in repr(ChatSettings.model_validate(
        {"webhooks": {"ops": {"url": "https://hooks.example/s3cr3t", "kind": "slack"}}}))


def test_oncall_check_reports_an_address_naming_no_webhook(chat: FakeChat) -> None:
    people = [Person.model_validate({"id": p, "name": p, "timezone": "UTC", "addresses": {"chat": a},
                                     "contact_methods": ["chat"]})
              for p, a in (("ok", "support"), ("typo", "suport"), ("pasted", "https://hooks.slack.com/x/y"))]
    found = address_findings(people, SimpleNamespace(chat=settings_for(chat)))
    assert [(("people", 1, "addresses", "chat"), "error"), (("people", 2, "addresses", "chat"), "error")] == \
        [(f.path, f.severity) for f in found]
    assert "'suport' is not configured (known: gchat, mm, support, teams_room)" in found[0].message
    assert "hooks.slack.com" not in found[1].message
    [nothing] = address_findings(people[:1], SimpleNamespace(chat=ChatSettings()))
    assert "warning" == nothing.severity and "ONCALL_CHAT__WEBHOOKS__SUPPORT__URL" in nothing.message


def test_names_show_and_urls_are_masked() -> None:
    assert ("support_room", "h***") == (mask_webhook("support_room"), mask_webhook("https://hooks.slack.com/x"))


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    assert (5.0, 30.0, None, None) == (
        retry_after_seconds("5"), retry_after_seconds("Sat, 28 Nov 2026 08:00:30 GMT", now),
        retry_after_seconds("soon"), retry_after_seconds(None))


def test_a_url_httpx_cannot_use_is_permanent_and_not_shown() -> None:
    settings = ChatSettings.model_validate({"webhooks": {"bad": {"url": "https://[::1/s3cr3t",
                                                                 "kind": "slack"}}})
    transport = ChatTransport(settings, PUBLIC)
    try:
        with pytest.raises(PermanentDeliveryError) as caught:
            transport.send(page("bad"))
    finally:
        transport.close()
    assert "s3cr3t" not in str(caught.value)
