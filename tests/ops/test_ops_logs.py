"""Logs never carry phone digits or secrets, in JSON and on the console, ours and stdlib's."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from pydantic import BaseModel, SecretStr

from oncall import logs

PHONE = "+14155550199"
DIGITS = "4155550199"
MASKED = "+1******0199"
NOISY = ("apscheduler", "twilio.http_client", "httpx", "httpcore", "uvicorn.access")
UVICORN = ("uvicorn", "uvicorn.error")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure() changes process-wide state; put it back after each test."""
    saved = {name: logging.getLogger(name) for name in ("", *NOISY, *UVICORN)}
    state = {name: (list(lg.handlers), lg.level, lg.propagate) for name, lg in saved.items()}
    hooks = (sys.excepthook, threading.excepthook, sys.unraisablehook)
    chose_json = logs.renders_json()
    yield
    sys.excepthook, threading.excepthook, sys.unraisablehook = hooks
    logs._renders_json = chose_json
    logging.captureWarnings(False)
    for name, (handlers, level, propagate) in state.items():
        saved[name].handlers[:] = handlers
        saved[name].setLevel(level)
        saved[name].propagate = propagate
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


Capture = Callable[..., io.StringIO]


@pytest.fixture
def capture() -> Capture:
    def make(fmt: str = "json", level: str = "info") -> io.StringIO:
        stream = io.StringIO()
        logs.configure(fmt=fmt, level=level, stream=stream)
        return stream
    return make


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_phone_in_field_and_in_message_is_masked(capture: Capture) -> None:
    out = capture()
    logs.get("oncall.test").info(f"paging alice on {PHONE}", to=PHONE, from_="+14155550100")
    [line] = lines(out)
    assert DIGITS not in out.getvalue()
    assert "4155550100" not in out.getvalue()
    assert MASKED == line["to"]
    assert "+1******0100" == line["from_"]
    assert f"paging alice on {MASKED}" == line["event"]


@pytest.mark.parametrize("text", [
    "+14155550199",
    "+1 415 555 0199",
    "+1 (415) 555-0199",
    "+1-415-555-0199",
    "To=%2B14155550199&Body=hi",
    "{'To': '+14155550199'}",
    '{"to": "+14155550199"}',
])
def test_phone_spellings_in_free_text_are_masked(capture: Capture, text: str) -> None:
    out = capture()
    logs.get().warning(text)
    assert "555" not in out.getvalue()
    assert "0199" in out.getvalue()  # the last four stay, so an operator can tell who


def test_positional_arguments_are_interpolated_before_redaction(capture: Capture) -> None:
    out = capture()
    logs.get().info("paging %s for %s", PHONE, "T-1001")
    assert [f"paging {MASKED} for T-1001"] == [line["event"] for line in lines(out)]


def test_phone_keys_mask_nested_values_and_lists(capture: Capture) -> None:
    out = capture()
    logs.get().info("batch", params={"To": PHONE, "Body": "hi"}, phone=[PHONE, "+442071838750"])
    [line] = lines(out)
    assert {"To": MASKED, "Body": "hi"} == line["params"]
    assert [MASKED, "+4*******8750"] == line["phone"]


@pytest.mark.parametrize("key", [
    "auth_token", "secret", "password", "api_key", "token", "authorization",
    "twilio_auth_token", "smtp_password", "x-twilio-signature",
])
def test_secret_keys_are_replaced(capture: Capture, key: str) -> None:
    out = capture()
    logs.get().info("settings", **{key: "hunter2-s3cr3t"})
    assert "hunter2" not in out.getvalue()
    assert "**********" == lines(out)[0][key]


def test_secretstr_value_is_replaced_under_any_key(capture: Capture) -> None:
    out = capture()
    logs.get().info("loaded", anything=SecretStr("hunter2-s3cr3t"), nested={"deep": [SecretStr("x9x9x9")]})
    assert "hunter2" not in out.getvalue()
    assert "x9x9x9" not in out.getvalue()
    [line] = lines(out)
    assert "**********" == line["anything"]
    assert {"deep": ["**********"]} == line["nested"]


def test_pydantic_model_value_is_dumped_masked(capture: Capture) -> None:
    class Twilio(BaseModel):
        auth_token: SecretStr
        from_number: str

    out = capture()
    logs.get().info("transport", twilio=Twilio(auth_token=SecretStr("hunter2"), from_number=PHONE))
    assert "hunter2" not in out.getvalue()
    assert DIGITS not in out.getvalue()
    assert {"auth_token": "**********", "from_number": MASKED} == lines(out)[0]["twilio"]


@pytest.mark.parametrize("text", [
    "auth_token=hunter2 retry",
    "password: hunter2",
    "{'auth_token': 'hunter2'}",
    '{"secret": "hunter2"}',
    "Authorization: Basic hunter2==",
    "Authorization: Bearer hunter2",
    "api_key=hunter2&x=1",
])
def test_secrets_in_free_text_are_replaced(capture: Capture, text: str) -> None:
    out = capture()
    logs.get().info(text)
    assert "hunter2" not in out.getvalue()
    assert "**********" in lines(out)[0]["event"]


def test_stdlib_logger_goes_through_the_same_redaction(capture: Capture) -> None:
    out = capture(level="debug")  # debug lets twilio's http_client through
    logging.getLogger("twilio.http_client").info(
        "POST Request: https://api.twilio.com/2010-04-01/Messages.json?To=%%2B14155550199&From=%s",
        "+14155550100")
    logging.getLogger("twilio.http_client").info("Query Params: {'To': '+14155550199', 'Body': 'page'}")
    logging.getLogger("uvicorn.error").warning("auth_token=hunter2 To=+14155550199")
    text = out.getvalue()
    assert DIGITS not in text
    assert "4155550100" not in text
    assert "hunter2" not in text
    got = lines(out)
    assert ["twilio.http_client", "twilio.http_client", "uvicorn.error"] == [g["logger"] for g in got]
    assert "Query Params: {'To': '+1******0199', 'Body': 'page'}" == got[1]["event"]


def test_uvicorn_default_logging_is_brought_under_redaction(capture: Capture) -> None:
    """uvicorn's own dictConfig installs handlers that print around ours."""
    import logging.config

    from uvicorn.config import LOGGING_CONFIG

    logging.config.dictConfig(LOGGING_CONFIG)
    out = capture()
    logging.getLogger("uvicorn.error").warning("auth_token=hunter2 from %s", PHONE)
    assert ["uvicorn.error"] == [line["logger"] for line in lines(out)]
    assert "hunter2" not in out.getvalue()
    assert DIGITS not in out.getvalue()
    assert [] == logging.getLogger("uvicorn").handlers


def test_noisy_libraries_stay_quiet_at_info(capture: Capture) -> None:
    out = capture(level="info")
    logging.getLogger("twilio.http_client").info("-- BEGIN Twilio API Request --")
    logging.getLogger("twilio.http_client").warning("retrying")
    assert ["retrying"] == [line["event"] for line in lines(out)]


@pytest.mark.parametrize("text", [
    "2026-11-25T03:00:00.123456Z",
    "2026-11-25T03:00:00.123456+01:00",
    "2026-11-25T03:00:00+0100",
    "20261125T030000+0100",
    "ticket T-1001 in ZD-12345678901",
    "id 12345678901 and 4155550199",
    "version 1.2.3+build20261125",
    "took 12.5s, 3+4 retries",
])
def test_timestamps_and_ids_are_not_mangled(capture: Capture, text: str) -> None:
    out = capture()
    logs.get().info(text, ticket_id="T-1001", external_id=12345678901, at=text)
    [line] = lines(out)
    assert text == line["event"]
    assert text == line["at"]
    assert "T-1001" == line["ticket_id"]
    assert 12345678901 == line["external_id"]


def test_own_timestamp_is_iso_utc(capture: Capture) -> None:
    out = capture()
    logs.get().info("hello")
    stamp = datetime.fromisoformat(lines(out)[0]["timestamp"])
    assert UTC.utcoffset(None) == stamp.utcoffset()


def test_datetime_values_render_as_iso(capture: Capture) -> None:
    out = capture()
    at = datetime(2026, 11, 25, 3, 0, 0, 123456, tzinfo=UTC)
    logs.get().info("due", at=at)
    assert "2026-11-25T03:00:00.123456+00:00" == lines(out)[0]["at"]


def _fail_with_secret_local() -> None:
    auth_token = "hunter2-local"  # noqa: F841 - a local a traceback must not show
    raise RuntimeError(f"The 'To' number {PHONE} is not a valid phone number")


def test_json_traceback_has_no_locals_and_masks_the_message(capture: Capture) -> None:
    out = capture()
    try:
        _fail_with_secret_local()
    except RuntimeError:
        logs.get().exception("send failed", incident_id=7)
    text = out.getvalue()
    assert "hunter2" not in text
    assert DIGITS not in text
    [line] = lines(out)
    [exc] = line["exception"]
    assert "RuntimeError" == exc["exc_type"]
    assert f"The 'To' number {MASKED} is not a valid phone number" == exc["exc_value"]
    assert all("locals" not in frame for frame in exc["frames"])
    assert "_fail_with_secret_local" in [frame["name"] for frame in exc["frames"]]


def test_stdlib_exception_is_rendered_and_masked(capture: Capture) -> None:
    out = capture()
    try:
        _fail_with_secret_local()
    except RuntimeError:
        logging.getLogger("apscheduler.executors").exception("job crashed")
    assert "hunter2" not in out.getvalue()
    assert DIGITS not in out.getvalue()
    assert "RuntimeError" == lines(out)[0]["exception"][0]["exc_type"]


def test_console_format_is_redacted_too(capture: Capture) -> None:
    out = capture(fmt="console")
    log = logs.get("oncall.test")
    log.info(f"paging {PHONE}", to=PHONE, auth_token="hunter2")
    try:
        _fail_with_secret_local()
    except RuntimeError:
        log.exception("send failed")
    text = out.getvalue()
    assert DIGITS not in text
    assert "hunter2" not in text
    assert MASKED in text
    assert "Traceback (most recent call last)" in text
    assert "\x1b[" not in text  # a StringIO is no terminal: no colour codes
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_auto_format_is_json_off_a_terminal(capture: Capture) -> None:
    out = capture(fmt="auto")
    logs.get().info("hello")
    assert "hello" == lines(out)[0]["event"]


def test_bound_context_is_kept(capture: Capture) -> None:
    out = capture()
    structlog.contextvars.bind_contextvars(incident_id=42, ticket_id="T-1001", source="zendesk")
    logs.get().info("paged", to=PHONE)
    [line] = lines(out)
    assert (42, "T-1001", "zendesk", MASKED) == (
        line["incident_id"], line["ticket_id"], line["source"], line["to"])


def test_configure_twice_does_not_duplicate_lines(capture: Capture) -> None:
    first = capture()
    second = capture()
    logs.get().info("once")
    logging.getLogger("other").warning("stdlib once")
    assert "" == first.getvalue()
    assert ["once", "stdlib once"] == [line["event"] for line in lines(second)]


def test_configure_keeps_handlers_it_did_not_install() -> None:
    foreign = logging.NullHandler()
    logging.getLogger().addHandler(foreign)
    logs.configure(fmt="json", stream=io.StringIO())
    logs.configure(fmt="json", stream=io.StringIO())
    handlers = logging.getLogger().handlers
    assert foreign in handlers
    assert 1 == sum(isinstance(h, logging.StreamHandler) and h.stream is not None
                    and type(h).__module__ == "oncall.logs" for h in handlers)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="xml"):
        logs.configure(fmt="xml", stream=io.StringIO())


def test_level_filters(capture: Capture) -> None:
    out = capture(level="warning")
    logs.get().info("hidden")
    logs.get().warning("shown")
    assert ["shown"] == [line["event"] for line in lines(out)]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_format_is_colour_console_on_a_terminal() -> None:
    out = _Terminal()
    logs.configure(fmt="auto", stream=out)
    logs.get("oncall.test").warning(f"paging {PHONE}", to=PHONE, auth_token="hunter2")
    text = out.getvalue()
    assert "\x1b[" in text
    assert DIGITS not in text
    assert "hunter2" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_levels_set_on_uvicorns_loggers_before_do_not_hide_their_records(capture: Capture) -> None:
    """uvicorn.Config(log_level="warning"), e.g. in an earlier embedded server, leaves its loggers
    at WARNING; configuring oncall's logging takes them over, level included."""
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    out = capture(level="info")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 4242)
    assert ["Started server process [4242]"] == [line["event"] for line in lines(out)]


def test_uvicorn_colour_copy_of_the_message_is_dropped(capture: Capture) -> None:
    """uvicorn logs ``extra={"color_message": ...}`` with ANSI codes; JSON lines carry none."""
    out = capture()
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 4242, extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"})
    [line] = lines(out)
    assert "Started server process [4242]" == line["event"]
    assert "color_message" not in line
    assert "\x1b" not in out.getvalue() and "\\u001b" not in out.getvalue()


def test_warnings_module_output_becomes_a_json_line(capture: Capture) -> None:
    out = capture()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("something is deprecated", UserWarning, stacklevel=1)
    [line] = lines(out)
    assert ("warning", "py.warnings") == (line["level"], line["logger"])
    assert "UserWarning: something is deprecated" in line["event"]


@pytest.mark.parametrize(("fmt", "expected"), [("json", True), ("console", False), ("auto", True)])
def test_renders_json_reports_the_chosen_format(capture: Capture, fmt: str, expected: bool) -> None:
    capture(fmt=fmt)
    assert expected == logs.renders_json()


def test_uncaught_exceptions_are_logged_as_one_json_line(capture: Capture) -> None:
    out = capture()
    logs.capture_uncaught()
    try:
        _fail_with_secret_local()
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
        worker = threading.Thread(name="sender-1")
        threading.excepthook(threading.ExceptHookArgs((type(exc), exc, exc.__traceback__, worker)))
    got = lines(out)
    assert ["uncaught exception", "uncaught exception in thread"] == [g["event"] for g in got]
    assert ["critical", "critical"] == [g["level"] for g in got]
    assert "sender-1" == got[1]["thread_name"]
    assert all("RuntimeError" == g["exception"][0]["exc_type"] for g in got)
    assert "hunter2" not in out.getvalue() and DIGITS not in out.getvalue()
