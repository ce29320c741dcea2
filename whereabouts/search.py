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
# Why a case needs a person (vocabulary.Attention): a message not delivered, a step stuck retrying.
CME_ATTENTION = SearchAttributeKey.for_keyword_list("CmeAttention")

ALL_KEYS = (CME_STAGE, CME_SCHOOL_URN, CME_RISK, CME_NEXT_ACTION_AT, CME_OUTCOME, CME_ATTENTION)

# As the ``temporal`` CLI spells them: --search-attribute Name=Type
CLI_TYPES = {CME_NEXT_ACTION_AT.name: "Datetime", CME_ATTENTION.name: "KeywordList"} | {
    k.name: "Keyword" for k in ALL_KEYS if k not in (CME_NEXT_ACTION_AT, CME_ATTENTION)
}
