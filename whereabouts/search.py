"""The custom search attributes operators filter cases on in the Web UI and ``admin.py cases``.

Registered by the local stack, the test fixtures and the production admin step from this one
list, so the names and types cannot drift apart.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CME_STAGE = SearchAttributeKey.for_keyword("CmeStage")
CME_SCHOOL_URN = SearchAttributeKey.for_keyword("CmeSchoolUrn")
CME_RISK = SearchAttributeKey.for_keyword("CmeRisk")
CME_NEXT_ACTION_AT = SearchAttributeKey.for_datetime("CmeNextActionAt")
CME_OUTCOME = SearchAttributeKey.for_keyword("CmeOutcome")

ALL_KEYS = (CME_STAGE, CME_SCHOOL_URN, CME_RISK, CME_NEXT_ACTION_AT, CME_OUTCOME)

# As the ``temporal`` CLI spells them: --search-attribute Name=Type
CLI_TYPES = {CME_NEXT_ACTION_AT.name: "Datetime"} | {
    k.name: "Keyword" for k in ALL_KEYS if k is not CME_NEXT_ACTION_AT
}
