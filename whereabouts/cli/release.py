"""Rolling out a release while cases run: which build each case is on, and promoting a new one.

    python -m whereabouts.cli.release status            # versions, cases on each, oldest open case
    python -m whereabouts.cli.release promote BUILD_ID  # new cases and every open case move to it

Cases auto-upgrade (``whereabouts/versioning.py``), so promoting a build moves every open case to
it at its next workflow task; the old build's workers can stop once ``status`` shows no case on
it. ``status`` also gives the start of the oldest open case: a ``workflow.patched`` branch kept
for cases that were open when its release went current can go once that date is later (README
"Releases"). Reads only Temporal's visibility store and the deployment: no personal data.

Exit codes: 0 done; 2 bad usage or settings; 3 no such deployment or build; 4 Temporal unreachable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from whereabouts.cli.common import CommandError, load_settings, open_client, run_main
from whereabouts.versioning import current_build, describe, make_current

USAGE, NO_SUCH, UNREACHABLE = 2, 3, 4
CASES = "WorkflowType = 'CmeCase' AND ExecutionStatus = 'Running'"
STATUS_WORDS = {
    0: "unspecified",
    1: "inactive",
    2: "current",
    3: "ramping",
    4: "draining",
    5: "drained",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="release", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="the deployment's versions and the open cases on each")
    promote = sub.add_parser("promote", help="make BUILD_ID the version new and open cases run on")
    promote.add_argument("build_id", metavar="BUILD_ID")
    return p


async def status(client: Client, deployment: str, out: TextIO) -> int:
    try:
        info = (await describe(client, deployment)).worker_deployment_info
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise CommandError(NO_SUCH, f"no worker deployment {deployment!r}: has a worker run?") from None
        raise
    current = info.routing_config.current_deployment_version.build_id or "(none)"
    out.write(f"deployment {deployment}: current build {current}\n")
    for summary in sorted(info.version_summaries, key=lambda v: v.create_time.ToDatetime()):
        build = summary.deployment_version.build_id
        version = f"TemporalWorkerDeploymentVersion = '{deployment}:{build}'"
        on = await client.count_workflows(f"{CASES} AND {version}")
        state = STATUS_WORDS.get(int(summary.status), str(summary.status))
        out.write(f"  build {build:<24} {state:<10} open cases on it: {on.count}\n")
    unversioned = await client.count_workflows(f"{CASES} AND TemporalWorkerDeploymentVersion IS NULL")
    if unversioned.count:
        out.write(f"  (no version yet: {unversioned.count} open case(s), waiting for their first task)\n")
    # Not every visibility store can ORDER BY (SQLite cannot): read the open cases' start times.
    starts = [w.start_time async for w in client.list_workflows(CASES)]
    if starts:
        out.write(f"oldest open case started {min(starts).isoformat(timespec='minutes')}\n")
    return 0


async def promote(client: Client, deployment: str, build: str, out: TextIO) -> int:
    before = await current_build(client, deployment)
    try:
        await make_current(client, deployment, build)
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise CommandError(
                NO_SUCH, f"build {build} cannot be made current ({exc.message}): are its workers running?"
            ) from None
        raise
    out.write(f"deployment {deployment}: current build {build} (was {before or 'none'})\n")
    return 0


async def run(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = parser().parse_args(argv)
    settings = load_settings(USAGE)
    client = await open_client(settings, unreachable=UNREACHABLE, bad_setup=USAGE, signs_as="staff")
    if args.command == "status":
        return await status(client, settings.deployment_name, out)
    return await promote(client, settings.deployment_name, args.build_id, out)


def main(argv: Sequence[str] | None = None) -> int:
    return run_main("release", lambda: run(argv))


def console_main() -> None:
    """The ``whereabouts-release`` command."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
