"""The door every action comes through: a signature the case checks, and the person it names.

Each update's validator starts with ``_check``: it refuses an action that is unsigned, signed
with a key the school directory does not know for this school, badly signed, stale, already
used, or from a role that may not take it, with one sentence (``whereabouts.identity``). The
handler then takes the verified person's name for the record (``_acting``): the chronology says
who did it, never what ``--by`` said. A signal has no validator, so an unverified one is dropped
and written down once (``_signal_ok``): a forged "child seen" can neither close a case nor wedge
it. The roster of people comes from the directory by an activity at the start, and again daily.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from whereabouts.identity import Person, check
    from whereabouts.signing import record_json
    from whereabouts.steps import RosterRequest

from whereabouts.workflows.activity_calls import load_roster
from whereabouts.workflows.state import SYSTEM, CaseState

R = TypeVar("R")
ROSTER_REFRESH = timedelta(days=1)
USED_KEPT = 500  # signatures remembered, so a captured action cannot be sent again


class Gate(CaseState):
    """Signature checks for updates and signals, and the roster they are checked against."""

    async def _load_roster(self, *, local: bool = False) -> None:
        self.roster = await load_roster(RosterRequest(school_urn=self.case.school_urn), local=local)

    async def _keep_roster_fresh(self) -> None:
        """Daily, the directory's people again: a new key works, a removed one stops working."""
        while True:
            await self._wait_quietly(lambda: False, workflow.now() + ROSTER_REFRESH, "roster refresh")
            if self.closing is not None:
                return
            self.roster = await load_roster(RosterRequest(school_urn=self.case.school_urn))

    def _check(self, rec: Any, action: str) -> None:
        """For a validator: refuse (ValueError, the sentence to show) what can be refused now.

        Until the roster has loaded (the first moments of a case) only the signature's presence
        can be checked here; the handler waits for the roster and checks the rest (``_acting``).
        """
        signed = getattr(rec, "signed", None)
        if signed is not None and signed.value in self.used_signatures:
            raise ValueError("This exact action was recorded already: nothing more was recorded.")
        if self.roster is None:
            if signed is None:
                check(None, action, self._case_id, "", None, workflow.now())  # raises: not signed
            return
        check(self.roster, action, self._case_id, record_json(rec), signed, workflow.now())

    async def _acting(self, rec: R, action: str) -> R:
        """For a handler (after its validator passed): the record with the verified name as ``by``.

        A check the validator could not make yet (no roster) is made here, and a refusal fails
        the update alone (ApplicationError), never the case.
        """
        if self.roster is None:  # (only then: a wait lets the procedure move on meanwhile)
            await workflow.wait_condition(lambda: self.roster is not None)
        signed = getattr(rec, "signed", None)
        try:
            person = self._verified(rec, action)
        except ValueError as refusal:
            raise ApplicationError(str(refusal), type="Refused", non_retryable=True) from None
        assert signed is not None
        self.used_signatures.append(signed.value)
        del self.used_signatures[:-USED_KEPT]
        self.acted_by = person.name
        if "by" in type(rec).model_fields:  # type: ignore[attr-defined]
            return rec.model_copy(update={"by": person.name})  # type: ignore[attr-defined]
        return rec

    def _verified(self, rec: Any, action: str) -> Person:
        signed = getattr(rec, "signed", None)
        if signed is not None and signed.value in self.used_signatures:
            raise ValueError("This exact action was recorded already: nothing more was recorded.")
        return check(self.roster, action, self._case_id, record_json(rec), signed, workflow.now())

    async def _signal_ok(self, rec: Any, action: str) -> Person | None:
        """A signal is taken only from someone whose key and role the case can verify; anything
        else is dropped and written down once, so a forged "child seen" neither closes nor wedges
        the case."""
        if self.roster is None:
            await workflow.wait_condition(lambda: self.roster is not None)
        try:
            person = self._verified(rec, action)
        except ValueError as refusal:
            if action not in self.refused_signals:
                self.refused_signals.add(action)
                self._log(
                    f"Refused: an unverified {action.replace('_', ' ')} signal was dropped",
                    SYSTEM,
                    str(refusal),
                )
            return None
        signed = rec.signed
        self.used_signatures.append(signed.value)
        del self.used_signatures[:-USED_KEPT]
        return person
