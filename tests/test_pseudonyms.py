"""Case IDs are a keyed pseudonym of school and pupil: no UPN where Temporal keeps or shows it.

Temporal encrypts neither workflow IDs nor search attributes, and an operator lists cases by
both, so a UPN there is a child's identifier in clear. The feed names each case with an HMAC of
URN and UPN (``whereabouts/pseudonym.py``); these tests feed a real row through ``feed()`` to the
dev server with a worker running and look for the UPN everywhere an operator without the key
can look: IDs, search attributes, the raw description, and every e-mail subject.
"""

from __future__ import annotations

import asyncio
import stat
from datetime import date

import pytest
from pydantic import SecretStr

from tests.factories import TEST_URN, case_id_of, make_case
from tests.test_admin import OTHER_URN
from tests.test_register import fed, mark, new_upn
from whereabouts.pseudonym import (
    DEMO_KEY,
    KEY_FILE,
    PseudonymKeyError,
    Pseudonyms,
    is_case_id,
    new_key,
    pseudonyms_for,
)
from whereabouts.settings import Settings


def test_a_case_id_is_a_stable_keyed_pseudonym_with_no_upn_in_it():
    upn = new_upn()
    ours = Pseudonyms(DEMO_KEY)
    cid = ours.case_id(TEST_URN, upn)
    assert is_case_id(cid) and cid.startswith(f"cme-{TEST_URN}-")
    assert upn not in cid.upper() and upn[:7] not in cid.upper()
    assert ours.case_id(TEST_URN, upn.lower()) == cid  # the same row fed again finds its case
    assert ours.case_id(OTHER_URN, upn) != cid  # the same pupil at another school: another case
    theirs = Pseudonyms(b"\x01" * 32)
    assert theirs.case_id(TEST_URN, upn) != cid  # without the key, a UPN cannot be turned into it


def test_the_key_comes_from_the_setting_or_the_file_make_run_writes(tmp_path):
    with pytest.raises(PseudonymKeyError, match="WHEREABOUTS_PSEUDONYM_KEY is not set"):
        pseudonyms_for(Settings(environment="production", var_dir=tmp_path))
    with pytest.raises(PseudonymKeyError, match="does not exist"):
        pseudonyms_for(Settings(var_dir=tmp_path / "var"))
    assert pseudonyms_for(Settings(var_dir=tmp_path / "var", demo_unencrypted=True)).demo
    made = pseudonyms_for(Settings(var_dir=tmp_path / "var"), create_local_key=True)
    assert not made.demo and made.key != DEMO_KEY
    assert stat.S_IMODE((tmp_path / "var" / KEY_FILE).stat().st_mode) == 0o600
    assert pseudonyms_for(Settings(var_dir=tmp_path / "var")) == made  # read back, not remade
    key = new_key()
    assert pseudonyms_for(Settings(environment="production", pseudonym_key=SecretStr(key))).key != made.key
    with pytest.raises(PseudonymKeyError, match="32 bytes"):
        pseudonyms_for(Settings(environment="production", pseudonym_key=SecretStr("c2hvcnQ=")))


async def test_no_upn_in_any_case_id_search_attribute_or_subject(dev_env, settings, smtp, fast_worker):
    today = date.today()
    upns = [new_upn(), new_upn()]
    rows = [mark(upn, "N", today) for upn in upns]
    for row, forename in zip(rows, ("Robin", "Sasha"), strict=True):
        row["forename"] = forename
    report = await fed(dev_env, settings, *rows)
    assert len(report.started) == 2
    ids = sorted(r.case_id for r in report.started)
    expected = sorted(case_id_of(make_case(today, upn=u)) for u in upns)
    assert ids == expected  # the feed and admin.py work out the same IDs from the UPNs

    # Let the cases run into their first steps: the Day 1 prompt and the DSL's request go out.
    for _ in range(100):
        if len(smtp.received) >= 4:
            break
        await asyncio.sleep(0.2)
    assert smtp.received, "no mail went out"

    listed = [w async for w in dev_env.client.list_workflows(f"WorkflowId IN ('{ids[0]}', '{ids[1]}')")]
    assert sorted(w.id for w in listed) == ids
    seen: list[bytes] = []
    for w in listed:
        desc = await dev_env.client.get_workflow_handle(w.id).describe()
        seen.append(desc.raw_description.SerializeToString())
        seen.append(w.id.encode())
        seen.extend(str(v).encode() for v in (w.search_attributes or {}).values())
    for upn in upns:
        assert not [b for b in seen if upn.encode() in b.upper()], f"UPN {upn} visible to Temporal"
    subjects = [str(m.message["Subject"]) for m in smtp.received]
    for upn in upns:
        assert not [s for s in subjects if upn in s.upper()], subjects
    staff = [m for m in smtp.received if not any("family.example.net" in t for t in m.rcpt_tos)]
    assert staff, "no staff mail"
    assert not [str(m.message["Subject"]) for m in staff if "Testperson" in str(m.message["Subject"])]
