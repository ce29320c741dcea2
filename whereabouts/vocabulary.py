"""The words of the procedure, one enum each, shared by the workflow, admin.py and the feed.

The values are the vocabulary in DESIGN.md: they appear in commands staff type, in search
attributes operators filter on and in the MIS outbox, so they never change once released.
"""

from __future__ import annotations

from enum import StrEnum


class Word(StrEnum):
    """A vocabulary value, which also reads as words in a sentence."""

    @property
    def words(self) -> str:
        """'not_at_risk' -> 'not at risk': how a chronology entry or a letter says it."""
        return self.value.replace("_", " ")


class CmeStage(Word):
    DAY1_CALL = "day1_call"
    DAY1_CALLBACK = "day1_callback"
    RISK_ASSESSMENT = "risk_assessment"
    DAY2_CALL = "day2_call"
    DAY3_LETTER = "day3_letter"
    HOME_VISIT = "home_visit"
    REFERRED = "referred"
    CLOSED = "closed"


class CallOutcome(Word):
    NO_ANSWER = "no_answer"
    SAFE_WITH_PARENT = "safe_with_parent"
    NOT_REASSURED = "not_reassured"
    MISSING_PARENT_CONCERNED = "missing_parent_concerned"


class RiskConcern(Word):
    FORCED_MARRIAGE = "forced_marriage"
    CHILD_SEXUAL_EXPLOITATION = "child_sexual_exploitation"
    DOMESTIC_ABUSE = "domestic_abuse"
    RADICALISATION = "radicalisation"
    HONOUR_BASED_VIOLENCE = "honour_based_violence"
    OTHER = "other"


class VisitOutcome(Word):
    CHILD_SEEN = "child_seen"
    PARENT_CONTACT = "parent_contact"
    NO_ANSWER = "no_answer"
    MOVED_AWAY = "moved_away"
    REFUSED_ACCESS = "refused_access"


class LaDecision(Word):
    REMOVE_FROM_ROLL = "remove_from_roll"
    KEEP_ON_ROLL = "keep_on_roll"
    CHILD_LOCATED = "child_located"


class CmeOutcome(Word):
    EXPLAINED_ABSENCE = "explained_absence"
    PARENT_CONTACT = "parent_contact"
    CHILD_SEEN = "child_seen"
    REMOVED_FROM_ROLL = "removed_from_roll"
    CHILD_LOCATED = "child_located"
    WITHDRAWN = "withdrawn"


class Agency(Word):
    """Who a school tells outside itself, and can record having told by phone."""

    POLICE = "police"
    SOCIAL_CARE = "social_care"
    LA = "la"


class EnquiryItem(Word):
    """The school's reasonable enquiries before a pupil missing education is deleted from the roll
    (2024 Regulations, regulation 9(1)(i); *Children missing education*, 2025): a checklist
    staff tick, each one checked against what the case records where it can be."""

    CALLS = "calls"  # every contact rung, recorded on the case
    LETTER = "letter"  # the Day 3 letter sent or posted
    VISIT = "visit"  # the home visit made
    SIBLINGS_SCHOOLS = "siblings_schools"  # siblings' schools asked
    OTHER_AGENCIES = "other_agencies"  # e.g. health visitor, GP, housing, social care asked
    NOT_ILL = "not_ill"  # no reason to believe the child is ill or unavoidably absent


ENQUIRY_WORDS: dict[EnquiryItem, str] = {
    EnquiryItem.CALLS: "every contact phoned",
    EnquiryItem.LETTER: "the letter sent",
    EnquiryItem.VISIT: "the home visit made",
    EnquiryItem.SIBLINGS_SCHOOLS: "siblings' schools asked",
    EnquiryItem.OTHER_AGENCIES: "other agencies asked",
    EnquiryItem.NOT_ILL: "no reason to believe the child is ill or unavoidably absent",
}


class LaUpdateKind(Word):
    """What an LA tracking officer records on a referred case, besides the decision."""

    ENQUIRY = "enquiry"  # what the LA did to find the child
    FEEDBACK = "feedback"  # what the LA tells the school


class LetterPlan(Word):
    """The DSL's plan for the Day 3 letter once a child is judged at risk: a letter can tip off the
    people the child is at risk from, so it is held until the DSL says to send it."""

    SEND = "send"
    HOLD = "hold"


class VisitPlan(Word):
    """The DSL's plan for the home visit once a child is judged at risk."""

    SCHOOL = "school"  # the routine two-staff visit
    JOINT = "joint"  # with police or children's social care, arranged by the DSL
    NONE = "none"  # no visit by the school


class ContactRestriction(Word):
    """A contact the school must not contact (a court order, a "no contact" marker in the MIS)."""

    NO_CONTACT = "no_contact"
    COURT_ORDER = "court_order"


class Attention(Word):
    """Why a case needs a person's attention beyond its next step: the ``CmeAttention`` list.

    Staff reasons (a message that did not reach its recipient) come first in ``admin.py cases``;
    operator reasons (a step stuck retrying, a calendar worked out without the school's dates,
    a procedure that stopped) come before everything.
    """

    UNDELIVERED = "undelivered"
    ESCALATION_NOT_DELIVERED = "escalation_not_delivered"
    REFERRAL_NOT_DELIVERED = "referral_not_delivered"
    ADVICE_NOT_GIVEN = "advice_not_given"
    LA_OVERDUE = "la_overdue"
    RETRYING = "retrying"
    CALENDAR = "calendar"
    STOPPED = "stopped"


OPERATOR_ATTENTION = frozenset({Attention.RETRYING, Attention.CALENDAR, Attention.STOPPED})


class RiskStatus(Word):
    """The ``CmeRisk`` search attribute: where the safeguarding judgement stands."""

    NOT_ASSESSED = "not_assessed"
    REQUESTED = "requested"
    NOT_AT_RISK = "not_at_risk"
    ESCALATED = "escalated"


class PupilFlag(Word):
    CP_PLAN = "cp_plan"
    LOOKED_AFTER = "looked_after"
    SOCIAL_CARE = "social_care"
    SEN = "sen"
    EAL = "eal"


# Which visit outcomes and LA decisions end the case, and as what; the rest keep it open.
CLOSING_VISIT_OUTCOMES: dict[VisitOutcome, CmeOutcome] = {
    VisitOutcome.CHILD_SEEN: CmeOutcome.CHILD_SEEN,
    VisitOutcome.PARENT_CONTACT: CmeOutcome.PARENT_CONTACT,
}
CLOSING_LA_DECISIONS: dict[LaDecision, CmeOutcome] = {
    LaDecision.REMOVE_FROM_ROLL: CmeOutcome.REMOVED_FROM_ROLL,
    LaDecision.CHILD_LOCATED: CmeOutcome.CHILD_LOCATED,
}

FLAG_LABELS: dict[PupilFlag, str] = {
    PupilFlag.CP_PLAN: "child protection plan",
    PupilFlag.LOOKED_AFTER: "looked after child",
    PupilFlag.SOCIAL_CARE: "known to children's social care",
    PupilFlag.SEN: "special educational needs",
    PupilFlag.EAL: "English as an additional language",
}

# 2024 attendance regulations: N starts a case; a present mark for an open case means "seen".
ABSENCE_CODE_STARTS_CASE = "N"
PRESENT_CODES = frozenset({"/", "\\", "L"})
