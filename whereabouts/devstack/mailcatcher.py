"""A local SMTP server that keeps every message, so people and tests can read what was sent.

Used by ``make run`` (messages saved as ``.eml`` files under ``var/mail/``, each 0600 in a 0700
folder: they are letters about children) and by the tests (kept in memory too). It can be told
to answer with an SMTP error, so the tests can show how the sending path treats temporary (4xx)
and permanent (5xx) failures.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from whereabouts.settings import private_dir, write_private


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    at: float = field(default_factory=time.monotonic)  # when the server accepted it


@dataclass
class MailCatcher:
    """The aiosmtpd handler: stores messages; ``fail_next`` makes the next DATA fail, and
    ``refuse`` makes the server refuse named addresses (a typo in an inbox, a closed mailbox).

    ``accept_delay`` holds each message that long before answering "250", as a busy mail server
    does; a client that disconnects meanwhile (a worker killed mid-send) has sent nothing, since
    aiosmtpd cancels the handler when the connection drops. ``in_flight`` lists the recipients of
    messages being held, so a test can kill a sender at exactly that moment.
    """

    folder: Path | None = None
    received: list[Received] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)  # e.g. ["451 4.3.0 try later"]
    lock: threading.Lock = field(default_factory=threading.Lock)
    accept_delay: float = 0.0
    in_flight: list[list[str]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> e.g. "550 5.1.1 no such user"
    refused: list[str] = field(default_factory=list)  # addresses refused so far

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Refuse the addresses in ``refuse`` at RCPT, as a real server refuses an unknown mailbox."""
        with self.lock:
            reply = self.refuse.get(address.lower())
            if reply:
                self.refused.append(address)
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.fail_next:
                return self.fail_next.pop(0)
        if self.accept_delay > 0:
            held = list(envelope.rcpt_tos)
            with self.lock:
                self.in_flight.append(held)
            try:
                await asyncio.sleep(self.accept_delay)
            finally:
                with self.lock:
                    self.in_flight.remove(held)
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        item = Received(envelope.mail_from or "", list(envelope.rcpt_tos), msg, raw)
        with self.lock:
            self.received.append(item)
            n = len(self.received)
        if self.folder is not None:
            # Letters name children and their families: 0600 files in a 0700 folder.
            private_dir(self.folder)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            subject = "".join(c if c.isalnum() else "-" for c in str(msg["Subject"] or ""))[:60]
            write_private(self.folder / f"{stamp}-{n:05d}-{subject}.eml", raw)
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.refuse.clear()
            self.refused.clear()

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start(
    catcher: MailCatcher,
    host: str = "127.0.0.1",
    port: int = 1025,
    tls_context: ssl.SSLContext | None = None,
) -> Controller:
    """Start in a background thread. With ``tls_context`` the server offers STARTTLS."""
    controller = Controller(
        catcher,
        hostname=host,
        port=port,
        tls_context=tls_context,
        require_starttls=tls_context is not None,
        decode_data=False,
        server_hostname="localhost",
        ready_timeout=10,
    )
    controller.start()
    return controller
