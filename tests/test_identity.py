"""Who did what, provably (issue 18): every action carries a signature the case checks.

Time-skipping server and a real worker. A client with no signing key stands for the plain
``temporal`` CLI, or anyone else who can reach the namespace: what it sends is refused (updates)
or dropped and written down once (signals), and the case carries on. A signed action is recorded
under the name the directory gives its key, whatever the record says in ``by``.
"""

from __future__ import annotations

import base64
from datetime import timedelta

from temporalio.client import Client

from tests.conftest import refused, school_morning, until, until_waiting_for
from tests.factories import make_case
from tests.signer import key_of
from whereabouts.identity import Signature, load_key, new_key, sign
from whereabouts.models import CallRecord, ChildSeen, FeedStamp, RiskAssessment
from whereabouts.signing import Signer, record_json
from whereabouts.vocabulary import RiskStatus
from whereabouts.workflows.case import CmeCaseWorkflow


def unsigned(env) -> Client:
    """The same server, the same converter, no key: the plain ``temporal`` CLI's position."""
    config = env.client.config()
    config["interceptors"] = [i for i in config["interceptors"] if not isinstance(i, Signer)]
    return Client(**config)


async def whats(h) -> list[tuple[str, str]]:
    return [(e.what, e.by) for e in await h.query(CmeCaseWorkflow.chronology_entries)]


async def at_day1_call(env, start_case):
    h = await start_case(env.client, make_case(await school_morning(env)))
    await until_waiting_for(h, "Day 1 call outcome")
    return h


async def test_an_unsigned_update_is_refused_and_changes_nothing(env, worker, start_case):
    h = await at_day1_call(env, start_case)
    before = await whats(h)
    forged = unsigned(env).get_workflow_handle_for(CmeCaseWorkflow.run, h.id)
    await refused(
        forged.execute_update(
            CmeCaseWorkflow.record_call, CallRecord(outcome="safe_with_parent", reason="x", by="T. Hale")
        ),
        "not signed",
    )
    assert await whats(h) == before
    assert (await h.query(CmeCaseWorkflow.status)).outcome is None


async def test_an_unsigned_child_seen_signal_is_dropped_written_down_once_and_the_case_goes_on(
    env, worker, start_case
):
    h = await at_day1_call(env, start_case)
    forged = unsigned(env).get_workflow_handle_for(CmeCaseWorkflow.run, h.id)
    for _ in range(3):
        await forged.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS feed", where="in class"))
    for _ in range(40):
        entries = await whats(h)
        if any(w.startswith("Refused: an unverified child seen") for w, _ in entries):
            break
    refusals = [w for w, _ in entries if w.startswith("Refused: an unverified child seen")]
    assert len(refusals) == 1, entries
    assert not any(w == "Child seen" for w, _ in entries)
    # Not wedged: staff still act on it, signed.
    status = await h.execute_update(
        CmeCaseWorkflow.record_call, CallRecord(outcome="no_answer", by="T. Hale")
    )
    assert status.outcome is None and status.acted_by == "T. Hale"


async def test_the_wrong_role_is_refused_with_its_sentence(env, worker, start_case):
    h = await at_day1_call(env, start_case)
    await h.execute_update(CmeCaseWorkflow.record_call, CallRecord(outcome="not_reassured", by="T. Hale"))
    await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "DSL asked")
    await refused(
        h.execute_update(CmeCaseWorkflow.record_risk, RiskAssessment(at_risk=False, by="Olive Office")),
        r"^Only the DSL or a deputy DSL can record a risk assessment\.$",
    )
    await refused(
        h.execute_update(CmeCaseWorkflow.record_risk, RiskAssessment(at_risk=False, by="Sol Elsewhere")),
        "not in the school directory for this school",
    )
    # The feed's key may send marks, not a judgement.
    await refused(
        h.execute_update(CmeCaseWorkflow.record_risk, RiskAssessment(at_risk=False, by="MIS feed")),
        "Only the DSL or a deputy DSL",
    )
    assert (await h.query(CmeCaseWorkflow.status)).risk is RiskStatus.REQUESTED


async def test_the_chronology_names_the_keys_owner_not_what_the_record_claims(env, worker, start_case):
    h = await at_day1_call(env, start_case)
    claim = CallRecord(outcome="no_answer", by="Ms Amara Okafor")  # typed by someone else
    signature = sign(
        key_of("Olive Office"), "record_call", h.id, record_json(claim), await env.get_current_time()
    )
    await h.execute_update(CmeCaseWorkflow.record_call, claim.model_copy(update={"signed": signature}))
    entries = await whats(h)
    assert ("Day 1 call: no answer", "Olive Office") in entries, entries
    assert not any(by == "Ms Amara Okafor" for _, by in entries)


async def test_a_stale_a_tampered_an_unknown_and_a_replayed_signature_are_refused(
    env, worker, start_case, tmp_path
):
    h = await at_day1_call(env, start_case)
    rec = CallRecord(outcome="no_answer", by="T. Hale")
    now = await env.get_current_time()
    stale = sign(key_of("T. Hale"), "record_call", h.id, record_json(rec), now - timedelta(hours=1))
    await refused(
        h.execute_update(CmeCaseWorkflow.record_call, rec.model_copy(update={"signed": stale})),
        "too long ago",
    )
    good = sign(key_of("T. Hale"), "record_call", h.id, record_json(rec), now)
    other = CallRecord(
        outcome="safe_with_parent", reason="ill", by="T. Hale"
    )  # the signature of another record
    await refused(
        h.execute_update(CmeCaseWorkflow.record_call, other.model_copy(update={"signed": good})),
        "does not match",
    )
    moved = sign(key_of("T. Hale"), "record_call", "cme-990201-SOMEONE-ELSE", record_json(rec), now)
    await refused(
        h.execute_update(CmeCaseWorkflow.record_call, rec.model_copy(update={"signed": moved})),
        "does not match",
    )
    new_key(tmp_path / "stranger.key")
    stranger = sign(load_key(tmp_path / "stranger.key"), "record_call", h.id, record_json(rec), now)
    await refused(
        h.execute_update(CmeCaseWorkflow.record_call, rec.model_copy(update={"signed": stranger})),
        "not in the school directory",
    )
    bogus = Signature(key_id=good.key_id, signed_at=now, value=base64.b64encode(b"\0" * 64).decode())
    await refused(
        h.execute_update(CmeCaseWorkflow.record_call, rec.model_copy(update={"signed": bogus})),
        "does not match",
    )
    await h.execute_update(CmeCaseWorkflow.record_call, rec.model_copy(update={"signed": good}))
    # The same signed action again (captured and re-sent) is not a second record.
    await refused(
        h.execute_update(CmeCaseWorkflow.record_call, rec.model_copy(update={"signed": good})),
        "recorded already|No call",
    )


async def test_a_mark_from_anyone_but_the_feed_is_not_taken(env, worker, start_case):
    h = await at_day1_call(env, start_case)
    case = await h.query(CmeCaseWorkflow.status)
    today = (await env.get_current_time()).date()
    mark = FeedStamp(attendance_date=today, session="PM", attendance_code="/")
    as_office = sign(
        key_of("Olive Office"), "feed_mark", h.id, record_json(mark), await env.get_current_time()
    )
    await h.signal(CmeCaseWorkflow.feed_mark, mark.model_copy(update={"signed": as_office}))
    for _ in range(40):
        entries = await whats(h)
        if any(w.startswith("Refused: an unverified feed mark") for w, _ in entries):
            break
    assert any(w.startswith("Refused: an unverified feed mark") for w, _ in entries), entries
    assert (await h.query(CmeCaseWorkflow.status)).outcome is None and case.outcome is None
