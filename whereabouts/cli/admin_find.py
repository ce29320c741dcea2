"""Finding the case a person means, and how long ``admin.py`` waits for Temporal and the worker.

Staff type a case ID or just the pupil's UPN; the visibility store cannot match the end of a
workflow ID, so a UPN is matched here, and an ambiguous one is refused (exit 2) rather than
guessed. Every command starts here, so the waits (``Waits``) and the one sentence for a case
whose worker is not answering (exit 4) are here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from whereabouts.cli.admin_args import NO_CASE, UNREACHABLE, USAGE
from whereabouts.cli.common import CommandError, first_line
from whereabouts.models import CaseResult, case_id

WORKFLOW_TYPE = "CmeCase"
CASE_ID = re.compile(r"^cme-(\d{6})-([A-Za-z0-9]{13})$", re.IGNORECASE)
UPN = re.compile(r"^[A-Za-z0-9]{13}$")
# What an RPC error says when nobody answered in time (rather than refused).
UNANSWERED = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}


@dataclass(frozen=True)
class Waits:
    """How long each kind of call may take: an update or a query waits for the worker, and a
    command must never hang for ever. The values are ``admin``'s, read at each run."""

    update: timedelta
    query: timedelta
    listing: timedelta
    list_query: timedelta  # next-action wording per listed case
    close_seconds: float  # after a closing action, how long to wait to confirm the outcome


def visible(*clauses: str) -> str:
    """A visibility query for cases, with any further clauses."""
    return " AND ".join([f"WorkflowType = '{WORKFLOW_TYPE}'", *clauses])


async def find_case(client: Client, text: str, waits: Waits) -> WorkflowExecutionDescription:
    """The case a person means: its full ID, or a UPN that only one case ends with.

    The visibility store cannot match the end of a workflow ID (no ENDS_WITH), so a UPN is
    matched here against the open cases first, then the closed ones.
    """
    text = text.strip()
    if text.lower().startswith("cme-"):
        m = CASE_ID.match(text)
        wid = case_id(m[1], m[2]) if m else text
    elif UPN.match(text):
        wid = await _by_upn(client, text.upper(), waits)
    else:
        raise CommandError(
            USAGE, f"{text!r} is neither a case ID (cme-<URN>-<UPN>) nor a UPN (13 characters)"
        )
    try:
        return await client.get_workflow_handle(wid).describe(rpc_timeout=waits.query)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise CommandError(NO_CASE, f"no case {wid}") from None
        raise


async def _by_upn(client: Client, upn: str, waits: Waits) -> str:
    for query in (visible("ExecutionStatus = 'Running'"), visible()):
        ids = sorted(
            {
                w.id
                async for w in client.list_workflows(query, rpc_timeout=waits.listing)
                if w.id.upper().endswith(f"-{upn}")
            }
        )
        if len(ids) > 1:
            raise CommandError(
                USAGE, f"UPN {upn} matches several cases ({', '.join(ids)}): give the full case ID"
            )
        if ids:
            return ids[0]
    raise CommandError(NO_CASE, f"no case for UPN {upn}")


def case_handle(client: Client, desc: WorkflowExecutionDescription) -> WorkflowHandle[Any, CaseResult]:
    """The very run that was found, so an action never lands on a newer case with the same ID."""
    return client.get_workflow_handle(desc.id, run_id=desc.run_id, result_type=CaseResult)


def not_answering(wid: str, exc: BaseException) -> CommandError:
    return CommandError(UNREACHABLE, f"case {wid} did not answer ({first_line(exc)}): is the worker running?")
