"""Children's data stays private: Temporal only ever holds ciphertext; the codec server decodes
it for a person with the token, with keys that can be rotated."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import date

from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.conftest import STARTED, until
from tests.factories import make_case
from whereabouts.activities.deps import Deps
from whereabouts.codec import EncryptionCodec, new_key_spec, parse_keys
from whereabouts.codec_server import build_app
from whereabouts.models import CallRecord, RiskAssessment
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

PII = [
    "Robin",
    "Testperson",
    "Grace",
    "Imaginary Row",
    "EX9 1ZZ",
    "07700 900123",
    "family.example.net",
    "2015-03-14",
    "forced_marriage",
    "sibling history",
]


async def test_history_on_the_server_holds_no_personal_data(dev_env, settings, smtp):
    codec = EncryptionCodec(parse_keys(new_key_spec("k1")))
    client = Client(
        dev_env.client.service_client,
        namespace=dev_env.client.namespace,
        data_converter=dataclasses.replace(pydantic_data_converter, payload_codec=codec),
    )
    case = make_case(date.today())
    settings.school_day_seconds = 3600  # an hour-long "school day": open whenever the test runs
    async with build_worker(client, settings, Deps.from_settings(settings)):
        h = await client.start_workflow(
            CmeCaseWorkflow.run,
            case,
            id=f"{case.case_id}-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue,
        )
        STARTED.append(h)
        await until(h, lambda s: s.next_action_at is not None, "day 1")
        await h.execute_update(
            CmeCaseWorkflow.record_call,
            CallRecord(outcome="not_reassured", by="T. Hale", note="Grace sounded scared"),
        )
        await h.execute_update(
            CmeCaseWorkflow.record_risk,
            RiskAssessment(at_risk=True, concerns=["forced_marriage"], note="sibling history", by="D"),
        )
        await until(h, lambda s: s.risk == "escalated", "escalated")
        await asyncio.sleep(1)  # let the escalation e-mails complete
        status = await h.query(CmeCaseWorkflow.status)
        assert status.risk == "escalated"  # through the codec, the case reads normally
        raw = await dev_env.client.get_workflow_handle(h.id).fetch_history()  # no codec
        description = await dev_env.client.get_workflow_handle(h.id).describe()
        await h.terminate("test finished")

    blob = b"".join(e.SerializeToString() for e in raw.events)
    blob += description.raw_description.SerializeToString()
    found = [word for word in PII if word.encode() in blob]
    assert not found, f"personal data in clear in Temporal: {found}"
    # Every payload Temporal stored is ciphertext...
    started = raw.events[0].workflow_execution_started_event_attributes.input.payloads
    assert all(p.metadata["encoding"] == b"binary/encrypted" for p in started)
    # ...and the same history through the codec holds the child's details.
    plain = b"".join(p.data for p in await codec.decode(started))
    assert b"Robin" in plain and b"Imaginary Row" in plain and b"2015-03-14" in plain
    # Operators still see the stage and risk (search attributes are not personal data).
    attrs = description.typed_search_attributes
    assert any(k.name == "CmeRisk" and v == "escalated" for k, v in ((p.key, p.value) for p in attrs))


def _payloads_json(items: list[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=items))


async def test_codec_server_token_roundtrip_and_rotation():
    old = parse_keys(new_key_spec("2025"))
    new = parse_keys(new_key_spec("2026"))
    old_codec = EncryptionCodec(old)
    app = build_app(EncryptionCodec(old + new), "s3cret-token", ["http://localhost:8233"])
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"forename":"Robin"}')
    async with TestClient(TestServer(app)) as http:
        # No token, wrong token: refused.
        r = await http.post("/decode", data=_payloads_json([plain]))
        assert r.status == 401
        r = await http.post("/decode", data=_payloads_json([plain]), headers={"Authorization": "Bearer nope"})
        assert r.status == 401
        r = await http.post("/t/nope/decode", data=_payloads_json([plain]))
        assert r.status == 401
        # Round trip with the token: encode uses the newest key, decode gives the payload back.
        auth = {"Authorization": "Bearer s3cret-token", "Origin": "http://localhost:8233"}
        r = await http.post("/encode", data=_payloads_json([plain]), headers=auth)
        assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
        encoded = json_format.Parse(await r.text(), Payloads())
        assert encoded.payloads[0].metadata["encryption-key-id"] == b"2026"
        assert b"Robin" not in encoded.payloads[0].data
        r = await http.post("/t/s3cret-token/decode", data=await r.text())
        decoded = json_format.Parse(await r.text(), Payloads())
        assert decoded.payloads[0].data == plain.data
        # Rotation: a payload written with last year's key still decodes.
        legacy = await old_codec.encode([plain])
        r = await http.post("/decode", data=_payloads_json(legacy), headers=auth)
        assert json_format.Parse(await r.text(), Payloads()).payloads[0].data == plain.data
        # An origin that is not the UI gets no CORS grant.
        r = await http.post(
            "/decode", data=_payloads_json(legacy), headers={**auth, "Origin": "http://evil.example"}
        )
        assert "Access-Control-Allow-Origin" not in r.headers


def test_production_refuses_to_start_without_keys(tmp_path):
    import pytest

    from whereabouts.codec import CodecKeyError
    from whereabouts.connect import codec_for
    from whereabouts.settings import Settings

    with pytest.raises(CodecKeyError, match="refuses"):
        codec_for(Settings(environment="production", var_dir=tmp_path))
    # The local stack makes a key on first run and every later client reads the same one.
    local = Settings(environment="local", var_dir=tmp_path)
    assert codec_for(local) is None
    assert codec_for(local, create_local_key=True) is not None
    assert (tmp_path / "codec-keys").exists() and codec_for(local) is not None
