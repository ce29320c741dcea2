"""The one sending path, against a real SMTP server (aiosmtpd): plain, STARTTLS and implicit TLS
with a throw-away certificate; sent once across retries; 4xx retried, 5xx not; no header injection.

Activities run under ``temporalio.testing.ActivityEnvironment``: its ``info.heartbeat_details``
stands in for what the previous attempt heartbeated, and ``on_heartbeat`` records what this one
does, so a retry can be replayed exactly as the Temporal server would hand it over.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import ssl
import uuid
from datetime import UTC, datetime, time, timedelta
from email.utils import parseaddr
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.factories import case_id_of, make_case, sessions_for
from whereabouts.activities.deps import Deps
from whereabouts.activities.letters import LetterActivities
from whereabouts.activities.mail import (
    PERMANENT_MAIL_ERROR,
    Attachment,
    Mail,
    Refused,
    build_message,
    display_name,
    message_id,
    one_line,
    send_each,
)
from whereabouts.activities.notices import NoticeActivities
from whereabouts.devstack import mailcatcher
from whereabouts.models import Contact
from whereabouts.settings import Settings, SmtpSecurity
from whereabouts.steps import CallTried, CaseRef, LetterRequest, NoticeRequest

PARENT = "parent.one@family.example.net"
SECOND = "parent.two@family.example.net"
AUNT = "aunt@family.example.net"
OFFICE = "office@testhill.example.org"
STEP = "day3_letter"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def letter_request(case) -> LetterRequest:
    """A Day 3 letter request with a run id of its own, so its Message-IDs are new."""
    first = case.first_day_absent
    return LetterRequest(
        ref=CaseRef(case_id=case_id_of(case), run_id=f"run-{uuid.uuid4().hex[:8]}", step=STEP),
        case=case,
        calls=[
            CallTried(at=datetime.combine(first, time(8, 40), tzinfo=UTC), label="Day 1 call"),
            CallTried(at=datetime.combine(first + timedelta(days=1), time(9, 15), tzinfo=UTC), label="Day 2"),
        ],
        deadline=datetime.combine(first + timedelta(days=7), time(15), tzinfo=UTC),
        sessions=sessions_for(first),
    )


def two_parents(language: str | None = None):
    """A case with two contacts who hold parental responsibility, both with e-mail."""
    case = make_case(datetime(2027, 5, 24).date(), language=language)
    second = Contact(name="Sam Testperson", relationship="father", email=SECOND, parental_responsibility=True)
    return case.model_copy(update={"contacts": [case.contacts[0], second]})


def activity_env(details: list | None = None, beats: list | None = None) -> ActivityEnvironment:
    """An activity context; ``details`` as the previous attempt heartbeated them."""
    env = ActivityEnvironment()
    if details is not None:
        env.info = dataclasses.replace(env.info, attempt=2, heartbeat_details=details)
    if beats is not None:
        env.on_heartbeat = lambda *args: beats.append(list(args[0]))
    return env


async def send_letter(settings: Settings, req: LetterRequest, details=None, beats=None):
    acts = LetterActivities(Deps.from_settings(settings))
    return await activity_env(details, beats).run(acts.send_day3_letter, req)


def mail_to(addr: str, name: str = "Grace Testperson", step: str = "prompt") -> Mail:
    return Mail(to=addr, to_name=name, subject="Test", text="Hello.\n", step=step)


def self_signed_localhost(folder: Path) -> tuple[Path, Path]:
    """A throw-away certificate for "localhost" (and its key), made fresh for this test run."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "localhost.pem", folder / "localhost.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclasses.dataclass
class TlsServers:
    cert: Path
    starttls: mailcatcher.MailCatcher
    starttls_port: int
    implicit: mailcatcher.MailCatcher
    implicit_port: int


@pytest.fixture(scope="module")
def tls_servers(tmp_path_factory):
    """Two aiosmtpd servers with a self-signed "localhost" certificate: one offering (and
    requiring) STARTTLS, one speaking TLS from the first byte (port 465 style)."""
    cert, key = self_signed_localhost(tmp_path_factory.mktemp("tls"))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    starttls, implicit = mailcatcher.MailCatcher(), mailcatcher.MailCatcher()
    starttls_port = mailcatcher.free_port()
    c1 = mailcatcher.start(starttls, port=starttls_port, tls_context=server_ctx)
    implicit_port = mailcatcher.free_port()
    c2 = mailcatcher.Controller(
        implicit,
        hostname="127.0.0.1",
        port=implicit_port,
        ssl_context=server_ctx,
        server_hostname="localhost",
        ready_timeout=10,
    )
    c2.start()
    yield TlsServers(cert, starttls, starttls_port, implicit, implicit_port)
    c1.stop()
    c2.stop()


@pytest.fixture(params=["none", "starttls", "tls"])
def transport(request, settings, smtp, tls_servers):
    """(settings, the server that will receive) for each way of talking to the mail server.

    The TLS settings connect to "localhost" (the name on the certificate) and trust only the
    throw-away certificate, so the hostname and the chain are both really checked."""
    if request.param == "none":
        return settings, smtp
    server = tls_servers.starttls if request.param == "starttls" else tls_servers.implicit
    server.clear()
    server.fail_next.clear()
    port = tls_servers.starttls_port if request.param == "starttls" else tls_servers.implicit_port
    return (
        settings.model_copy(
            update={
                "smtp_host": "localhost",
                "smtp_port": port,
                "smtp_security": SmtpSecurity(request.param),
                "smtp_ca_file": tls_servers.cert,
            }
        ),
        server,
    )


# --------------------------------------------------------------------------------------------
# 1. The letter arrives, whole, over plain SMTP, STARTTLS and TLS
# --------------------------------------------------------------------------------------------
async def test_letter_arrives_in_both_languages_with_proper_headers(transport):
    settings, server = transport
    case = make_case(datetime(2027, 5, 24).date(), language="pl")
    req = letter_request(case)
    before = datetime.now(UTC)

    result = await send_letter(settings, req)

    # Only the mother holds parental responsibility; the aunt (who has an e-mail) gets nothing.
    assert [r.rcpt_tos for r in server.received] == [[PARENT]]
    assert not server.to(AUNT)
    assert result.emailed == 1 and result.printed == 0 and not result.interpreter_needed
    assert result.languages == ["Polish", "English"]
    msg = server.received[0].message

    assert msg["From"].addresses[0].addr_spec == parseaddr(settings.mail_from)[1]
    to = msg["To"].addresses
    assert len(to) == 1 and to[0].addr_spec == PARENT and to[0].display_name == "Grace Testperson"
    assert str(msg["Subject"]) == (
        "Robin: prosimy o kontakt ze szkołą Test Hill Primary jeszcze dziś"
        " / Please contact Test Hill Primary today about Robin"
    )
    assert msg["Message-ID"] == message_id(req.ref.key, STEP, PARENT) == result.message_ids[0]
    sent_at = msg["Date"].datetime
    assert sent_at.tzinfo is not None
    assert before - timedelta(seconds=5) <= sent_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert msg["Content-Language"] == "pl"
    assert msg["Auto-Submitted"] == "auto-generated"

    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert all(p.get_content_charset() == "utf-8" for p in msg.iter_parts())

    # Polish first, then English, in both parts; dates in each language's own words.
    assert text.index("Dzień dobry, Grace Testperson") < text.index("-" * 60) < text.index("Dear Grace")
    assert "poniedziałek, 24 maja 2027" in text and "Monday, 24 May 2027" in text
    assert '<html lang="pl" dir="ltr">' in html
    assert html.index('<section class="letter" lang="pl" dir="ltr">') < html.index(
        '<section class="letter" lang="en-GB" dir="ltr">'
    )
    assert "Dzień dobry, Grace Testperson" in html and "Dear Grace Testperson" in html
    assert "@page" in html  # the same page prints well if the family prints it


async def test_urdu_letter_is_right_to_left_over_starttls(settings, tls_servers):
    server = tls_servers.starttls
    server.clear()
    secure = settings.model_copy(
        update={
            "smtp_host": "localhost",
            "smtp_port": tls_servers.starttls_port,
            "smtp_security": SmtpSecurity.STARTTLS,
            "smtp_ca_file": tls_servers.cert,
        }
    )
    req = letter_request(make_case(datetime(2027, 5, 24).date(), language="URD"))
    result = await send_letter(secure, req)

    assert result.languages == ["Urdu", "English"]
    [received] = server.received
    msg = received.message
    assert msg["Content-Language"] == "ur"
    html = msg.get_body(("html",)).get_content()
    assert '<html lang="ur" dir="rtl">' in html
    assert '<section class="letter" lang="ur" dir="rtl">' in html
    assert '<section class="letter" lang="en-GB" dir="ltr">' in html  # English stays left-to-right
    assert '<header class="letterhead" lang="en" dir="ltr">' in html
    assert "محترم Grace Testperson" in msg.get_body(("plain",)).get_content()


async def test_untrusted_certificate_sends_nothing_and_retries(settings, tls_servers):
    """Without the CA file the client must refuse the self-signed certificate: the message is
    not sent in clear instead, and the failure is a retryable one (the office fixes the CA)."""
    server = tls_servers.starttls
    server.clear()
    insecure = settings.model_copy(
        update={
            "smtp_host": "localhost",
            "smtp_port": tls_servers.starttls_port,
            "smtp_security": SmtpSecurity.STARTTLS,
            "smtp_ca_file": None,
        }
    )
    with pytest.raises(ApplicationError) as info:
        await activity_env().run(send_each, insecure, "case/run", [mail_to(PARENT)])
    assert not info.value.non_retryable
    assert "@" not in str(info.value)
    assert server.received == []


# --------------------------------------------------------------------------------------------
# 2. Sent once: a retry after success sends nothing
# --------------------------------------------------------------------------------------------
def beat_ids(beat: list) -> list[str]:
    """The Message-IDs a heartbeat says the server has answered."""
    return sorted(item["message_id"] for item in beat)


async def test_first_attempt_heartbeats_ids_and_a_retry_sends_nothing(settings, smtp):
    mails = [mail_to(PARENT), mail_to(SECOND, "Sam Testperson")]
    beats: list[list] = []

    sent = await activity_env(beats=beats).run(send_each, settings, "case-1/run-1", mails)
    ids = [s.message_id for s in sent]

    assert ids == [message_id("case-1/run-1", "prompt", a) for a in (PARENT, SECOND)]
    assert all(s.accepted for s in sent)
    assert [beat_ids(b) for b in beats] == [sorted(ids[:1]), sorted(ids)]  # one per answered message
    assert [r.message["Message-ID"] for r in smtp.received] == ids

    smtp.clear()
    again = await activity_env(details=[beats[-1]]).run(send_each, settings, "case-1/run-1", mails)
    assert again == sent  # what the server answered is reported again, so the case records the same
    assert smtp.received == []


async def test_letter_activity_retried_after_success_sends_nothing(settings, smtp):
    req = letter_request(two_parents("pl"))
    beats: list[list] = []
    first = await send_letter(settings, req, beats=beats)
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == sorted([PARENT, SECOND])
    assert beat_ids(beats[-1]) == sorted(first.message_ids)

    smtp.clear()
    second = await send_letter(settings, req, details=[beats[-1]])
    assert smtp.received == []
    assert second.message_ids == first.message_ids
    assert second.emailed == first.emailed == 2


# --------------------------------------------------------------------------------------------
# 3. A 4xx, then success: delivered once
# --------------------------------------------------------------------------------------------
async def test_temporary_failure_is_retryable_then_delivers_once(settings, smtp):
    smtp.fail_next.append("451 4.3.0 try again later")
    req = letter_request(make_case(datetime(2027, 5, 24).date(), language="pl"))
    beats: list[list] = []

    with pytest.raises(ApplicationError) as info:
        await send_letter(settings, req, beats=beats)
    assert not info.value.non_retryable
    assert info.value.type != PERMANENT_MAIL_ERROR
    assert "451" in str(info.value) and "@" not in str(info.value)
    assert smtp.received == [] and beats == []

    result = await send_letter(settings, req, details=[])  # attempt 2: nothing heartbeated
    assert [r.rcpt_tos for r in smtp.received] == [[PARENT]]
    assert result.message_ids == [smtp.received[0].message["Message-ID"]]


async def test_recipient_accepted_before_a_4xx_is_not_sent_again(settings, smtp):
    """Two parents: the first is accepted, the server defers the second. The retry, given what
    the first attempt heartbeated, sends only the second."""
    req = letter_request(two_parents("pl"))
    beats: list[list] = []

    def on_heartbeat(*args):
        beats.append(list(args[0]))
        if len(beats) == 1:  # the first parent's letter is in: now the server has a hiccup
            smtp.fail_next.append("451 4.3.0 try again later")

    env = activity_env()
    env.on_heartbeat = on_heartbeat
    with pytest.raises(ApplicationError) as info:
        await env.run(LetterActivities(Deps.from_settings(settings)).send_day3_letter, req)
    assert not info.value.non_retryable
    assert [r.rcpt_tos for r in smtp.received] == [[PARENT]]
    assert [beat_ids(b) for b in beats] == [[message_id(req.ref.key, STEP, PARENT)]]

    result = await send_letter(settings, req, details=[beats[-1]])
    assert [r.rcpt_tos for r in smtp.received] == [[PARENT], [SECOND]]  # each exactly once
    assert result.message_ids == [message_id(req.ref.key, STEP, a) for a in (PARENT, SECOND)]
    assert smtp.received[1].message["Message-ID"] == result.message_ids[1]


# --------------------------------------------------------------------------------------------
# 4. A 5xx: that message is refused and the others go on; nothing personal in any failure
# --------------------------------------------------------------------------------------------
async def test_a_refused_parent_gets_a_posted_copy_and_the_other_parent_an_email(settings, smtp):
    """One bounced parent address must not stop the letter: the other parent gets it, and the
    office gets a print-ready copy for the refused parent, naming the address that failed."""
    smtp.refuse[PARENT] = "550 5.1.1 <parent.one@family.example.net>: mailbox unavailable"
    req = letter_request(two_parents("pl"))

    result = await send_letter(settings, req)

    assert [r.rcpt_tos for r in smtp.received] == [[SECOND], [OFFICE]]
    refused = [s for s in result.sent if not s.accepted]
    assert [(s.role, s.address) for s in refused] == [("parent", PARENT)]
    assert refused[0].refused == "550 5.1.1 (the address): mailbox unavailable"
    assert result.emailed == 1 and result.printed == 1
    office = smtp.to(OFFICE)[0].message
    text = office.get_body(("plain",)).get_content()
    assert f"the mail server refused {PARENT}: 550" in text
    assert [p.get_filename() for p in office.iter_attachments()] == ["day3-letter-contact1-pl.pdf"]


async def test_a_refusal_is_not_retried_and_a_failure_names_no_one(settings, smtp):
    smtp.fail_next.append("550 5.1.1 mailbox unavailable")
    req = letter_request(make_case(datetime(2027, 5, 24).date(), language="pl"))
    result = await send_letter(settings, req)  # no exception: the refusal is in the result
    assert [s.accepted for s in result.sent] == [False, True]  # the parent, then the office's copy
    assert smtp.received[0].rcpt_tos == [OFFICE]

    smtp.fail_next.append("451 4.3.0 try again later")  # a temporary failure does raise
    with pytest.raises(ApplicationError) as info:
        await send_letter(settings, letter_request(make_case(datetime(2027, 5, 24).date())))
    err = info.value
    assert err.type != PERMANENT_MAIL_ERROR and not err.non_retryable
    shown = f"{err} {err.message} {err.details!r} {err.__cause__!r} {err.__context__!r}"
    for personal in ("@", "Grace", "Testperson", "Robin", "family.example"):
        assert personal not in shown, (personal, shown)


def test_invalid_address_is_permanent():
    """An address that is not an address at all fails for good, without naming it."""
    with pytest.raises(Refused) as info:
        build_message(Settings(), mail_to("not-an-address"), "<x@whereabouts.invalid>", datetime.now(UTC))
    assert "not-an-address" not in str(info.value)


async def test_parent_mail_comes_from_the_school_and_a_reply_reaches_its_office(settings, smtp):
    case = make_case(datetime(2027, 5, 24).date())
    await send_letter(settings, letter_request(case))
    notices = NoticeActivities(Deps.from_settings(settings))
    ref = CaseRef(case_id=case_id_of(case), run_id="run-advice", step="day1_parent_advice")
    await activity_env().run(notices.send_notice, NoticeRequest(ref=ref, kind="parent_advice", case=case))
    notices_ref = CaseRef(case_id=case_id_of(case), run_id="run-prompt", step="day1_call")
    await activity_env().run(notices.send_notice, NoticeRequest(ref=notices_ref, kind="day1_call", case=case))

    letter, advice = (r.message for r in smtp.to(PARENT))
    for msg in (letter, advice):
        sender = msg["From"].addresses[0]
        assert sender.display_name == "Test Hill Primary"  # the family sees who writes
        assert sender.addr_spec == parseaddr(settings.mail_from)[1]  # sent by the system's address
        assert [a.addr_spec for a in msg["Reply-To"].addresses] == [OFFICE]  # Reply reaches the school
    [prompt] = (r.message for r in smtp.to(OFFICE))
    assert prompt["Reply-To"] is None and prompt["From"].addresses[0].display_name == "Whereabouts"


# --------------------------------------------------------------------------------------------
# Header injection, with a real server: the envelope holds only the real recipient
# --------------------------------------------------------------------------------------------
async def test_injected_bcc_in_a_name_reaches_no_one(settings, smtp):
    evil = Mail(
        to=PARENT,
        to_name="Grace\r\nBcc: evil@example.com",
        subject="Hello\nBcc: evil@example.com",
        text="Hi.\n",
        step="prompt",
    )
    await activity_env().run(send_each, settings, "case/run", [evil])
    [received] = smtp.received
    assert received.rcpt_tos == [PARENT]
    assert received.message["Bcc"] is None
    assert len(received.message.get_all("To")) == 1
    assert b"\nBcc:" not in received.raw and b"\rBcc:" not in received.raw


SPECIALS = set('()<>@,;:\\"[]')  # need quoting in a display name
HOSTILE = st.sampled_from(
    [
        "\r\nBcc: evil@example.com",
        "\nBcc: evil@example.com",
        "\rTo: evil@example.com",
        '"; evil@example.com, "',
        "<evil@example.com>",
        "Ann, Bob <b@example.com>",
        "=?utf-8?q?Bcc=3A_evil=40example=2Ecom?=",
        "<script>alert(1)</script>",
        "O'Brien-Núñez",
        "Сергій Ковальчук",
        "محمد",
        "ਹਰਪ੍ਰੀਤ",
    ]
)
NAMES = st.lists(
    st.one_of(HOSTILE, st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)),
    min_size=1,
    max_size=3,
).map("".join)


# Found by the property test below (Python 3.11's header folder): a name that needs quoting but is
# too long for one line lost its quotes, and a literal encoded word was decoded and written raw, so
# each of these put evil@example.com into the To header the family's mail program reads.
REGRESSIONS = [
    "=?utf-8?q?Bcc=3A_evil=40example=2Ecom?=",
    "Zoë =?utf-8?q?Bcc=3A_evil=40example=2Ecom?=",
    "x" * 70 + ", evil@example.com,",
    "Grace Testperson-Longname-Doublebarrel " * 2 + "; Bcc: evil@example.com",
]


@pytest.mark.parametrize("name", REGRESSIONS)
def test_name_cannot_add_an_address_to_the_to_header(name):
    mail = Mail(to=PARENT, to_name=name, subject="x", text="x\n", step="s")
    raw = build_message(Settings(), mail, "<id@whereabouts.invalid>", datetime.now(UTC)).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert [a.addr_spec for a in parsed["To"].addresses] == [PARENT]
    assert b"evil@example.com" not in raw


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Grace Testperson", "Grace Testperson"),
        ("Siobhán O'Brien-Núñez", "Siobhán O'Brien-Núñez"),
        ("Сергій Ковальчук", "Сергій Ковальчук"),
        ("محمد عبد الله", "محمد عبد الله"),
        ("Mrs. J. Smith", "Mrs. J. Smith"),
        ("Smith, John (Jo)", "Smith John Jo"),  # what needs quoting is blanked, nothing else
    ],
)
def test_ordinary_names_keep_their_form(name, shown):
    mail = Mail(to=PARENT, to_name=name, subject="x", text="x\n", step="s")
    raw = build_message(Settings(), mail, "<id@whereabouts.invalid>", datetime.now(UTC)).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["To"].addresses[0].display_name == shown


@pytest.mark.parametrize("attachments", [0, 1])
def test_content_language_survives_the_body(attachments):
    """Regression: set_content() clears every Content-* header, so a Content-Language set
    before the body was silently dropped from every letter."""
    mail = Mail(
        to=PARENT,
        subject="x",
        text="x\n",
        html="<p>x</p>",
        language="ur",
        step="s",
        attachments=[Attachment(filename="a.html", content_type="text/html", data=b"<p>a</p>")] * attachments,
    )
    raw = build_message(Settings(), mail, "<id@whereabouts.invalid>", datetime.now(UTC)).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Content-Language"] == "ur"
    html = parsed.get_body(("html",))
    assert html is not None and html.get_content() == "<p>x</p>\n"


@hsettings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, subject=NAMES)
def test_no_header_injection_whatever_the_name_or_subject(name, subject):
    mail = Mail(to=PARENT, to_name=name, subject=subject, text=f"Dear {name},\n", html="<p>x</p>", step="s")
    raw = build_message(Settings(), mail, "<id@whereabouts.invalid>", datetime.now(UTC)).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)

    assert parsed["Bcc"] is None and parsed["Cc"] is None
    assert len(parsed.get_all("To") or []) == 1
    assert [a.addr_spec for a in parsed["To"].addresses] == [PARENT]
    assert len(parsed.get_all("Subject") or []) == 1
    assert len(parsed.get_all("From") or []) == 1
    assert "\n" not in str(parsed["Subject"]) and "\r" not in str(parsed["Subject"])
    # The subject survives, flattened to one line (unless it holds a literal RFC 2047 encoded
    # word, which mail readers decode: cosmetic, and it cannot add a header or an address).
    # Spaces aside: Python's folder may drop or add one next to an encoded word.
    if "=?" not in subject:
        assert "".join(str(parsed["Subject"]).split()) == "".join(one_line(subject).split())
    # The name survives as shown beside the address, with anything that needs quoting blanked
    # (see mail.display_name). Spaces aside: Python may add one where it folds a long name.
    shown = "".join(parsed["To"].addresses[0].display_name.split())
    assert shown == "".join(display_name(name).split())
    if not SPECIALS.intersection(name) and "=?" not in name:
        assert shown == "".join(name.split())
