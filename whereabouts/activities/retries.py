"""Any step that keeps failing says so to its case, so a retrying step is never invisible.

Temporal retries a failed activity for as long as its retry policy allows (for mail, days), and
while it does the case's own status looks on time: the operator reading ``admin.py cases`` or the
Web UI would see nothing wrong while a letter sits unsent or the MIS write-back fails. This worker
interceptor sends the case a ``delivery_delayed`` signal when a step fails and will be retried
(on the second try, then every tenth, so a weekend's outage adds tens of events, not thousands),
and the case shows "waiting for the mail server" or "retrying" until the step ends.

The reason sent names no one: our own errors (``ApplicationError``) name the step and the
server's reply code; anything else is reported by its type alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from whereabouts.models import DeliveryDelay

SIGNAL = "delivery_delayed"


def worth_reporting(attempt: int) -> bool:
    """The second failed try says "delayed"; later reports only refresh the count, sparsely."""
    return attempt == 2 or (attempt > 2 and attempt % 10 == 0)


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message[:200]
    return type(exc).__name__


def step_of(args: Sequence[Any], default: str) -> str:
    """The case step an activity works on: its input's ``ref.step``, else the activity's name."""
    ref = getattr(args[0], "ref", None) if args else None
    return str(getattr(ref, "step", default))


class ReportRetries(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except Exception as exc:
            info = activity.info()
            will_retry = not (isinstance(exc, ApplicationError) and exc.non_retryable)
            if will_retry and info.workflow_id and worth_reporting(info.attempt):
                await _report(step_of(input.args, info.activity_type), info.attempt, reason_of(exc))
            raise


async def _report(step: str, attempt: int, reason: str) -> None:
    """Best effort: the retry goes on whether or not the case hears of it."""
    info = activity.info()
    try:
        handle = activity.client().get_workflow_handle(info.workflow_id or "", run_id=info.workflow_run_id)
        await handle.signal(
            SIGNAL, DeliveryDelay(step=step, activity=info.activity_type, attempt=attempt, reason=reason)
        )
    except Exception as exc:  # reporting must never change the step's outcome
        activity.logger.warning("could not report a retrying step to its case: %s", type(exc).__name__)
