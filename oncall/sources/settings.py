"""Per-source settings (secrets, pollers) and the YAML field-mapping section ``sources``.

Two layers, kept apart on purpose:

* :class:`SourceSettings` holds what is secret or deployment-specific. The lead nests it as
  ``sources: dict[str, SourceSettings]`` in the global settings, so each field comes from
  ``oncall.toml`` or the environment, e.g.::

      ONCALL_SOURCES__ZENDESK__SECRET=...            # webhook signing secret
      ONCALL_SOURCES__ZENDESK__BASE_URL=https://acme.zendesk.com
      ONCALL_SOURCES__ZENDESK__EMAIL=oncall-bot@acme.example
      ONCALL_SOURCES__ZENDESK__API_TOKEN=...         # poller + write-back
      ONCALL_SOURCES__ZENDESK__POLL_INTERVAL=1m
      ONCALL_SOURCES__ZENDESK__SILENCE_AFTER=30m
      ONCALL_SOURCES__LEGACY__INSECURE=true          # accept unsigned webhooks (warned)
      ONCALL_SOURCES__ZENDESK_EU__KIND=zendesk       # a second Zendesk instance

* :class:`SourceMapping` (the ``sources`` section of the configuration directory) says how a
  helpdesk's own fields become the Ticket's customer, severity, category and environment. It is
  hot-reloaded with the rest of the snapshot. See its docstring for the rules and examples.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, WithJsonSchema, field_validator, model_validator

from oncall.fields import Duration, Model, one_or_many
from oncall.sources.registry import HELPDESKS, helpdesk_for
from oncall.tickets import parse_environment, parse_priority, parse_severity, parse_status, spellings_schema


class SourceSettings(Model):
    """Deployment settings of one ticket source (``ONCALL_SOURCES__<NAME>__<FIELD>``)."""

    kind: str | None = None
    """Parser, signature scheme, poller and write-back (a kind in
    :data:`~oncall.sources.registry.HELPDESKS`); defaults to the source's name (``zendesk`` → zendesk)."""
    secret: SecretStr | None = None
    """Webhook secret (HMAC key; for Freshdesk the value of the ``X-Oncall-Secret`` header)."""
    insecure: bool = False
    """Explicitly accept webhooks without any authentication (the start-up banner warns)."""
    max_body_bytes: int = Field(default=1_000_000, gt=0, le=50_000_000)

    base_url: str | None = None
    """Helpdesk API base, e.g. ``https://acme.zendesk.com`` or ``https://acme.freshdesk.com``."""
    email: str | None = None
    """Zendesk API user (token auth sends ``{email}/token:{api_token}``)."""
    api_token: SecretStr | None = None
    """Zendesk API token."""
    api_key: SecretStr | None = None
    """Freshdesk API key (basic auth ``api_key:X``)."""
    poll_interval: Duration | None = None
    """Poll the helpdesk this often; ``None`` = no poller (webhooks only)."""
    initial_lookback: Duration = timedelta(hours=1)
    """With no stored cursor, the first poll fetches changes from this long ago."""
    max_backoff: Duration = timedelta(minutes=15)
    silence_after: Duration | None = None
    """Page admins when there was no successful poll / no webhook traffic for this long."""

    write_back: bool = False
    """Post internal notes to the ticket (page sent, acknowledged, escalated, exhausted)."""
    public_replies: bool = False
    """Also post the public 'desk opens at …' reply to customers not entitled to after-hours help."""
    public_ack_replies: bool = False
    """Also post a public reply when an after-hours page is acknowledged: an engineer is on it,
    and when the page went out (wording: customer_replies.acknowledged)."""
    callback_url: str | None = None
    """Generic write-back: POST signed JSON notes here instead of a vendor API."""

    @property
    def allows_public(self) -> bool:
        """Whether any public reply may be posted to this source's tickets."""
        return self.public_replies or self.public_ack_replies

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = str(v)  # a SourceKind member reads as its name
        if v not in HELPDESKS:
            raise ValueError(f"unknown kind {v!r}; known kinds: "
                             + "; ".join(f"{k.name} ({k.docs})" for k in HELPDESKS.values()))
        return v

    @field_validator("base_url", "callback_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, got {v!r}")
        return v

    def kind_for(self, name: str) -> str | None:
        """The source's kind: explicit, else its name if that names a kind, else ``None``."""
        if self.kind is not None:
            return self.kind
        return name.lower() if name.lower() in HELPDESKS else None

    @property
    def polls(self) -> bool:
        return self.poll_interval is not None and self.base_url is not None


# --- field mapping ---------------------------------------------------------------------------


class RuleKind(StrEnum):
    ORGANIZATION = "organization"
    ORGANIZATION_TAG = "organization_tag"
    CUSTOM_FIELD = "custom_field"
    REQUESTER_DOMAIN = "requester_domain"
    TAG = "tag"
    PRIORITY = "priority"


_NEEDS_ARG = {RuleKind.ORGANIZATION_TAG, RuleKind.CUSTOM_FIELD, RuleKind.TAG}

_ALLOWED: dict[str, frozenset[RuleKind]] = {
    "customer": frozenset({RuleKind.ORGANIZATION, RuleKind.ORGANIZATION_TAG,
                           RuleKind.CUSTOM_FIELD, RuleKind.REQUESTER_DOMAIN, RuleKind.TAG}),
    "severity": frozenset({RuleKind.CUSTOM_FIELD, RuleKind.TAG, RuleKind.PRIORITY}),
    "category": frozenset({RuleKind.CUSTOM_FIELD, RuleKind.TAG}),
    "environment": frozenset({RuleKind.CUSTOM_FIELD, RuleKind.TAG}),
}

MAPPED_FIELDS = ("customer", "severity", "category", "environment", "priority", "status")
_VOCABULARIES = ("severity", "environment", "priority", "status")  # mapped onto values oncall knows
# value_maps targets of these fields must be values oncall knows: a map that points nowhere
# would silently fall back (see oncall.tickets) instead of doing what its author meant
_TARGET_PARSERS = {"severity": parse_severity, "environment": parse_environment,
                   "priority": parse_priority, "status": parse_status}


class FieldRule(Model):
    """One ``kind[:argument]`` rule, e.g. ``custom_field:360001234567`` or ``tag:sev_``."""

    kind: RuleKind
    """Where the value comes from."""
    arg: str = ""
    """The custom field's id, or the tag prefix to remove."""

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.arg}" if self.arg else self.kind.value


def _rule(value: object) -> object:
    if not isinstance(value, str):
        return value
    kind, _, arg = value.strip().partition(":")
    try:
        rule_kind = RuleKind(kind.strip())
    except ValueError:
        raise ValueError(
            f"unknown rule {value!r} (expected one of: "
            + ", ".join(f"{k.value}{':…' if k in _NEEDS_ARG else ''}" for k in RuleKind)
            + ")"
        ) from None
    arg = arg.strip()
    if rule_kind in _NEEDS_ARG and not arg:
        raise ValueError(f"rule {value!r} needs an argument, e.g. '{kind}:<id or prefix>'")
    if rule_kind not in _NEEDS_ARG and arg:
        raise ValueError(f"rule {kind!r} takes no argument, got {value!r}")
    return {"kind": rule_kind, "arg": arg}


_RULE_TEXT = Annotated[str, WithJsonSchema({
    "type": "string",
    "pattern": "^\\s*(?:(?:" + "|".join(k.value for k in RuleKind if k in _NEEDS_ARG) + ")\\s*:\\s*\\S.*"
               "|(?:" + "|".join(k.value for k in RuleKind if k not in _NEEDS_ARG) + ")\\s*(?::\\s*)?)$",
    "description": "kind[:argument]: organization, organization_tag:<prefix>, custom_field:<id>, "
                   "requester_domain, tag:<prefix>, priority",
})]
Rule = Annotated[FieldRule, BeforeValidator(_rule, json_schema_input_type=_RULE_TEXT | FieldRule)]
Rules = Annotated[tuple[Rule, ...], BeforeValidator(one_or_many)]


class ResponseSignal(StrEnum):
    """What tells oncall that support has responded to the customer (response clocks)."""

    AGENT_REPLY = "agent_reply"
    """A public reply by an agent (Freshdesk ``stats.agent_responded_at``; generic
    ``agent_replied_at``)."""
    LEFT_NEW = "left_new"
    """The ticket left ``new`` (answers the first response) or was set pending (any response)."""


class SourceMapping(Model):
    """How one source's helpdesk fields map onto the Ticket (section ``sources``).

    Each ``*_from`` is a rule or a list of rules; the first rule that yields a value wins.
    Rules:

    ``organization``
        the organisation / company name (Zendesk organisation, Freshdesk company,
        Jira Service Management organisation).
    ``organization_tag:<prefix>``
        the first organisation tag starting with ``<prefix>``, prefix removed
        (``organization_tag:cust_`` turns tag ``cust_acme`` into customer ``acme``).
    ``custom_field:<id>``
        a custom field by id (Zendesk numeric id, Freshdesk ``cf_name``, Jira
        ``customfield_10010``). Option objects (``{"value": …}``/``{"name": …}``) are unwrapped,
        lists give their first element.
    ``requester_domain``
        the domain of the requester's e-mail address.
    ``tag:<prefix>``
        the first ticket tag/label starting with ``<prefix>``, prefix removed.
    ``priority``
        (severity only) urgent → sev1, high → sev2, normal → sev3, low/information → sev4.

    ``value_maps`` translate raw values (matched case-insensitively, after the prefix is removed)
    before they are interpreted; keys are ``customer``, ``severity``, ``category``,
    ``environment``, ``priority`` and ``status``, and the targets of the last four must be
    values oncall knows (``oncall check`` refuses others). A status, priority, severity or
    environment that still does not parse is *not* a reason to refuse the ticket (that would
    lose it): it is read as open, normal, unset or unknown and the raw value is kept in the
    ticket's ``unmapped`` record (see :mod:`oncall.tickets`). Numbers are matched as text:
    ``status: {"6": pending}`` maps Freshdesk's custom status 6. ``customer`` also maps ids:
    a Zendesk event webhook names the organisation by id (``customer: {"360001": acme}``).

    When a source has no entry, defaults apply: customer from ``organization`` then
    ``requester_domain``; severity, category and environment stay empty (generic tickets carry
    them directly).

    Example::

        sources:
          - id: zendesk
            customer_from: [organization_tag:cust_, organization]
            severity_from: custom_field:360001234567
            category_from: custom_field:360007654321
            environment_from: tag:env_
            value_maps:
              severity: {sev_1_outage: sev1, sev_2_degraded: sev2}
              environment: {prod: production, uat: non-production}
          - id: freshdesk
            customer_from: organization
            severity_from: custom_field:cf_severity
            environment_from: custom_field:cf_environment
          - id: jira
            customer_from: custom_field:customfield_10002   # JSM "Organizations"
            severity_from: [custom_field:customfield_10040, priority]
            value_maps:
              status: {escalated: open, "work in progress": open}
    """

    id: str = Field(min_length=1, max_length=100)
    """The source's name, as in /webhooks/tickets/<id> (any case)."""
    customer_from: Rules = (FieldRule(kind=RuleKind.ORGANIZATION),
                            FieldRule(kind=RuleKind.REQUESTER_DOMAIN))
    """Rules for the customer: organization, organization_tag:<prefix>, custom_field:<id>,
    requester_domain, tag:<prefix>."""
    severity_from: Rules = ()
    """Rules for the severity: custom_field:<id>, tag:<prefix>, priority."""
    category_from: Rules = ()
    """Rules for the category: custom_field:<id>, tag:<prefix>."""
    environment_from: Rules = ()
    """Rules for the environment: custom_field:<id>, tag:<prefix>."""
    value_maps: Annotated[dict[str, dict[str, str]], WithJsonSchema({
        "type": "object",
        "properties": {name: {"type": "object", "description": f"raw value → {name}",
                              "additionalProperties": spellings_schema(name) if name in _VOCABULARIES
                              else {"type": ["string", "number"], "description": f"a {name}"}}
                       for name in MAPPED_FIELDS},
        "additionalProperties": False,
    }, mode="validation")] = Field(default_factory=dict)
    """Per field, raw helpdesk values (any case) → the value to read instead."""
    responded_when: tuple[ResponseSignal, ...] = (ResponseSignal.AGENT_REPLY, ResponseSignal.LEFT_NEW)
    """What counts as support's response on this source, for the response clocks: agent_reply,
    left_new."""

    @field_validator("id")
    @classmethod
    def _lower_id(cls, v: str) -> str:
        return v.strip().lower()

    @field_validator("value_maps", mode="before")
    @classmethod
    def _maps(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        out: dict[str, dict[str, str]] = {}
        for name, table in v.items():
            if name not in MAPPED_FIELDS:
                raise ValueError(f"value_maps: unknown field {name!r} (expected one of "
                                 + ", ".join(MAPPED_FIELDS) + ")")
            if not isinstance(table, dict):
                raise ValueError(f"value_maps.{name}: expected a mapping of raw value → value")
            out[name] = {str(k).strip().lower(): str(val) for k, val in table.items()}
            parse = _TARGET_PARSERS.get(name)
            for key, target in out[name].items():
                try:
                    if parse is not None:
                        parse(target)
                except ValueError as exc:
                    raise ValueError(f"value_maps.{name}: {key!r} maps to {target!r}, which is "
                                     f"not a {name} oncall knows: {exc}") from None
        return out

    @model_validator(mode="after")
    def _allowed(self) -> SourceMapping:
        for name, rules in (("customer", self.customer_from), ("severity", self.severity_from),
                            ("category", self.category_from),
                            ("environment", self.environment_from)):
            for rule in rules:
                if rule.kind not in _ALLOWED[name]:
                    raise ValueError(
                        f"{name}_from: rule {str(rule)!r} is not allowed here (allowed: "
                        + ", ".join(sorted(k.value for k in _ALLOWED[name])) + ")"
                    )
        return self

    def translate(self, field: str, raw: str) -> str:
        """Apply ``value_maps[field]`` to a raw value (case-insensitive); unmapped → unchanged."""
        return self.value_maps.get(field, {}).get(raw.strip().lower(), raw)


def default_mapping(source: str) -> SourceMapping:
    return SourceMapping(id=source)


def startup_warnings(sources: dict[str, SourceSettings]) -> list[str]:
    """Lines for the start-up banner: unauthenticated, refused or half-configured sources."""
    out: list[str] = []
    for name, s in sorted(sources.items()):
        kind = s.kind_for(name)
        if s.secret is None and s.insecure:
            out.append(f"source {name!r} accepts UNAUTHENTICATED webhooks (insecure=true)")
        elif s.secret is None:
            out.append(f"source {name!r} has no secret: its webhooks are refused "
                       f"(set ONCALL_SOURCES__{name.upper()}__SECRET)")
        if kind is None and s.kind is None:
            out.append(f"source {name!r} is not a known kind; treated as generic "
                       f"(set kind: {'|'.join(HELPDESKS)})")
        if s.poll_interval is not None:
            helpdesk = helpdesk_for(name, s)
            if s.base_url is None:
                out.append(f"source {name!r} has poll_interval but no base_url: not polled")
            elif helpdesk.poller is None:
                pollable = [k.name for k in HELPDESKS.values() if k.poller is not None]
                out.append(f"source {name!r}: only {' and '.join(pollable)} can be polled")
            elif (missing := helpdesk.poller_needs(s)) is not None:
                out.append(f"source {name!r}: {missing}")
    return out
