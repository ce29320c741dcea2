"""Finding the case a person means, and how long ``admin.py`` waits for Temporal and the worker.

Staff type a case ID or just the pupil's UPN; a case ID is a keyed pseudonym, so a UPN is
turned into its ID here, and one with cases at two schools is refused (exit 2) rather than
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
from whereabouts.models import CaseResult
from whereabouts.pseudonym import Pseudonyms, looks_like_upn

WORKFLOW_TYPE = "CmeCase"
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


# The form case IDs had before they were pseudonyms (``cme-<URN>-<UPN>``): said, not looked up.
OLD_CASE_ID = re.compile(r"^cme-\d{6}-[A-Za-z]\d{11}[A-Za-z0-9]$", re.IGNORECASE)


@dataclass(frozen=True)
class Naming:
    """How a UPN becomes its case ID here: this deployment's pseudonym key, and the schools in
    the directory (a pupil's case ID depends on the school, and a UPN may have been at two)."""

    ids: Pseudonyms
    schools: tuple[str, ...]

    def candidates(self, upn: str) -> list[str]:
        return sorted({self.ids.case_id(urn, upn) for urn in self.schools})


async def find_case(client: Client, text: str, waits: Waits, naming: Naming) -> WorkflowExecutionDescription:
    """The case a person means: its full ID, or a UPN whose case only one school has.

    A case ID is a keyed pseudonym (``whereabouts/pseudonym.py``), so a UPN is turned into the ID
    it would have at each school in the directory and those IDs are looked up: open cases
    first, then closed ones. Two schools with a case for it are refused rather than guessed.
    """
    text = text.strip()
    if text.lower().startswith("cme-"):
        wid = text.lower()
        if OLD_CASE_ID.match(text):
            raise CommandError(
                USAGE,
                f"{text!r} is not a case ID: case IDs no longer carry the UPN "
                "(give the UPN on its own, or the case ID admin.py cases shows)",
            )
    elif looks_like_upn(text):
        wid = await _by_upn(client, text.upper(), waits, naming)
    else:
        raise CommandError(
            USAGE, f"{text!r} is neither a case ID (cme-<URN>-<pseudonym>) nor a UPN (13 characters)"
        )
    try:
        return await client.get_workflow_handle(wid).describe(rpc_timeout=waits.query)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise CommandError(NO_CASE, f"no case {wid}") from None
        raise


async def _by_upn(client: Client, upn: str, waits: Waits, naming: Naming) -> str:
    wanted = naming.candidates(upn)
    if not wanted:
        raise CommandError(NO_CASE, "no school in the directory: give the full case ID")
    ids_clause = "WorkflowId IN ({})".format(", ".join(f"'{w}'" for w in wanted))
    for query in (visible("ExecutionStatus = 'Running'", ids_clause), visible(ids_clause)):
        ids = sorted({w.id async for w in client.list_workflows(query, rpc_timeout=waits.listing)})
        if len(ids) > 1:
            raise CommandError(
                USAGE, f"that UPN has cases at several schools ({', '.join(ids)}): give the full case ID"
            )
        if ids:
            return ids[0]
    raise CommandError(NO_CASE, "no case for that UPN at any school in the directory")


def case_handle(client: Client, desc: WorkflowExecutionDescription) -> WorkflowHandle[Any, CaseResult]:
    """The very run that was found, so an action never lands on a newer case with the same ID."""
    return client.get_workflow_handle(desc.id, run_id=desc.run_id, result_type=CaseResult)


def not_answering(wid: str, exc: BaseException) -> CommandError:
    return CommandError(UNREACHABLE, f"case {wid} did not answer ({first_line(exc)}): is the worker running?")
