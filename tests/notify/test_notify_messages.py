"""SMS texts fit one segment; voice scripts and status lines read as specified."""

from __future__ import annotations

import pytest

from oncall.notify.gsm7 import fit, is_gsm7, to_gsm7
from oncall.notify.messages import (
    PageSummary,
    bundle_sms,
    gsm7_segments,
    help_text,
    not_understood_text,
    page_sms,
    status_line,
    unknown_number_text,
    voice_script,
)


def test_page_sms_example_from_the_issue() -> None:
    assert (page_sms(1, "urgent", "acme", "Production down", "T-1001")
            == "URGENT #1 acme: Production down (ticket T-1001). Reply 1a ack, 1e escalate")


TYPICAL = [
    (1, "urgent", "acme", "Production down", "T-1001"),
    (12, "high", "Globex Corporation", "Checkout API returns 502 for all EU customers since the "
     "deploy at 02:10; rollback failed, DB replica lag 40 min", "ZD-4815162342"),
    (481, "urgent", "Initech", "Re: Re: Fwd: URGENT!!! payroll export hangs – “cannot lock "
     "table” … please call back ASAP", "FD-99871"),
    (7, "critical", "Société Générale d'Électricité", "Störung: Zähler-Übertragung ausgefallen, "
     "Kunden ohne Strom in München und Köln", "JSM-1234"),
    (99999, "urgent", "a" * 80, "b" * 300, "T-" + "9" * 40),
    (3, "", "acme", "No priority given", "T-1"),
    (5, "urgent", "acme", "Braces {curly} [square] ~tilde~ |pipe| ^caret^ €uro \\back",
     "T-5"),
]


@pytest.mark.parametrize("page", TYPICAL)
def test_typical_pages_fit_one_gsm7_segment(page: tuple[int, str, str, str, str]) -> None:
    text = page_sms(*page)
    assert is_gsm7(text), text
    assert gsm7_segments(text) == 1, text
    code = page[0]
    assert f"#{code}" in text and f"{code}a" in text


def test_long_subject_is_truncated_with_three_dots_not_ellipsis() -> None:
    text = page_sms(2, "urgent", "acme", "word " * 60, "T-2")
    assert "..." in text and "…" not in text
    assert "(ticket T-2). Reply 2a ack, 2e escalate" in text


def test_curly_quotes_and_dashes_are_transliterated() -> None:
    text = page_sms(4, "urgent", "acme", "“Login” – broken…", "T-4")
    assert '"Login" - broken...' in text


def test_non_latin_text_falls_back_to_one_ucs2_segment() -> None:
    text = page_sms(3, "high", "Газпром", "Производство не работает совсем, никто не знает почему",
                    "T-1")
    assert not is_gsm7(text)
    assert len(text) <= 70 and gsm7_segments(text) == 1
    assert "Газпром" in text and "3a" in text


def test_bundle_for_a_storm() -> None:
    items = [PageSummary(code=481 + i, priority="urgent", customer="acme",
                         subject="Production down", ticket_id=f"T-{i}") for i in range(12)]
    assert bundle_sms(items) == ("12 new urgent incidents, oldest #481: acme Production down. "
                                 "Reply AA to ack all")


def test_bundle_of_mixed_priorities_and_long_subject_fits() -> None:
    items = [PageSummary(code=1, priority="urgent", customer="acme", subject="x " * 200,
                         ticket_id="T-1"),
             PageSummary(code=2, priority="high", customer="beta", subject="y", ticket_id="T-2")]
    text = bundle_sms(items)
    assert text.startswith("2 new incidents, oldest #1: acme")
    assert gsm7_segments(text) == 1


def test_bundle_of_one_is_a_page_and_of_none_an_error() -> None:
    item = PageSummary(code=1, priority="urgent", customer="acme", subject="Production down",
                       ticket_id="T-1001")
    assert bundle_sms([item]) == page_sms(1, "urgent", "acme", "Production down", "T-1001")
    with pytest.raises(ValueError):
        bundle_sms([])


def test_voice_script_reads_the_page_and_the_keys() -> None:
    assert voice_script("urgent", "Acme", "production down") == (
        "Urgent ticket from Acme: production down. Press 4 to acknowledge, 5 to escalate, "
        "star to repeat.")
    assert "Ticket T-9." in voice_script("high", "Acme", "db slow.", "T-9")


@pytest.mark.parametrize(("codes", "expected"), [
    (1, "#1 acknowledged by alice. 2 open."),
    ([1, 2], "#1, #2 acknowledged by alice. 2 open."),
    (list(range(1, 13)), "12 incidents acknowledged by alice. 2 open."),
])
def test_status_line(codes: int | list[int], expected: str) -> None:
    assert status_line(codes, "acknowledged", "alice", 2) == expected


@pytest.mark.parametrize("text", [help_text(), not_understood_text(), unknown_number_text()])
def test_canned_answers_are_one_gsm_line(text: str) -> None:
    assert "\n" not in text and is_gsm7(text) and gsm7_segments(text) == 1


@pytest.mark.parametrize(("text", "segments"), [
    ("", 0), ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2),  # extension characters take two septets
    ("я" * 70, 1), ("я" * 71, 2), ("я" * 134, 2), ("я" * 135, 3),
    ("a" * 159 + "’", 3),  # one curly quote switches 160 characters to UCS-2
    ("🚨" * 35, 1), ("🚨" * 36, 2),  # astral characters are two UTF-16 units
])
def test_gsm7_segments(text: str, segments: int) -> None:
    assert gsm7_segments(text) == segments


def test_to_gsm7_keeps_accents_it_can_and_refuses_other_scripts() -> None:
    assert to_gsm7("Café São Paulo – Łódź") == "Café Sao Paulo - Lodz"
    assert to_gsm7("Ŋ\u200bx") == "? x"
    assert to_gsm7("東京 down") is None


@pytest.mark.parametrize("budget", [0, 3, 10, 40])
def test_fit_respects_the_budget(budget: int) -> None:
    assert len(fit("The quick brown fox jumps over the lazy dog", budget, gsm=True)) <= budget
