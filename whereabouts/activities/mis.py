"""Write-back to the school's MIS: a JSON-lines outbox an MIS integration picks up.

One line per register mark to change, absence reason, case outcome or note
(``schemas/mis-writeback.schema.json``). A step's lines are one batch, appended whole or not at
all, so the MIS never sees half of what a step decided (a mark changed without its reason). Each
line's ``id`` is made from the case, its first run and the line's step, and lines already in the
outbox are skipped, so a retried step never writes a line twice.

A full disk must not lose a line or leave half of one, and must not end the case: the append is
cut back to where it started and the step fails with a retryable error saying "waiting for disk
space", which the worker's retries interceptor (``retries.py``) shows on the case until the
write goes through. How the file is appended is ``whereabouts.mis_outbox.append_new``, shared
with the consumer's acknowledgements.
"""

from __future__ import annotations

import asyncio
import errno
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from whereabouts import metrics
from whereabouts.activities.deps import Deps
from whereabouts.mis_outbox import append_new
from whereabouts.steps import MisBatch

DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def line_id(batch: MisBatch, step: str) -> str:
    """``<case_id>/<first run id>/<line step>``: the same on every retry and every later run."""
    return f"{batch.ref.key}/{step}"


def records(batch: MisBatch) -> list[dict[str, Any]]:
    """The batch's lines as outbox records, every field present (null where it does not apply)."""
    return [
        {
            "id": line_id(batch, line.step),
            "kind": line.kind,
            "school_urn": batch.school_urn,
            "upn": batch.upn,
            "mis_pupil_id": batch.mis_pupil_id,
            "date": line.mark_date.isoformat() if line.mark_date else None,
            "session": line.session,
            "old_code": line.old_code,
            "new_code": line.new_code,
            "value": line.value,
            "comment": line.comment,
            "case_id": batch.ref.case_id,
            "recorded_at": batch.at.isoformat(),
        }
        for line in batch.lines
    ]


def unwritable(step: str, exc: OSError) -> ApplicationError:
    """The retryable failure for an outbox that would not take the batch.

    Names the step and the errno only: the message reaches the case's chronology and the Web UI,
    and neither the lines (a UPN, a comment) nor the OS's text belongs there.
    """
    name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    if exc.errno in DISK_FULL:
        what = f"waiting for disk space: {name}"
    else:
        what = f"cannot write the MIS outbox: {name}"
    return ApplicationError(
        f"MIS write-back for step {step}: {what}; nothing written, will retry",
        type="MisOutboxUnwritable",
        non_retryable=False,
    )


class MisActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="record_in_mis")
    @metrics.case_closed
    async def record_in_mis(self, batch: MisBatch) -> int:
        """Append the batch's new lines to the outbox; returns how many were new (0 on a retry
        that finds them all written). The file work runs in a thread: an ``fsync`` can take a
        while and must not hold up the worker's other activities."""
        try:
            written = await asyncio.to_thread(append_new, self.deps.settings.mis_outbox, records(batch))
        except OSError as exc:
            activity.logger.warning("MIS outbox write failed for step %s: %s", batch.ref.step, exc.strerror)
            raise unwritable(batch.ref.step, exc) from None
        return len(written)
