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

    async def _load_roster(self) -> None:
        self.roster = await load_roster(RosterRequest(school_urn=self.case.school_urn))

    async def _keep_roster_fresh(self) -> None:
        """Daily, the directory's people again: a new key works, a removed one stops working."""
        while True:
            await self._wait_quietly(lambda: False, workflow.now() + ROSTER_REFRESH, "roster refresh")
            if self.closing is not None:
                return
            self.roster = await load_roster(RosterRequest(school_urn=self.case.school_urn))

    def _check(self, rec: Any, action: str) -> Person:
        """For a validator: the verified person, or ValueError with the sentence to show."""
        signed = getattr(rec, "signed", None)
        person = check(self.roster, action, self._case_id, record_json(rec), signed, workflow.now())
        if signed is not None and signed.value in self.used_signatures:
            raise ValueError("This exact action was recorded already: nothing more was recorded.")
        return person

    def _acting(self, rec: R, action: str) -> R:
        """For a handler (after its validator passed): the record with the verified name as ``by``."""
        signed = getattr(rec, "signed", None)
        person = self.roster.by_key(signed.key_id) if self.roster and signed else None
        if signed is not None:
            self.used_signatures.append(signed.value)
            del self.used_signatures[:-USED_KEPT]
        name = person.name if person else "unverified"
        return rec.model_copy(update={"by": name}) if "by" in type(rec).model_fields else rec  # type: ignore[attr-defined]

    def _signal_ok(self, rec: Any, action: str) -> bool:
        """A signal is taken only from someone whose key and role the case can verify."""
        try:
            self._check(rec, action)
        except ValueError as refusal:
            if action not in self.refused_signals:
                self.refused_signals.add(action)
                self._log(
                    f"Refused: an unverified {action.replace('_', ' ')} signal was dropped",
                    SYSTEM,
                    str(refusal),
                )
            return False
        signed = rec.signed
        self.used_signatures.append(signed.value)
        del self.used_signatures[:-USED_KEPT]
        return True
