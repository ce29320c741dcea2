"""The one sending path for every e-mail Whereabouts sends: prompts, letters, referrals.

Why it is careful:
- *Each message on its own.* A step may send several messages (a letter to each parent, an
  escalation to police, social care and the DSL). Each succeeds or fails by itself: one refused
  address never stops the others, and the step returns what became of every message (``Sent``),
  so the case can write down exactly who was told and route what was refused another way.
- *Sent once, recorded at once.* Each message carries a Message-ID derived from the case, the
  step and the recipient. Once the server has answered a message (accepted or refused it for
  good) the activity records that answer in Temporal as heartbeat details, and waits for Temporal
  to confirm it before it sends the next message; a retried attempt reads them back and skips
  those messages. The SDK's own ``activity.heartbeat`` is not enough for this: it is
  fire-and-forget and throttled (a heartbeat soon after another is held back), so a worker killed
  a moment later loses the record and the retry sends those messages again (3 kills during 60
  cases sent 7 to 13 duplicates that way). What SMTP cannot close is the gap between the server's
  "250" and Temporal's confirmation: a worker killed there re-sends that one message, with the
  same Message-ID, so the recipient's mail system can tell it is the same one.
- *Permanent vs temporary.* A 5xx reply or a refused address will not get better by retrying:
  that message is marked refused, with the server's reply, and the others go on. 4xx replies and
  connection failures leave the message waiting: the step fails retryably once the others are
  sent, so a mail server that is down only delays a message.
- *No header injection.* Every header value is flattened to one line before it is set.
- *TLS in production.* A production worker sends nothing over plain SMTP (STARTTLS is required,
  not opportunistic, and the server's certificate is checked) unless WHEREABOUTS_SMTP_ALLOW_PLAIN
  says so: the worker refuses to start, and ``deliver`` refuses too (retryably, so the message goes
  once the setting is fixed).
- *No personal data in errors.* Failure messages name the step and how many messages wait, never
  an address, because Temporal keeps failure messages in clear; who was refused travels in the
  step's result, which is encrypted like every payload.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import ssl
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import AsyncActivityCancelledError
from temporalio.exceptions import ApplicationError

from whereabouts import metrics
from whereabouts.settings import Settings, SmtpSecurity, plain_smtp_refused
from whereabouts.steps import Sent

PERMANENT_MAIL_ERROR = "PermanentMailError"
log = logging.getLogger(__name__)


class Attachment(BaseModel):
    filename: str
    content_type: str  # e.g. "text/calendar; method=REQUEST"
    data: bytes


class Mail(BaseModel):
    """One message to one recipient (so each recipient has its own Message-ID)."""

    to: str
    to_name: str | None = None
    role: str = "office"  # who the recipient is to the case: office, dsl, police, parent, ...
    label: str | None = None  # how the chronology names them (default: to_name)
    from_name: str | None = None  # the sender's display name (parents see the school's name)
    reply_to: str | None = None  # where a reply goes (parents reply to the school, not to us)
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
        raise Refused("not a valid e-mail address")
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
    msg["From"] = _address(mail.from_name or from_name, from_addr)
    msg["To"] = _address(mail.to_name, mail.to)
    if mail.reply_to:
        msg["Reply-To"] = _address(mail.from_name, mail.reply_to)
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


class Refused(Exception):
    """The mail server refused a message for good (or it has no valid address): ``reason`` says
    how, in the server's words (its reply code and text), naming no one."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@metrics.email_failed
async def deliver(settings: Settings, msg: EmailMessage) -> None:
    """Hand one message to the SMTP server: ``Refused`` for good, or a retryable failure."""
    sec = settings.smtp_security
    refused = plain_smtp_refused(settings)
    if refused:
        raise ApplicationError(f"mail not sent: {refused}")
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
            raise Refused(_reply(exc.recipients[0].code, exc.recipients[0].message)) from None
        raise ApplicationError(f"mail server deferred the recipient ({codes})") from None
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code >= 500:
            raise Refused(_reply(exc.code, exc.message)) from None
        raise ApplicationError(f"mail server asked to try later ({exc.code})") from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise ApplicationError(f"mail server unreachable ({type(exc).__name__}); will retry") from None


def _reply(code: int, text: str) -> str:
    """'550 5.1.1 mailbox unavailable': the server's reply, one line, without the address it may
    quote (servers often echo the recipient), for the chronology and the office's task."""
    line = one_line(text)
    line = re.sub(r"<?[^\s<>@]+@[^\s<>@]+>?", "(the address)", line)
    return f"{code} {line}"[:200]


class Outbox:
    """What one attempt of a mail step has sent, and what earlier attempts did (from heartbeats).

    Must be used inside an activity. Every answer the server gives (accepted, or refused for good)
    is recorded at once with all the earlier ones (``record``), and confirmed by Temporal before
    the next message goes, so a retried attempt skips those messages and reports them as they
    were. While the server takes its time over one message the record is sent again now and then
    (``deliver``), so a slow mail server is not mistaken for a dead worker.
    """

    def __init__(self, settings: Settings, case_key: str) -> None:
        self.settings = settings
        self.case_key = case_key
        info = activity.info()
        self.done: dict[str, Sent] = {}
        for item in info.heartbeat_details[0] if info.heartbeat_details else []:
            sent = Sent.model_validate(item)
            self.done[sent.message_id] = sent
        # Heartbeats go one at a time, each with everything answered so far: one sent out of
        # order could put an older list back over a newer one.
        self._recording = asyncio.Lock()
        timeout = info.heartbeat_timeout or timedelta(minutes=1)
        self._keep_alive = max(timeout.total_seconds() / 4, 0.5)

    def _details(self) -> list[dict[str, object]]:
        return [s.model_dump(mode="json") for s in self.done.values()]

    async def record(self) -> None:
        """Record what the server has answered so far in Temporal, and wait until it has it.

        Through the client's RecordActivityTaskHeartbeat call, awaited, not the SDK's throttled
        ``activity.heartbeat``: see the module's docstring. Without a client (an activity run
        on its own in a test) or if Temporal cannot be reached just now, the SDK's heartbeat
        carries the record instead, as well as it can (it keeps trying).
        """
        async with self._recording:
            details = self._details()
            try:
                client = activity.client()
            except RuntimeError:  # no client: an activity run by ActivityEnvironment
                activity.heartbeat(details)
                return
            try:
                handle = client.get_async_activity_handle(task_token=activity.info().task_token)
                await handle.heartbeat(details)
            except AsyncActivityCancelledError:
                # Cancelled (or paused, or reset) meanwhile: the SDK's own heartbeat, with the same
                # record, hears that too and cancels this attempt the usual way; nothing more goes.
                activity.heartbeat(details)
                await activity.wait_for_cancelled()
                raise asyncio.CancelledError from None
            except Exception as exc:  # Temporal unreachable for a moment: let the SDK carry it
                log.warning("could not record sent mail at once (%s); the SDK will retry", type(exc).__name__)
                activity.heartbeat(details)

    async def deliver(self, msg: EmailMessage) -> None:
        """``deliver``, with the record sent again every quarter of the heartbeat timeout until
        the server answers: a server taking 30 s over one message is slow, not a dead worker."""
        sending: asyncio.Task[None] = asyncio.ensure_future(deliver(self.settings, msg))
        try:
            while True:
                done, _ = await asyncio.wait({sending}, timeout=self._keep_alive)
                if done:
                    return sending.result()
                await self.record()
        finally:
            sending.cancel()  # cancelled meanwhile: the message must not go on without us

    async def send(self, mails: list[Mail]) -> list[Sent]:
        """Send each message once; what the server answered, in order.

        Messages the server could not take now are left for the next attempt: once the others are
        sent, a retryable ``ApplicationError`` says how many wait (naming no one).
        """
        results: list[Sent] = []
        waiting: list[ApplicationError] = []
        for mail in mails:
            msg_id = message_id(self.case_key, mail.step, mail.to)
            if msg_id in self.done:
                results.append(self.done[msg_id])
                continue
            sent = Sent(
                role=mail.role,
                to_label=mail.label or mail.to_name or mail.role,
                address=mail.to,
                message_id=msg_id,
                accepted=True,
            )
            try:
                await self.deliver(build_message(self.settings, mail, msg_id, datetime.now(UTC)))
            except Refused as refused:
                sent.accepted, sent.refused = False, refused.reason
                metrics.increment(metrics.EMAILS_FAILED, {"kind": "permanent"})
            except ApplicationError as exc:
                waiting.append(exc)
                continue
            self.done[msg_id] = sent
            results.append(sent)
            await self.record()
        if waiting:
            raise ApplicationError(
                f"{len(waiting)} of {len(mails)} message(s) waiting for the mail server: {waiting[0].message}"
            )
        return results


async def send_each(settings: Settings, case_key: str, mails: list[Mail]) -> list[Sent]:
    """Send each message once (see ``Outbox``): for a step that sends one batch."""
    return await Outbox(settings, case_key).send(mails)
