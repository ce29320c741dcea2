"""Children's data stays private: Temporal only ever holds ciphertext; the codec server decodes
it for a person with the token, with keys that can be rotated."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import stat
import subprocess
import uuid
from datetime import date

import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client

from tests.conftest import STARTED, until
from tests.factories import case_id_of, make_case
from tests.signer import TestSigner
from whereabouts.activities.deps import Deps
from whereabouts.codec import CodecKeyError, EncryptionCodec, new_key_spec, parse_keys
from whereabouts.codec_server import TokenAuth, build_app
from whereabouts.connect import codec_for, data_converter
from whereabouts.converter import payload_data_converter
from whereabouts.devstack import __main__ as devstack
from whereabouts.devstack.mailcatcher import free_port
from whereabouts.models import CallRecord, RiskAssessment
from whereabouts.settings import Settings
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


async def escalated_case(client: Client, settings) -> tuple[str, str]:
    """A case taken to escalation, with a note and a concern that name the child's family:
    everything personal a case holds goes through the codec. Its workflow ID and the UPN."""
    case = make_case(date.today())
    settings.school_day_seconds = 3600  # an hour-long "school day": open whenever the test runs
    async with build_worker(client, settings, Deps.from_settings(settings)):
        h = await client.start_workflow(
            CmeCaseWorkflow.run,
            case,
            id=f"{case_id_of(case)}-{uuid.uuid4().hex[:6]}",
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
    return h.id, case.pupil.upn


async def test_history_on_the_server_holds_no_personal_data(dev_env, settings, smtp):
    codec = EncryptionCodec(parse_keys(new_key_spec("k1")))
    client = Client(
        dev_env.client.service_client,
        namespace=dev_env.client.namespace,
        data_converter=dataclasses.replace(payload_data_converter, payload_codec=codec),
        interceptors=[TestSigner()],  # staff sign their actions (tests/signer.py)
    )
    case_id, upn = await escalated_case(client, settings)
    raw = await dev_env.client.get_workflow_handle(case_id).fetch_history()  # no codec
    description = await dev_env.client.get_workflow_handle(case_id).describe()
    await client.get_workflow_handle(case_id).terminate("test finished")

    blob = b"".join(e.SerializeToString() for e in raw.events)
    blob += description.raw_description.SerializeToString()
    found = [word for word in [*PII, upn] if word.encode() in blob]
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


async def test_the_dev_servers_database_and_log_hold_no_personal_data_and_are_private(
    tmp_path, settings, smtp
):
    """The dev server as `make run` starts it (devstack.start_temporal), on its SQLite file: after
    a case has been escalated, neither its database (with the WAL) nor its log holds any of the
    child's details, and all of it is 0600 in a 0700 folder, whatever the umask of the caller."""
    state = tmp_path / "state"
    port, ui_port = free_port(), free_port()
    old = os.umask(0o022)
    try:
        proc = devstack.start_temporal(state, port=port, ui_port=ui_port)
    finally:
        os.umask(old)
    try:
        server = None
        for _ in range(120):
            try:
                server = await Client.connect(f"127.0.0.1:{port}")
                await server.count_workflows()
                break
            except Exception:
                await asyncio.sleep(0.5)
        assert server is not None, (state / "temporal.log").read_text()
        settings.codec_keys = SecretStr(new_key_spec("db-test"))
        client = Client(
            server.service_client,
            namespace="default",
            data_converter=data_converter(settings),
            interceptors=[TestSigner()],
        )
        case_id, upn = await escalated_case(client, settings)
        await client.get_workflow_handle(case_id).terminate("test finished")
        STARTED.clear()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    files = sorted(p for p in state.iterdir() if p.is_file())
    assert {"temporal.db", "temporal.log"} <= {p.name for p in files}
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert set(modes.values()) == {"0o600"}, modes
    blob = b"".join(p.read_bytes() for p in files)
    assert case_id.encode() in blob  # the case is in there...
    found = [word for word in [*PII, upn] if word.encode() in blob]  # the UPN: not even in an ID
    assert not found, f"personal data in clear in the dev server's files: {found}"  # ...in ciphertext


def _payloads_json(items: list[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=items))


async def test_codec_server_token_roundtrip_and_rotation():
    old = parse_keys(new_key_spec("2025"))
    new = parse_keys(new_key_spec("2026"))
    old_codec = EncryptionCodec(old)
    app = build_app(EncryptionCodec(old + new), TokenAuth("s3cret-token"), ["http://localhost:8233"])
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"forename":"Robin"}')
    async with TestClient(TestServer(app)) as http:
        # No token, wrong token: refused.
        r = await http.post("/decode", data=_payloads_json([plain]))
        assert r.status == 401
        r = await http.post("/decode", data=_payloads_json([plain]), headers={"Authorization": "Bearer nope"})
        assert r.status == 401
        # A token in the path (where access logs keep it) is not a way in at all any more.
        r = await http.post("/t/s3cret-token/decode", data=_payloads_json([plain]))
        assert r.status == 404
        # Round trip with the token: encode uses the newest key, decode gives the payload back.
        auth = {"Authorization": "Bearer s3cret-token", "Origin": "http://localhost:8233"}
        r = await http.post("/encode", data=_payloads_json([plain]), headers=auth)
        assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
        encoded = json_format.Parse(await r.text(), Payloads())
        assert encoded.payloads[0].metadata["encryption-key-id"] == b"2026"
        assert b"Robin" not in encoded.payloads[0].data
        r = await http.post("/codec/decode", data=await r.text(), headers=auth)
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
    with pytest.raises(CodecKeyError, match="refuses"):
        codec_for(Settings(environment="production", var_dir=tmp_path))
    with pytest.raises(CodecKeyError, match="never runs unencrypted"):
        codec_for(Settings(environment="production", var_dir=tmp_path, demo_unencrypted=True))
    # Locally no key is refused too, unless this is declared a throwaway demo...
    local = Settings(environment="local", var_dir=tmp_path)
    with pytest.raises(CodecKeyError, match=r"does not exist.*WHEREABOUTS_DEMO_UNENCRYPTED=1"):
        codec_for(local)
    assert codec_for(local.model_copy(update={"demo_unencrypted": True})) is None
    # ...and an empty key file is no key.
    (tmp_path / "codec-keys").write_text("\n")
    with pytest.raises(CodecKeyError, match="is empty"):
        codec_for(local)
    (tmp_path / "codec-keys").unlink()
    # The local stack makes a key on first run (0600) and every later client reads the same one,
    # demo or not: a key, where there is one, is always used.
    assert codec_for(local, create_local_key=True) is not None
    assert stat.S_IMODE((tmp_path / "codec-keys").stat().st_mode) == 0o600
    spec = (tmp_path / "codec-keys").read_text().strip()
    again = codec_for(local.model_copy(update={"demo_unencrypted": True}))
    assert again is not None and again._current == parse_keys(spec)[-1][0]
