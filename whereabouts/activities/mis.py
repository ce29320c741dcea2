"""Write-back to the school's MIS: a JSON-lines outbox an MIS integration picks up.

One line per recorded absence reason or case outcome. Each line has an ``id`` made from the case
and the step, and a retried activity checks for it first, so the MIS never gets a line twice.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

from temporalio import activity

from whereabouts import metrics
from whereabouts.activities.deps import Deps
from whereabouts.steps import MisRecord


def append_once(path: Path, line_id: str, record: dict) -> bool:
    """Append ``record`` unless a line with ``line_id`` is there already. True if written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0)
            needle = json.dumps(line_id)
            for existing in fh:
                if needle in existing and json.loads(existing).get("id") == line_id:
                    return False
            fh.write(json.dumps({"id": line_id, **record}, ensure_ascii=False) + "\n")
            fh.flush()
            return True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class MisActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="record_in_mis")
    @metrics.case_closed
    async def record_in_mis(self, rec: MisRecord) -> bool:
        return append_once(
            self.deps.settings.mis_outbox,
            f"{rec.ref.key}/{rec.ref.step}",
            {
                "case_id": rec.ref.case_id,
                "school_urn": rec.school_urn,
                "upn": rec.upn,
                "kind": rec.kind,
                "value": rec.value,
                "detail": rec.detail,
                "at": rec.at.isoformat(),
            },
        )
