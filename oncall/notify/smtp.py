"""E-mail pages through an SMTP relay: the second channel when phones fail."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid

import structlog

from oncall.errors import ConfigError, DeliveryError, PermanentDeliveryError
from oncall.interfaces import Channel, Outbound, SendResult
from oncall.notify.privacy import mask_email
from oncall.notify.retry import RetryPolicy, TransientError
from oncall.notify.settings import SmtpSettings

log = structlog.get_logger(__name__)

SmtpFactory = Callable[[str, int, float], smtplib.SMTP]


def _default_factory(host: str, port: int, timeout: float) -> smtplib.SMTP:
    return smtplib.SMTP(host, port, timeout=timeout)


class SmtpTransport:
    """Sends :class:`Outbound` e-mails; 4xx/connection trouble is retried, 5xx is final."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings, *, retry: RetryPolicy | None = None,
                 smtp_factory: SmtpFactory = _default_factory) -> None:
        if not settings.configured or settings.host is None or settings.from_address is None:
            raise ConfigError("smtp: host and from_address are required")
        self._settings = settings
        self._host = settings.host
        self._from = settings.from_address
        self._retry = retry or RetryPolicy()
        self._factory = smtp_factory

    def channels(self) -> frozenset[Channel]:
        return frozenset({Channel.EMAIL})

    def send(self, message: Outbound) -> SendResult:
        if message.channel is not Channel.EMAIL:
            raise PermanentDeliveryError(f"smtp transport cannot send {message.channel}")
        email = EmailMessage()
        email["From"] = self._from
        email["To"] = message.to
        email["Subject"] = message.subject or message.text.splitlines()[0][:78]
        email["Message-ID"] = make_msgid(domain=self._from.partition("@")[2] or None)
        email["X-Oncall-Key"] = message.key
        email["X-Priority"] = "1"  # shows as "high importance" in most mail clients
        email.set_content(message.text)
        masked = mask_email(message.to)
        try:
            self._retry.run(lambda: self._deliver(email, message.to))
        except TransientError as exc:
            log.error("smtp.send_failed", key=message.key, to=masked, error=str(exc))
            raise DeliveryError(f"e-mail to {masked} failed after retries: {exc}") from None
        except PermanentDeliveryError as exc:
            log.error("smtp.send_refused", key=message.key, to=masked, error=str(exc))
            raise
        log.info("smtp.sent", key=message.key, to=masked, message_id=email["Message-ID"])
        return SendResult(provider_id=str(email["Message-ID"]), status="accepted")

    def _deliver(self, email: EmailMessage, to: str) -> None:
        s = self._settings
        try:
            with self._factory(self._host, s.port, s.timeout_seconds) as smtp:
                if s.starttls:
                    smtp.starttls()
                if s.username and s.password is not None:
                    smtp.login(s.username, s.password.get_secret_value())
                smtp.send_message(email, from_addr=self._from, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(400 <= c < 500 for c in codes):
                raise TransientError(f"recipient deferred ({codes})") from None
            raise PermanentDeliveryError(f"recipient refused by the relay ({codes})",
                                         code=codes[0] if codes else None) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError("the SMTP relay does not offer STARTTLS "
                                "(set smtp.starttls: false only for a trusted local relay)") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused ({exc.smtp_code})") from None
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientError(f"relay said {exc.smtp_code}") from None
            raise DeliveryError(f"relay refused the message ({exc.smtp_code})") from None
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            raise TransientError(f"cannot reach {self._host}:{s.port}: "
                                 f"{type(exc).__name__}") from None
