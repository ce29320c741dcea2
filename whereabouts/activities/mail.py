"""The one sending path for every e-mail Whereabouts sends: prompts, letters, referrals.

Why it is careful:
- *Sent once.* Each message carries a Message-ID derived from the case, the step and the
  recipient. After the server accepts a message the activity heartbeats the IDs sent so far; a
  retried attempt reads them back and skips what already went. (The only gap left is a crash in
  the instant between the server's "250 OK" and the heartbeat; the stable Message-ID lets the
  receiving mail system discard that duplicate.)
- *Permanent vs temporary.* A 5xx reply or a refused address will not get better by retrying, so
  it fails the activity as non-retryable and the workflow gives the office a task. 4xx replies and
  connection failures retry with back-off, so a mail server that is down only delays a message.
- *No header injection.* Every header value is flattened to one line before it is set.
- *No personal data in errors.* Failure messages name the step and the recipient's position,
  never the address, because Temporal keeps failure messages in clear.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from whereabouts import metrics
from whereabouts.models import DeliveryDelay
from whereabouts.settings import Settings, SmtpSecurity

PERMANENT_MAIL_ERROR = "PermanentMailError"


class Attachment(BaseModel):
    filename: str
    content_type: str  # e.g. "text/calendar; method=REQUEST"
    data: bytes


class Mail(BaseModel):
    """One message to one recipient (so each recipient has its own Message-ID)."""

    to: str
    to_name: str | None = None
    subject: str
    text: str
    html: str | None = None
    language: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    step: str  # the case step this message belongs to, part of its Message-ID


def one_line(value: str) -> str:
    """Header values may never carry a line break: that is how headers get injected."""
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def message_id(case_key: str, step: str, recipient: str) -> str:
    digest = hashlib.sha256(f"{case_key}|{step}|{recipient.lower()}".encode()).hexdigest()[:32]
    return f"<{digest}@whereabouts.invalid>"


def _address(name: str | None, addr: str) -> Address:
    display, email = parseaddr(one_line(addr))
    user, _, domain = email.partition("@")
    if not user or not domain:
        raise ApplicationError("invalid e-mail address", type=PERMANENT_MAIL_ERROR, non_retryable=True)
    return Address(display_name=display_name(name or display or ""), username=user, domain=domain)


# Characters that make a display name need quoting, and "=?" (which starts an RFC 2047 encoded
# word). Python 3.11's header folder drops the quotes around a name too long for one line, and
# writes a decoded encoded word raw, so either would let a name add addresses to the To header.
_UNSAFE_IN_NAME = re.compile(r'[()<>@,;:\\"\[\]]|=\?')


def display_name(value: str) -> str:
    """A name as shown beside an address: one line, nothing that could read as an address."""
    return one_line(_UNSAFE_IN_NAME.sub(" ", value))


def build_message(settings: Settings, mail: Mail, msg_id: str, sent_at: datetime) -> EmailMessage:
    msg = EmailMessage()
    from_name, from_addr = parseaddr(settings.mail_from)
    msg["From"] = _address(from_name, from_addr)
    msg["To"] = _address(mail.to_name, mail.to)
    msg["Subject"] = one_line(mail.subject)
    msg["Message-ID"] = msg_id
    msg["Date"] = format_datetime(sent_at)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(mail.text, charset="utf-8")
    if mail.html:
        msg.add_alternative(mail.html, subtype="html", charset="utf-8")
    for att in mail.attachments:
        maintype, _, rest = att.content_type.partition("/")
        subtype, _, params = rest.partition(";")
        extra = {}
        for param in filter(None, (p.strip() for p in params.split(";"))):
            k, _, v = param.partition("=")
            extra[k.strip()] = v.strip()
        msg.add_attachment(
            att.data,
            maintype=maintype,
            subtype=subtype.strip(),
            filename=att.filename,
            params=extra,
        )
    if mail.language:  # after the body: set_content() clears every Content-* header
        msg["Content-Language"] = one_line(mail.language)
    return msg


def _tls_context(settings: Settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None)
    return ctx


@metrics.email_failed
async def deliver(settings: Settings, msg: EmailMessage) -> None:
    """Hand one message to the SMTP server, classifying failures for Temporal's retry policy."""
    sec = settings.smtp_security
    try:
        await aiosmtplib.send(
            msg,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=sec is SmtpSecurity.STARTTLS,
            use_tls=sec is SmtpSecurity.TLS,
            tls_context=_tls_context(settings) if sec is not SmtpSecurity.NONE else None,
            timeout=settings.smtp_timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = sorted({r.code for r in exc.recipients})
        if all(c >= 500 for c in codes):
            raise ApplicationError(
                f"mail server refused the recipient permanently ({codes})",
                type=PERMANENT_MAIL_ERROR,
                non_retryable=True,
            ) from None
        raise ApplicationError(f"mail server deferred the recipient ({codes})") from None
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code >= 500:
            raise ApplicationError(
                f"mail server rejected the message permanently ({exc.code})",
                type=PERMANENT_MAIL_ERROR,
                non_retryable=True,
            ) from None
        raise ApplicationError(f"mail server asked to try later ({exc.code})") from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise ApplicationError(f"mail server unreachable ({type(exc).__name__}); will retry") from None


def _worth_reporting(attempt: int) -> bool:
    # The second failed try says "delayed"; later reports only refresh the count, and sparsely,
    # so a mail server down for a weekend adds tens of events to a case's history, not thousands.
    return attempt == 2 or (attempt > 2 and attempt % 10 == 0)


async def report_delay(step: str, attempt: int, reason: str) -> None:
    """Tell the case its e-mail for ``step`` is waiting on the mail server.

    Best effort: the retry goes on whether or not the case hears of it. Nothing personal goes in
    the signal or the log line: ``reason`` comes from ``deliver``, which names no one.
    """
    info = activity.info()
    try:
        handle = activity.client().get_workflow_handle(info.workflow_id or "", run_id=info.workflow_run_id)
        await handle.signal(
            "delivery_delayed",
            DeliveryDelay(step=step, activity=info.activity_type, attempt=attempt, reason=reason),
        )
    except Exception as exc:  # reporting must never change the send's outcome
        activity.logger.warning("could not report a mail delay to the case: %s", type(exc).__name__)


async def send_all(
    settings: Settings, case_key: str, mails: list[Mail], step: str | None = None
) -> list[str]:
    """Send each message once, heartbeating progress so a retry skips what already went.

    Returns the Message-IDs, in order. Must run inside an activity. With ``step`` given, a try
    that fails and will be retried tells the case (``delivery_delayed``), so its status shows it.
    """
    info = activity.info()
    done: set[str] = set()
    if info.heartbeat_details:
        done = set(info.heartbeat_details[0])
    ids: list[str] = []
    for mail in mails:
        msg_id = message_id(case_key, mail.step, mail.to)
        ids.append(msg_id)
        if msg_id in done:
            continue
        msg = build_message(settings, mail, msg_id, datetime.now(UTC))
        try:
            await deliver(settings, msg)
        except ApplicationError as exc:
            if step and not exc.non_retryable and _worth_reporting(info.attempt):
                await report_delay(step, info.attempt, exc.message)
            raise
        done.add(msg_id)
        activity.heartbeat(sorted(done))
    return ids
