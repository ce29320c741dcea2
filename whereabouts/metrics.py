"""Worker metrics for Prometheus: Temporal's own and the procedure's, on one endpoint.

With ``WHEREABOUTS_METRICS_PORT`` set, the worker's Temporal runtime serves Prometheus text at
``http://<worker>:<port>/metrics``. It carries the SDK's metrics (``temporal_workflow_completed``,
``temporal_workflow_task_execution_failed``, ``temporal_activity_execution_failed``,
``temporal_activity_schedule_to_start_latency``, ...) and these counters:

==============================  ==========  =====================================================
name                            labels      counts
==============================  ==========  =====================================================
``whereabouts_cases_started``   -           cases whose school-day schedule was worked out (the
                                            first step of every case)
``whereabouts_cases_closed``    ``outcome`` case outcomes written to the MIS outbox, by outcome
                                            (``explained_absence``, ``child_seen``, ...)
``whereabouts_referrals_filed`` -           CME referrals sent to the local authority
``whereabouts_letters_sent``    -           Day 3 letter steps done (one per case; a step may
                                            e-mail several contacts or print letters to post)
``whereabouts_emails_failed``   ``kind``    attempts to hand an e-mail to the mail server that
                                            failed: ``temporary`` (retried) or ``permanent``
                                            (the office gets a task instead)
==============================  ==========  =====================================================

They are recorded from activities with the activity's metric meter, so they share the endpoint and
the SDK's labels (``namespace``, ``task_queue``, ``activity_type``, ``service_name``); no label
ever holds personal data. A step is counted when its activity succeeds, so a failed attempt that
is retried counts once; the one gap is a worker that dies between finishing a step and reporting
it, whose retry counts the step again. Each worker replica serves its own counts: sum them in
Prometheus (``sum by (outcome) (whereabouts_cases_closed)``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from whereabouts.settings import Settings

log = logging.getLogger("whereabouts.metrics")

PREFIX = "whereabouts_"
CASES_STARTED = "whereabouts_cases_started"
CASES_CLOSED = "whereabouts_cases_closed"
REFERRALS_FILED = "whereabouts_referrals_filed"
LETTERS_SENT = "whereabouts_letters_sent"
EMAILS_FAILED = "whereabouts_emails_failed"

DESCRIPTIONS = {
    CASES_STARTED: "Cases started (school-day schedule worked out).",
    CASES_CLOSED: "Cases closed, by outcome (written to the MIS outbox).",
    REFERRALS_FILED: "CME referrals sent to the local authority.",
    LETTERS_SENT: "Day 3 letter steps done (e-mailed and/or printed to post).",
    EMAILS_FAILED: "Failed attempts to hand an e-mail to the mail server, by kind (temporary/permanent).",
}

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class MetricsUnavailable(Exception):
    """The metrics endpoint could not be started; the message says which port and why."""


def runtime_for(settings: Settings, host: str = "0.0.0.0") -> Runtime | None:
    """A Temporal runtime serving Prometheus on ``settings.metrics_port``, or None when unset.

    One per process: pass it to ``connect(settings, runtime=...)``; every worker on that client
    reports through it. ``0.0.0.0`` so Prometheus can reach the port inside a container network.
    """
    if settings.metrics_port is None:
        return None
    address = f"{host}:{settings.metrics_port}"
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    except Exception as exc:  # the core reports a taken port as a plain RuntimeError
        raise MetricsUnavailable(
            f"cannot serve metrics on {address} (WHEREABOUTS_METRICS_PORT): {str(exc).splitlines()[0][:200]}"
        ) from None


def increment(name: str, labels: Mapping[str, str] | None = None) -> None:
    """Add one to ``name`` on the current activity's meter. Outside an activity: nothing.

    Never raises: a metric must not fail a safeguarding step.
    """
    if not activity.in_activity():
        return
    try:
        counter = activity.metric_meter().create_counter(name, DESCRIPTIONS.get(name))
        counter.add(1, dict(labels) if labels else None)
    except Exception:
        log.warning("could not record metric %s", name, exc_info=True)


def counts(
    name: str,
    *,
    when: Callable[[Any, Any], bool] | None = None,
    labels: Callable[[Any, Any], Mapping[str, str]] | None = None,
) -> Callable[[F], F]:
    """Count ``name`` each time the decorated activity succeeds.

    Goes *under* ``@activity.defn``. ``when(input, result)`` and ``labels(input, result)`` see the
    activity's one input model (its last positional argument) and what it returned.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = await fn(*args, **kwargs)
            arg = args[-1] if args else None
            try:
                if when is None or when(arg, result):
                    increment(name, labels(arg, result) if labels else None)
            except Exception:
                log.warning("could not record metric %s", name, exc_info=True)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def counts_failures(name: str) -> Callable[[F], F]:
    """Count ``name`` each time the decorated coroutine raises an ``ApplicationError``, labelled
    ``kind``: ``permanent`` when it is non-retryable, else ``temporary``. The error goes on up."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except ApplicationError as exc:
                increment(name, {"kind": "permanent" if exc.non_retryable else "temporary"})
                raise

        return wrapper  # type: ignore[return-value]

    return decorate


# The decorators the activities use, one line each.
case_started = counts(CASES_STARTED)
case_closed = counts(
    CASES_CLOSED,
    when=lambda batch, written: bool(written) and any(x.kind == "case_outcome" for x in batch.lines),
    labels=lambda batch, _written: {
        "outcome": next(str(x.value) for x in batch.lines if x.kind == "case_outcome")
    },
)
referral_filed = counts(REFERRALS_FILED)
letter_sent = counts(LETTERS_SENT)
email_failed = counts_failures(EMAILS_FAILED)
