"""What a chat post says, and the JSON each service's incoming webhook takes for it.

A post is written once, as a :class:`ChatPost` — a title, lines, links to the console's
incident pages, a hint saying how to act, and a tone — and rendered for the service the
webhook belongs to. Every renderer is a pure function of the post; the golden files in
``tests/notify/chat_golden/`` pin each one.

- **Slack**: ``{"text": fallback, "blocks": [section, section, context]}``, text in ``mrkdwn``
  with ``&``, ``<`` and ``>`` written as HTML entities, as Slack asks of text that is not
  markup (a ticket subject must not become ``<!channel>``). Links are ``<url|label>`` inside a
  section, not buttons: a link button still sends an interaction to the app, which an
  incoming webhook has no endpoint for.
  https://api.slack.com/messaging/webhooks ·
  https://api.slack.com/reference/surfaces/formatting#escaping ·
  https://api.slack.com/reference/block-kit/blocks#section
- **Microsoft Teams**: an Adaptive Card (version 1.4) in ``{"type": "message", "attachments":
  [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {...}}]}``, opened
  with ``Action.OpenUrl``. Chosen over the MessageCard (``@type: MessageCard``, ``summary``,
  ``themeColor``, ``sections``, ``potentialAction``): Office 365 connectors, which took
  MessageCards, are being retired, and their replacement — a Workflows webhook ("Post to a
  channel when a webhook request is received") — takes Adaptive Cards only. The card also
  works with the connectors that remain.
  https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using ·
  https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook ·
  https://support.microsoft.com/en-us/office/create-incoming-webhooks-with-workflows-for-microsoft-teams-8ae491c7-0394-4861-ba59-055e33f75498
  A TextBlock reads a subset of Markdown and mentions need explicit ``msteams`` entities, so
  text goes in as it is.
- **Mattermost**: ``{"text": title, "attachments": [{"fallback", "color", "text"}]}`` — the
  title in bold, the rest in a Slack-compatible attachment with the tone's colour, in Markdown. Mattermost turns
  ``@channel`` and ``@name`` in a webhook's text into mentions, so a zero-width space follows
  every ``@`` of text that is not ours, and Markdown's punctuation is escaped with ``\\``.
  https://developers.mattermost.com/integrate/webhooks/incoming/ ·
  https://developers.mattermost.com/integrate/reference/message-attachments/
- **Google Chat**: ``{"text": ...}`` in Chat's own markup (``*bold*``, ``_italic_``,
  ``<url|label>``); ``<`` and ``>`` of text that is not ours become ``‹`` and ``›`` so a subject
  cannot write ``<users/all>``.
  https://developers.google.com/workspace/chat/quickstart/webhooks ·
  https://developers.google.com/workspace/chat/format-messages

A page's own wording (:func:`page_wording`, the chat channel's descriptor's ``wording``) has no
SMS reply codes — a room's code means nothing to the people in it; the post says how to act
instead: the incident page, ``oncall ack``, or a reply to one's own SMS page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from oncall.notify.messages import PageSummary

MAX_LINE = 300  # characters of one line; a ticket subject can be a paragraph
MAX_LINES = 12  # lines of one post; a bundle says how many more there are


class ChatKind(StrEnum):
    """The services whose incoming webhooks oncall posts to."""

    SLACK = "slack"
    TEAMS = "teams"
    MATTERMOST = "mattermost"
    GOOGLECHAT = "googlechat"


class Tone(StrEnum):
    """What a post means to the people reading it: its colour and its leading sign."""

    PAGE = "page"  # somebody must act: a page, an admin alert
    ESCALATED = "escalated"  # the next step is paging
    DONE = "done"  # acknowledged or resolved
    CLOSED = "closed"  # cancelled: the ticket no longer needs anybody
    NOTICE = "notice"  # for reading, nothing pages: the morning hand-over


_SIGN = {Tone.PAGE: "\N{POLICE CARS REVOLVING LIGHT}", Tone.ESCALATED: "\N{UPWARDS BLACK ARROW}",
         Tone.DONE: "\N{WHITE HEAVY CHECK MARK}", Tone.CLOSED: "\N{INFORMATION SOURCE}",
         Tone.NOTICE: "\N{INFORMATION SOURCE}"}
_HEX = {Tone.PAGE: "#D0021B", Tone.ESCALATED: "#F5A623", Tone.DONE: "#2E7D32", Tone.CLOSED: "#757575",
        Tone.NOTICE: "#1E88E5"}
_TEAMS_COLOR = {Tone.PAGE: "Attention", Tone.ESCALATED: "Warning", Tone.DONE: "Good", Tone.CLOSED: "Default",
                Tone.NOTICE: "Accent"}


@dataclass(frozen=True, kw_only=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, kw_only=True)
class ChatPost:
    """One post, before it is written in a service's format. ``title`` and ``lines`` may hold
    text from tickets and are escaped by each renderer; ``links`` and ``hint`` are oncall's."""

    title: str
    tone: Tone
    lines: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    hint: str = ""
    command: str = ""
    """A command line the hint mentions, shown as code where the service has code."""


def _clean(text: str, limit: int = MAX_LINE) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\N{HORIZONTAL ELLIPSIS}"


def _lines(post: ChatPost) -> list[str]:
    kept = [_clean(line) for line in post.lines[:MAX_LINES] if line.strip()]
    if len(post.lines) > MAX_LINES:
        kept.append(f"and {len(post.lines) - MAX_LINES} more")
    return kept


# ---- what pages and updates say ---------------------------------------------------------


def _incident_words(page: PageSummary) -> str:
    priority = _clean(page.priority).upper()
    customer = _clean(page.customer)
    head = " ".join(p for p in (priority, customer) if p)
    subject = _clean(page.subject) or "no subject"
    return f"{head}: {subject} (ticket {_clean(page.ticket_id, 60)})" if head else \
        f"{subject} (ticket {_clean(page.ticket_id, 60)})"


def page_wording(pages: Sequence[PageSummary]) -> str:
    """The chat channel's words for a page (one incident) or a bundle (oldest first): the first
    line is the post's title, each further line an incident. No reply codes."""
    if not pages:
        raise ValueError("a page needs at least one incident")
    if len(pages) == 1:
        return _incident_words(pages[0])
    priorities = {p.priority.strip().lower() for p in pages}
    kind = f"{priorities.pop()} incidents" if len(priorities) == 1 and "" not in priorities else "incidents"
    return "\n".join([f"{len(pages)} new {kind}", *(_incident_words(p) for p in pages)])


def ack_hint(incident_ids: Sequence[int]) -> tuple[str, str]:
    """(hint, command): how to acknowledge, since the post itself cannot."""
    command = f"oncall ack {incident_ids[0]}" if len(incident_ids) == 1 else "oncall ack ID"
    return ("This post is not an acknowledgement: acknowledge on the incident page, with "
            f"{command}, or by replying to your own SMS page.", command)


def notice_post(text: str, incident_ids: Sequence[int], link: Callable[[int], str | None], *,
                tone: Tone = Tone.PAGE) -> ChatPost:
    """A page or an admin alert (``tone`` a page), or a notice to read (the hand-over), from the
    message text (its first line the title) and the incidents it is about."""
    title, *rest = text.strip().splitlines() or [""]
    links = tuple(Link(label=f"Incident #{i}", url=url) for i in incident_ids if (url := link(i)))
    hint, command = ack_hint(incident_ids) if incident_ids else ("", "")
    return ChatPost(title=title, tone=tone, lines=tuple(rest), links=links, hint=hint, command=command)


# ---- the four formats -------------------------------------------------------------------


def _slack_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack(post: ChatPost) -> dict[str, Any]:
    title = f"{_SIGN[post.tone]} {_clean(post.title)}"
    body = "\n".join([f"*{_slack_text(title)}*", *(_slack_text(line) for line in _lines(post))])
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": body}}]
    if post.links:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "  ·  ".join(
            f"<{link.url}|{_slack_text(link.label)}>" for link in post.links)}})
    if post.hint:
        hint = _slack_text(post.hint)
        if post.command:
            hint = hint.replace(post.command, f"`{post.command}`", 1)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": hint}]})
    return {"text": _slack_text(title), "blocks": blocks}


def _teams(post: ChatPost) -> dict[str, Any]:
    body: list[dict[str, Any]] = [{
        "type": "TextBlock", "text": f"{_SIGN[post.tone]} {_clean(post.title)}", "weight": "Bolder",
        "size": "Medium", "color": _TEAMS_COLOR[post.tone], "wrap": True}]
    body += [{"type": "TextBlock", "text": line, "wrap": True, "spacing": "Small"} for line in _lines(post)]
    if post.hint:
        body.append({"type": "TextBlock", "text": post.hint, "wrap": True, "isSubtle": True, "size": "Small"})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
        "version": "1.4", "fallbackText": _clean(post.title), "msteams": {"width": "Full"}, "body": body}
    if post.links:
        card["actions"] = [{"type": "Action.OpenUrl", "title": link.label, "url": link.url}
                           for link in post.links]
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]#|~<>])")


def _mattermost_text(text: str) -> str:
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text).replace("@", "@\N{ZERO WIDTH SPACE}")


def _mattermost(post: ChatPost) -> dict[str, Any]:
    title = f"{_SIGN[post.tone]} {_clean(post.title)}"
    text = [_mattermost_text(line) for line in _lines(post)]
    if post.links:
        text.append("  ·  ".join(f"[{link.label}]({link.url})" for link in post.links))
    if post.hint:
        hint = post.hint.replace(post.command, f"`{post.command}`", 1) if post.command else post.hint
        text.append(f"_{hint}_")
    attachment = {"fallback": title, "color": _HEX[post.tone], "text": "\n".join(text)}
    return {"text": f"**{_mattermost_text(title)}**", "attachments": [attachment]}


def _google_text(text: str) -> str:
    return text.replace("<", "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK}").replace(
        ">", "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}")


def _googlechat(post: ChatPost) -> dict[str, Any]:
    lines = [f"*{_google_text(_SIGN[post.tone] + ' ' + _clean(post.title))}*",
             *(_google_text(line) for line in _lines(post))]
    if post.links:
        lines.append("  ·  ".join(f"<{link.url}|{link.label}>" for link in post.links))
    if post.hint:
        hint = post.hint.replace(post.command, f"`{post.command}`", 1) if post.command else post.hint
        lines.append(f"_{hint}_")
    return {"text": "\n".join(lines)}


RENDERERS: dict[ChatKind, Callable[[ChatPost], dict[str, Any]]] = {
    ChatKind.SLACK: _slack, ChatKind.TEAMS: _teams, ChatKind.MATTERMOST: _mattermost,
    ChatKind.GOOGLECHAT: _googlechat,
}


def render(kind: ChatKind, post: ChatPost) -> dict[str, Any]:
    """The JSON body ``kind``'s incoming webhook takes for ``post``."""
    return RENDERERS[kind](post)
