"""SourceSettings, the SourceMapping YAML section, signatures and source health."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from pydantic import ValidationError

from oncall.errors import SignatureError
from oncall.sources.health import SourceHealth
from oncall.sources.mapping import check_source_mappings
from oncall.sources.registry import SourceKind
from oncall.sources.settings import RuleKind, SourceMapping, SourceSettings
from oncall.sources.signatures import (
    sign_generic,
    sign_zendesk,
    verify_generic,
    verify_jira,
    verify_shared_secret,
    verify_zendesk,
)

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)

YAML = """
sources:
  - id: Zendesk
    customer_from: [organization_tag:cust_, organization]
    severity_from: custom_field:360001234567
    environment_from: tag:env_
    value_maps:
      severity: {SEV_1_Outage: sev1}
  - id: jira
    severity_from: [custom_field:customfield_10040, priority]
"""


def test_yaml_section_parses() -> None:
    items = [SourceMapping.model_validate(x) for x in yaml.safe_load(YAML)["sources"]]
    zd = items[0]
    assert "zendesk" == zd.id
    assert [RuleKind.ORGANIZATION_TAG, RuleKind.ORGANIZATION] == [r.kind
                                                                  for r in zd.customer_from]
    assert "cust_" == zd.customer_from[0].arg
    assert "sev1" == zd.translate("severity", "sev_1_outage")
    assert [] == check_source_mappings(items)


@pytest.mark.parametrize(("data", "message"), [
    ({"severity_from": "organization"}, "not allowed"),
    ({"customer_from": "custom_field"}, "needs an argument"),
    ({"customer_from": "requester_domain:x"}, "takes no argument"),
    ({"category_from": "shoe_size:9"}, "unknown rule"),
    ({"value_maps": {"colour": {"a": "b"}}}, "unknown field"),
    ({"customer": "organization"}, "Extra inputs"),
])
def test_bad_mapping_is_explained(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        SourceMapping.model_validate({"id": "zendesk", **data})
    assert message in str(err.value)


def test_duplicate_mapping_ids_found() -> None:
    items = [SourceMapping(id="zendesk"), SourceMapping(id="jira"), SourceMapping(id="ZENDESK")]
    [finding] = check_source_mappings(items)
    assert ("sources", 2, "id") == finding.path


def test_settings_kind_defaults_to_name_and_secret_is_hidden() -> None:
    s = SourceSettings.model_validate({"secret": "abc", "poll_interval": "1m",
                                       "base_url": "https://acme.zendesk.com/"})
    assert SourceKind.ZENDESK == s.kind_for("Zendesk")
    assert s.kind_for("helpdesk-eu") is None
    assert SourceKind.FRESHDESK == SourceSettings(kind=SourceKind.FRESHDESK).kind_for("eu")
    assert "abc" not in repr(s)
    assert "https://acme.zendesk.com" == s.base_url
    assert s.polls and timedelta(minutes=1) == s.poll_interval


def test_settings_reject_non_http_url() -> None:
    with pytest.raises(ValidationError):
        SourceSettings.model_validate({"base_url": "ftp://x"})


# --- signatures: computed independently of the module under test ----------------------------

def test_generic_signature_matches_reference_hmac() -> None:
    body = b'{"id": "1"}'
    expected = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert expected == sign_generic("k", body)
    verify_generic("k", body, expected)
    verify_generic("k", body, expected.upper().replace("SHA256=", "sha256="))


def test_zendesk_signature_matches_reference() -> None:
    ts, body = "2026-11-25T03:00:00Z", b'{"ticket": {}}'
    expected = base64.b64encode(hmac.new(b"k", ts.encode() + body,
                                         hashlib.sha256).digest()).decode()
    assert expected == sign_zendesk("k", ts, body)
    verify_zendesk("k", body, expected, ts, now=NOW + timedelta(minutes=5))


@pytest.mark.parametrize(("signature", "ts", "reason"), [
    (None, "2026-11-25T03:00:00Z", "missing"),
    ("x", None, "missing"),
    ("not base64!", "2026-11-25T03:00:00Z", "base64"),
    ("AAAA", "2026-11-25T03:00:00Z", "does not match"),
])
def test_zendesk_refusals(signature: str | None, ts: str | None, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify_zendesk("k", b"{}", signature, ts, now=NOW)


def test_zendesk_naive_or_garbage_timestamp_refused() -> None:
    for ts in ("2026-11-25T03:00:00", "yesterday"):
        with pytest.raises(SignatureError):
            verify_zendesk("k", b"{}", sign_zendesk("k", ts, b"{}"), ts, now=NOW)


def test_jira_and_freshdesk() -> None:
    body = b"{}"
    verify_jira("k", body, "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest())
    with pytest.raises(SignatureError):
        verify_jira("k", body, sign_generic("other", body))
    verify_shared_secret("k", " k ")
    with pytest.raises(SignatureError):
        verify_shared_secret("k", "kk")
    with pytest.raises(SignatureError):
        verify_shared_secret("k", "é")


# --- health ---------------------------------------------------------------------------------

def test_health_only_watches_sources_with_silence_after() -> None:
    h = SourceHealth({"zendesk": timedelta(minutes=10), "jira": None}, started_at=NOW)
    h.record_failure("zendesk", NOW, "boom")
    h.record_failure("zendesk", NOW, "boom again")
    assert 2 == h.status("zendesk").consecutive_failures
    assert [("zendesk", NOW)] == h.silent_sources(NOW + timedelta(minutes=10))
    h.record_success("zendesk", NOW + timedelta(minutes=11))
    assert [] == h.silent_sources(NOW + timedelta(minutes=12))
    assert ["jira", "zendesk"] == [s.source for s in h.snapshot()]


def test_health_refuses_naive_start() -> None:
    with pytest.raises(ValueError):
        SourceHealth({}, started_at=datetime(2026, 1, 1))


def test_startup_warnings() -> None:
    from oncall.sources.settings import startup_warnings

    lines = startup_warnings({
        "legacy": SourceSettings(insecure=True),
        "jira": SourceSettings(),
        "zendesk": SourceSettings.model_validate({"secret": "x", "poll_interval": "1m",
                                                  "base_url": "https://a.zendesk.com"}),
        "generic": SourceSettings.model_validate({"secret": "x"}),
    })
    assert 4 == len(lines)
    assert "ONCALL_SOURCES__JIRA__SECRET" in lines[0]
    assert "UNAUTHENTICATED" in lines[1] and "legacy" in lines[1]
    assert "treated as generic" in lines[2]
    assert "email and api_token" in lines[3]
