"""The encryption codec and the codec server (issue 18).

The codec seals every payload for its case and refuses, without raising in a worker, anything
not sealed with our keys: plaintext, tampered or truncated ciphertext, an unknown key, a payload
sealed for another case. The codec server answers a bad ciphertext with a 4xx and one line,
logs who decoded which case and never a payload or the token, takes no token in a URL, and in
production decodes only for a Web UI user whose own JWT is valid and grants the decode
permission: HS256 with a shared secret, or RS256/ES256 against the identity provider's JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from whereabouts import codec_server
from whereabouts.codec import (
    CASE,
    REFUSED,
    CodecKeyError,
    EncryptionCodec,
    PayloadRefused,
    new_key_spec,
    parse_keys,
)
from whereabouts.codec_server import JwtVerifier, TokenAuth, app_from_settings, build_app
from whereabouts.converter import payload_data_converter
from whereabouts.models import ChildSeen
from whereabouts.settings import Settings

CASE_ID = "cme-990201-CASE1"
UI = "http://localhost:8080"
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"forename":"Robin","surname":"Testperson"}')


def keys(kid: str = "k1") -> list[tuple[str, bytes]]:
    return parse_keys(new_key_spec(kid))


def for_case(codec: EncryptionCodec, case: str = CASE_ID) -> EncryptionCodec:
    return codec.with_context(WorkflowSerializationContext(namespace="default", workflow_id=case))


def body(items: list[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=items))


# --------------------------------------------------------------------------------------------
# The codec
# --------------------------------------------------------------------------------------------
async def test_payloads_are_sealed_for_their_case_and_decode_there():
    codec = EncryptionCodec(keys())
    sealed = await for_case(codec).encode([PLAIN])
    assert sealed[0].metadata[CASE] == CASE_ID.encode() and b"Robin" not in sealed[0].data
    assert await for_case(codec).decode(sealed) == [PLAIN]
    # An activity of the same case (its own context) and a client without context read it too.
    activity = ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="send",
        activity_task_queue="q",
        workflow_id=CASE_ID,
        workflow_type="CmeCase",
        is_local=False,
    )
    assert await codec.with_context(activity).decode(sealed) == [PLAIN]
    assert await codec.decode(sealed) == [PLAIN]
    # Payloads written before cases were sealed (no case in them) still decode: rotation and
    # old histories keep working.
    legacy = await codec.encode([PLAIN])
    assert CASE not in legacy[0].metadata and await for_case(codec).decode(legacy) == [PLAIN]


async def test_what_was_not_sealed_by_us_decodes_to_a_marker_no_converter_reads():
    codec = EncryptionCodec(keys("ours"))
    sealed = (await for_case(codec).encode([PLAIN]))[0]
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    relabelled = Payload()  # the case in the metadata changed, to pass it off as another's
    relabelled.CopyFrom(sealed)
    relabelled.metadata[CASE] = b"cme-990201-OTHER"
    foreign = (await EncryptionCodec(keys("theirs")).encode([PLAIN]))[0]
    short = Payload(metadata=dict(sealed.metadata), data=b"abc")
    cases = {
        "not encrypted": PLAIN,
        "tampered with": tampered,
        "sealed for another case": relabelled,
        "not configured": foreign,
        "cut short": short,
    }
    for why, payload in cases.items():
        (marker,) = await for_case(codec).decode([payload])
        assert marker.metadata["encoding"] == REFUSED and marker.data == b"", why
        assert why in marker.metadata["whereabouts-refused"].decode(), why
        with pytest.raises(KeyError, match="Unknown payload encoding"):
            payload_data_converter.payload_converter.from_payloads([marker], [ChildSeen])
        with pytest.raises(PayloadRefused):
            for_case(codec).strictly().open(payload)
    # Relabelled and read with no case to compare (a client, the codec server): it no longer
    # decrypts, since the case is sealed into the ciphertext.
    (marker,) = await codec.decode([relabelled])
    assert marker.metadata["whereabouts-refused"].startswith(b"does not decrypt: tampered with")
    # A genuine payload of another case, replayed into this one.
    other = (await for_case(codec, "cme-990201-OTHER").encode([PLAIN]))[0]
    (marker,) = await for_case(codec).decode([other])
    assert marker.metadata["whereabouts-refused"] == b"sealed for another case"


async def test_keys_rotate():
    old, new = keys("2025"), keys("2026")
    legacy = await EncryptionCodec(old).encode([PLAIN])
    both = EncryptionCodec(old + new)
    fresh = await both.encode([PLAIN])
    assert fresh[0].metadata["encryption-key-id"] == b"2026"
    assert await both.decode(legacy + fresh) == [PLAIN, PLAIN]


# --------------------------------------------------------------------------------------------
# The codec server, locally: the token, never in a URL
# --------------------------------------------------------------------------------------------
@pytest.fixture
def log_text(caplog):
    caplog.set_level(logging.INFO, logger="whereabouts.codec_server")
    caplog.set_level(logging.INFO, logger="whereabouts.codec")
    return lambda: "\n".join(r.getMessage() for r in caplog.records)


async def test_a_bad_ciphertext_is_a_4xx_in_one_line_and_every_decode_is_logged(log_text):
    codec = EncryptionCodec(keys())
    token = "local-" + "t" * 30
    app = build_app(codec, TokenAuth(token), [UI])
    sealed = await for_case(codec).encode([PLAIN])
    tampered = Payload()
    tampered.CopyFrom(sealed[0])
    tampered.data = b"\x00" * len(sealed[0].data)
    auth = {"Authorization": f"Bearer {token}", "X-Namespace": "default"}
    async with TestClient(TestServer(app)) as http:
        r = await http.post("/decode", data=body(sealed), headers=auth)
        assert r.status == 200
        assert json_format.Parse(await r.text(), Payloads()).payloads[0].data == PLAIN.data
        for items, status in (([sealed[0], tampered], 422), ([], 200)):
            r = await http.post("/codec/decode", data=body(items), headers=auth)
            assert r.status == status
        r = await http.post("/decode", data=body([sealed[0], tampered]), headers=auth)
        text = await r.text()
        assert r.status == 422 and "\n" not in text and "Traceback" not in text
        assert json.loads(text) == {
            "error": "payload 2 of 2: does not decrypt: tampered with, or not sealed by Whereabouts"
        }
        for junk in ("not json", '{"payloads": [{"nonsense": 1}]}', "\udcff"):
            r = await http.post("/decode", data=junk.encode("utf-8", "surrogateescape"), headers=auth)
            assert r.status == 400 and "Traceback" not in await r.text()
        # Plaintext (a forged signal, in clear on the server anyway) is shown as it is.
        r = await http.post("/decode", data=body([PLAIN]), headers=auth)
        assert json_format.Parse(await r.text(), Payloads()).payloads[0] == PLAIN
        # A token in the path is no way in: there is no such route.
        r = await http.post(f"/t/{token}/decode", data=body(sealed))
        assert r.status == 404
    logged = log_text()
    assert f"decode by local token holder (bearer): namespace default, case {CASE_ID}, 1 payload(s)" in logged
    assert "refused (namespace default, case " + CASE_ID in logged
    assert token not in logged and "Robin" not in logged and "Testperson" not in logged


async def test_a_browser_signs_in_once_and_a_new_token_ends_its_session(log_text):
    codec = EncryptionCodec(keys())
    sealed = await for_case(codec).encode([PLAIN])
    token = "local-" + "s" * 30
    async with TestClient(TestServer(build_app(codec, TokenAuth(token), [UI]))) as http:
        page = await http.get("/codec/login")
        assert page.status == 200 and token not in await page.text()
        r = await http.post("/codec/login", data={"token": "wrong"})
        assert r.status == 401 and not http.session.cookie_jar.filter_cookies(http.make_url("/"))
        r = await http.post("/codec/login", data={"token": token})
        assert r.status == 200 and "Signed in" in await r.text()
        cookie = r.cookies[codec_server.SESSION_COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and token not in cookie.value
        r = await http.post("/codec/decode", data=body(sealed))  # the cookie, no header
        assert r.status == 200
        stolen = cookie.value
    # The token is replaced: the old session is refused.
    async with TestClient(TestServer(build_app(codec, TokenAuth("new-" + "n" * 30), [UI]))) as http:
        r = await http.post(
            "/codec/decode", data=body(sealed), headers={"Cookie": f"{codec_server.SESSION_COOKIE}={stolen}"}
        )
        assert r.status == 401 and "old token" in (await r.json())["error"]
    assert token not in log_text()


# --------------------------------------------------------------------------------------------
# The codec server in production: the Web UI user's own token
# --------------------------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict[str, Any], *, secret: bytes | None = None, key: Any = None, kid: str = "k1") -> str:
    alg = "HS256" if secret else ("ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256")
    head = b64url(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    signed = f"{head}.{payload}".encode()
    if secret:
        sig = hmac.new(secret, signed, hashlib.sha256).digest()
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(signed, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        sig = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{payload}.{b64url(sig)}"


def claims(**extra: Any) -> dict[str, Any]:
    return {
        "sub": "u-123",
        "preferred_username": "a.officer@la.example.gov.uk",
        "iss": "https://login.example.gov.uk",
        "aud": "whereabouts-web-ui",
        "exp": int(time.time()) + 300,
        "permissions": ["whereabouts:read", "whereabouts:decode"],
    } | extra


def production(**extra: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "temporal_namespace": "whereabouts",
        "codec_keys": SecretStr(new_key_spec("prod-1")),
        "codec_cors_origins": UI,
    }
    return Settings(**(values | extra))


async def test_production_decodes_only_for_a_user_whose_token_grants_decode(log_text):
    secret = b"s" * 32
    settings = production(
        codec_jwt_hs256_secret=SecretStr(secret.decode()),
        codec_jwt_issuer="https://login.example.gov.uk",
        codec_jwt_audience="whereabouts-web-ui",
        codec_token=SecretStr("a-shared-token-that-production-ignores"),
    )
    codec = EncryptionCodec(parse_keys(settings.codec_keys.get_secret_value()))  # type: ignore[union-attr]
    sealed = await for_case(codec).encode([PLAIN])
    refused = {
        "no token": None,
        "the shared token": "a-shared-token-that-production-ignores",
        "expired": jwt(claims(exp=int(time.time()) - 3600), secret=secret),
        "no expiry": jwt({k: v for k, v in claims().items() if k != "exp"}, secret=secret),
        "read only": jwt(claims(permissions=["whereabouts:read"]), secret=secret),
        "another namespace": jwt(claims(permissions=["other:decode"]), secret=secret),
        "another issuer": jwt(claims(iss="https://evil.example"), secret=secret),
        "another audience": jwt(claims(aud="something-else"), secret=secret),
        "wrong secret": jwt(claims(), secret=b"x" * 32),
        "alg none": b64url(b'{"alg":"none"}') + "." + b64url(json.dumps(claims()).encode()) + ".",
    }
    async with TestClient(TestServer(app_from_settings(settings))) as http:
        for why, token in refused.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            r = await http.post("/decode", data=body(sealed), headers=headers)
            assert r.status == 401, why
            assert "Traceback" not in await r.text()
        good = {
            "Authorization": f"Bearer {jwt(claims(), secret=secret)}",
            "Origin": UI,
            "X-Namespace": "whereabouts",
        }
        r = await http.post("/decode", data=body(sealed), headers=good)
        assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == UI
        assert json_format.Parse(await r.text(), Payloads()).payloads[0].data == PLAIN.data
        # The login page is the local stack's: there is none in production.
        assert (await http.get("/codec/login")).status == 404
    logged = log_text()
    assert (
        f"decode by u-123 (a.officer@la.example.gov.uk): namespace whereabouts, case {CASE_ID}, 1 payload(s)"
        in logged
    )
    assert "Robin" not in logged and "a-shared-token" not in logged


async def test_production_checks_rs256_and_es256_tokens_against_the_jwks():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    n = rsa_key.public_key().public_numbers()
    p = ec_key.public_key().public_numbers()
    jwks = {
        "keys": [
            {
                "kty": "RSA",
                "kid": "rsa-1",
                "n": b64url(n.n.to_bytes(256, "big")),
                "e": b64url(n.e.to_bytes(3, "big")),
            },
            {
                "kty": "EC",
                "kid": "ec-1",
                "crv": "P-256",
                "x": b64url(p.x.to_bytes(32, "big")),
                "y": b64url(p.y.to_bytes(32, "big")),
            },
        ]
    }
    provider = web.Application()

    async def serve_keys(_: web.Request) -> web.Response:
        return web.json_response(jwks)

    provider.router.add_get("/keys", serve_keys)
    async with TestServer(provider) as idp:
        verifier = JwtVerifier(permission="whereabouts:decode", jwks_url=str(idp.make_url("/keys")))
        assert (await verifier.claims(jwt(claims(), key=rsa_key, kid="rsa-1")))["sub"] == "u-123"
        assert (await verifier.claims(jwt(claims(), key=ec_key, kid="ec-1")))["sub"] == "u-123"
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for token in (
            jwt(claims(), key=other, kid="rsa-1"),  # signed by someone else
            jwt(claims(), key=rsa_key, kid="unknown"),  # a key the provider does not list
            jwt(claims(), secret=b"k" * 32),  # HS256 with no secret configured
        ):
            with pytest.raises(codec_server.Unauthorized):
                await verifier.claims(token)


def test_production_needs_a_way_to_check_users_and_binds_where_told(monkeypatch):
    with pytest.raises(CodecKeyError, match="WHEREABOUTS_CODEC_JWKS_URL"):
        app_from_settings(production(codec_token=SecretStr("shared")))
    with pytest.raises(CodecKeyError, match="local stack only"):
        app_from_settings(production(codec_jwks_url="https://x/keys"), ui_upstream="http://127.0.0.1:1")
    bound: dict[str, Any] = {}
    monkeypatch.setattr(codec_server.web, "run_app", lambda app, **kw: bound.update(kw))
    for env, host in (({}, "127.0.0.1"), ({"WHEREABOUTS_CODEC_SERVER_HOST": "0.0.0.0"}, "0.0.0.0")):
        settings = production(
            codec_jwks_url="https://x/keys",
            **{k.removeprefix("WHEREABOUTS_").lower(): v for k, v in env.items()},
        )
        monkeypatch.setattr(codec_server, "get_settings", lambda s=settings: s)
        assert codec_server.main([]) == 0
        assert (bound["host"], bound["port"]) == (host, 8081)


async def test_a_scheduled_runs_input_decodes_under_the_id_the_server_gives_the_run():
    """A Schedule's action is encoded for its ID ("feed-import-run"); each run gets that ID and
    the start time ("feed-import-run-2026-12-02T09:45:00Z"), so only a case is sealed for its ID."""
    codec = EncryptionCodec(keys())
    sealed = await for_case(codec, "feed-import-run").encode([PLAIN])
    assert await for_case(codec, "feed-import-run-2026-12-02T09:45:00Z").decode(sealed) == [PLAIN]
    case_sealed = (await for_case(codec).encode([PLAIN]))[0]
    assert case_sealed.metadata[CASE] == CASE_ID.encode()
