"""Which release a worker is, and making it the one cases run on.

A case runs for weeks, and for months when the LA keeps the child on roll, so every release meets
cases that started under the one before. Each worker is a version of one Worker Deployment
(Temporal's current versioning API): ``deployment_name`` and a build id. Cases are
``AUTO_UPGRADE`` (``workflows/case.py``): their next workflow task goes to the deployment's
current version, so a fix reaches open cases, and a change to logic a running case has already
passed goes behind ``workflow.patched`` (README "Releases"). Pinning would keep each case on the
build it started on, which for a months-long case means running every old worker for months and
never giving an open case a corrected letter or rule.

The build id defaults to the package version and a hash of the code and templates, so any change
to a checkout is a new build; a release sets ``WHEREABOUTS_BUILD_ID`` (the image tag).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import temporalio.api.workflowservice.v1 as wsv1
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

from whereabouts.settings import ROOT, Settings

log = logging.getLogger("whereabouts.versioning")

# What a case does when a new version becomes current: move to it at its next workflow task.
CASE_BEHAVIOR = VersioningBehavior.AUTO_UPGRADE
REGISTER_WAIT_SECONDS = 60.0  # how long a new worker waits for the server to list its version


@cache
def code_hash() -> str:
    """A short hash of everything a worker runs that a release can change."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted([*package.rglob("*.py"), *(ROOT / "templates").rglob("*")]):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def package_version() -> str:
    try:
        return version("whereabouts")
    except PackageNotFoundError:  # pragma: no cover: run from a checkout that was never installed
        return "0"


def build_id(settings: Settings) -> str:
    return settings.build_id or f"{package_version()}+{code_hash()}"


def deployment_version(settings: Settings) -> WorkerDeploymentVersion:
    return WorkerDeploymentVersion(deployment_name=settings.deployment_name, build_id=build_id(settings))


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """The worker's version, or None when versioning is off (the time-skipping test server)."""
    if not settings.worker_versioning:
        return None
    return WorkerDeploymentConfig(
        version=deployment_version(settings),
        use_worker_versioning=True,
        default_versioning_behavior=CASE_BEHAVIOR,
    )


def promote_policy(settings: Settings) -> str:
    return settings.promote or ("always" if settings.environment == "local" else "first")


async def current_build(client: Client, deployment: str) -> str | None:
    """The deployment's current build id; None if it has none (or does not exist yet)."""
    try:
        info = await describe(client, deployment)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    current = info.worker_deployment_info.routing_config.current_deployment_version
    return current.build_id or None


async def describe(client: Client, deployment: str) -> wsv1.DescribeWorkerDeploymentResponse:
    return await client.workflow_service.describe_worker_deployment(
        wsv1.DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
    )


async def wait_registered(client: Client, deployment: str, build: str, seconds: float) -> bool:
    """True once the server lists ``build`` in the deployment (its worker has polled)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        try:
            info = await describe(client, deployment)
            builds = {v.deployment_version.build_id for v in info.worker_deployment_info.version_summaries}
            if build in builds:
                return True
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
        await asyncio.sleep(0.5)
    return False


async def make_current(client: Client, deployment: str, build: str, wait: float = 30.0) -> None:
    """Route new cases, and every auto-upgrading open case's next task, to ``build``.

    The server refuses while the new build's workers have not yet polled every task queue the
    current one serves (those queues would be left with no worker): a worker that has just
    started gets ``wait`` seconds to be seen there, then the refusal stands."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        try:
            await client.workflow_service.set_worker_deployment_current_version(
                wsv1.SetWorkerDeploymentCurrentVersionRequest(
                    namespace=client.namespace,
                    deployment_name=deployment,
                    build_id=build,
                    identity="whereabouts-release",
                )
            )
            return
        except RPCError as exc:
            waiting = exc.status in (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.NOT_FOUND)
            if not waiting or loop.time() > deadline:
                raise
        await asyncio.sleep(0.5)


async def take_over_if_due(client: Client, settings: Settings) -> str:
    """At a worker's start: make its build current as the policy says; what happened, in words.

    Without a current version a versioned deployment runs nothing (new cases would wait for an
    unversioned worker that does not exist), so a first install always promotes itself.
    """
    if not settings.worker_versioning:
        return "worker versioning is off"
    deployment, build = settings.deployment_name, build_id(settings)
    policy = promote_policy(settings)
    if not await wait_registered(client, deployment, build, REGISTER_WAIT_SECONDS):
        return f"build {build} not yet listed in deployment {deployment}: not promoted"
    current = await current_build(client, deployment)
    if current == build:
        return f"build {build} is the current version of {deployment}"
    if policy == "always" or (policy == "first" and current is None):
        await make_current(client, deployment, build)
        return f"build {build} is now the current version of {deployment} (was {current or 'none'})"
    return (
        f"build {build} is ready; {deployment} still runs on {current} until it is promoted "
        f"(python -m whereabouts.cli.release promote {build})"
    )
