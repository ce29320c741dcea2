"""The codec server: lets a permitted person read encrypted case payloads in the Temporal Web UI.

The Web UI posts payloads to ``/decode`` (and ``/encode`` when an operator sends a signal) in
Temporal's JSON form; we answer with the other form. Who may ask:

- *Production* (``WHEREABOUTS_ENVIRONMENT=production``): the Web UI user, by their own access
  token, which the UI forwards as ``Authorization: Bearer <JWT>`` (``TEMPORAL_CODEC_PASS_ACCESS_TOKEN``).
  The token is checked against the identity provider's keys (``WHEREABOUTS_CODEC_JWKS_URL``,
  RS256 or ES256) or a shared HS256 secret, for its expiry, issuer and audience, and for the
  permission ``<namespace>:decode`` in its permissions claim. No shared token is accepted.
- *Locally* (``make run``): whoever holds the token in ``var/codec-token``. It never travels in a
  URL (so no access log holds it) nor on a command line: a browser signs in once at
  ``/codec/login`` (the token pasted into a form, posted in the body) and gets a session cookie
  (HttpOnly, SameSite=Strict) signed with the token, so a new token ends every session. The CLI
  sends it as a header from the environment:
  ``TEMPORAL_CODEC_AUTH="Bearer $(cat var/codec-token)" temporal workflow show ... --codec-endpoint ...``.
  The dev server's Web UI cannot send a header or (from its command line) credentials, so
  locally this server also serves the Web UI itself (``--ui-upstream``, a plain reverse proxy to
  the dev server's UI), which makes the codec endpoint ``/codec`` the UI's own origin: the
  browser sends the cookie with no setting to change.

Every decode is logged with who asked and which cases (workflow IDs, from each payload's sealed
metadata), never a payload. A payload that does not decrypt gets a 422 with one line; a body that
is not Temporal payloads JSON a 400; no error answer carries a traceback. Plaintext payloads
(sent by a client without the key: Temporal holds them in clear anyway, and the worker refused
them) come back as they are, so the UI shows what was sent. CORS is open only to the configured
UI origins. The server binds ``WHEREABOUTS_CODEC_SERVER_HOST`` (127.0.0.1 unless told).

Run: ``python -m whereabouts.codec_server [--ui-upstream URL]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import html
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from whereabouts.codec import CASE, ENCODING, CodecKeyError, EncryptionCodec, PayloadRefused
from whereabouts.connect import codec_for
from whereabouts.settings import Settings, get_settings

log = logging.getLogger("whereabouts.codec_server")

SESSION_COOKIE = "whereabouts_codec"
SESSION_SECONDS = 12 * 3600
PREFIXES = ("", "/codec")  # /codec: the local Web UI's own origin (see --ui-upstream)
MAX_BODY = 32 * 1024 * 1024
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


class Unauthorized(Exception):
    """The request names no one we may decode for; the message says why, in one line (never
    the token)."""


Identify = Callable[[web.Request], Awaitable[str]]


# --- Local: the token in var/codec-token -------------------------------------------------------


@dataclass
class TokenAuth:
    """Locally: the bearer token, or a browser session signed with it."""

    token: str

    def _sign(self, expires: int) -> str:
        return hmac.new(self.token.encode(), f"codec-session:{expires}".encode(), hashlib.sha256).hexdigest()

    def session(self, now: float | None = None) -> str:
        expires = int((now or time.time()) + SESSION_SECONDS)
        return f"{expires}.{self._sign(expires)}"

    def check_token(self, given: str) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            if self.check_token(header[7:].strip()):
                return "local token holder (bearer)"
            raise Unauthorized("the token is not this machine's codec token")
        cookie = request.cookies.get(SESSION_COOKIE, "")
        expires, _, signature = cookie.partition(".")
        if cookie and expires.isdigit() and int(expires) > time.time():
            if hmac.compare_digest(signature.encode(), self._sign(int(expires)).encode()):
                return (
                    f"local token holder (browser session {hashlib.sha256(cookie.encode()).hexdigest()[:8]})"
                )
        if cookie:
            raise Unauthorized(
                "the browser's session has ended or was signed with an old token: sign in again"
            )
        raise Unauthorized("sign in first (/codec/login) or send the token as a Bearer header")


# --- Production: the Web UI user's own access token ---------------------------------------------


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _int(part: str) -> int:
    return int.from_bytes(_b64url(part), "big")


ASYMMETRIC: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
    "ES256": hashes.SHA256,
}


@dataclass
class JwtVerifier:
    """Checks a JWT's signature (JWKS: RS256/384/512 and ES256; or one HS256 secret), its time
    window, issuer, audience, and that it carries ``permission`` in ``permissions_claim``."""

    permission: str
    jwks_url: str | None = None
    hs256_secret: bytes | None = None
    issuer: str | None = None
    audience: str | None = None
    permissions_claim: str = "permissions"
    leeway: float = 60.0
    refresh_seconds: float = 600.0
    _keys: dict[str, Any] = field(default_factory=dict)
    _fetched: float | None = None  # time.monotonic() of the last fetch
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def _jwks(self, kid: str) -> Any:
        now = time.monotonic()
        age = None if self._fetched is None else now - self._fetched
        # Stale keys are fetched again; so is an unknown kid (the provider rotated its keys), at
        # most every 30 s.
        if self.jwks_url and (
            age is None or age > self.refresh_seconds or (kid not in self._keys and age > 30)
        ):
            async with self._lock:
                try:
                    timeout = aiohttp.ClientTimeout(total=10)
                    async with (
                        aiohttp.ClientSession(timeout=timeout) as http,
                        http.get(self.jwks_url) as response,
                    ):
                        response.raise_for_status()
                        found = await response.json(content_type=None)
                    self._keys = {
                        k["kid"]: k for k in found.get("keys", []) if isinstance(k, dict) and "kid" in k
                    }
                    self._fetched = now
                except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as exc:
                    log.warning("cannot fetch the identity provider's keys: %s", type(exc).__name__)
                    if not self._keys:
                        raise Unauthorized("cannot fetch the identity provider's keys") from None
        return self._keys.get(kid)

    async def _check_signature(self, header: dict[str, Any], signed: bytes, signature: bytes) -> None:
        alg = header.get("alg")
        if alg == "HS256" and self.hs256_secret:
            expected = hmac.new(self.hs256_secret, signed, hashlib.sha256).digest()
            if not hmac.compare_digest(expected, signature):
                raise Unauthorized("the token's signature is wrong")
            return
        if alg not in ASYMMETRIC or not self.jwks_url:
            raise Unauthorized(f"tokens signed with {str(alg)[:10]!r} are not accepted")
        jwk = await self._jwks(str(header.get("kid", "")))
        if jwk is None:
            raise Unauthorized("the token is signed with a key the identity provider does not list")
        digest = ASYMMETRIC[alg]()
        try:
            if alg.startswith("RS") and jwk.get("kty") == "RSA":
                rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key().verify(
                    signature, signed, padding.PKCS1v15(), digest
                )
            elif (
                alg == "ES256"
                and jwk.get("kty") == "EC"
                and jwk.get("crv") == "P-256"
                and len(signature) == 64
            ):
                key = ec.EllipticCurvePublicNumbers(
                    _int(jwk["x"]), _int(jwk["y"]), ec.SECP256R1()
                ).public_key()
                r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(digest))
            else:
                raise Unauthorized("the token's algorithm does not match its key")
        except (InvalidSignature, KeyError, ValueError):
            raise Unauthorized("the token's signature is wrong") from None

    async def claims(self, token: str) -> dict[str, Any]:
        try:
            head, body, sig = token.split(".")
            header = json.loads(_b64url(head))
            claims = json.loads(_b64url(body))
            signature = _b64url(sig)
        except ValueError:
            raise Unauthorized("the token is not a JWT") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise Unauthorized("the token is not a JWT")
        await self._check_signature(header, f"{head}.{body}".encode(), signature)
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or exp < now - self.leeway:
            raise Unauthorized("the token has expired (or has no expiry)")
        if isinstance(nbf, int | float) and nbf > now + self.leeway:
            raise Unauthorized("the token is not valid yet")
        if self.issuer and claims.get("iss") != self.issuer:
            raise Unauthorized("the token is from another issuer")
        if self.audience:
            aud = claims.get("aud")
            if self.audience not in (aud if isinstance(aud, list) else [aud]):
                raise Unauthorized("the token is for another audience")
        granted = claims.get(self.permissions_claim)
        if isinstance(granted, str):
            granted = granted.split()
        if not isinstance(granted, list) or self.permission not in granted:
            raise Unauthorized(f"the token does not grant {self.permission!r}")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Unauthorized("the token names no subject")
        return claims

    async def __call__(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() != "bearer ":
            raise Unauthorized("the Web UI sent no access token (set TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true)")
        claims = await self.claims(header[7:].strip())
        name = next(
            (claims[k] for k in ("preferred_username", "email", "name") if isinstance(claims.get(k), str)),
            None,
        )
        return f"{claims['sub']} ({name})" if name and name != claims["sub"] else str(claims["sub"])


# --- The app ------------------------------------------------------------------------------------


def _cases(payloads: Sequence[Payload]) -> str:
    found = sorted({p.metadata[CASE].decode(errors="replace") for p in payloads if CASE in p.metadata})
    if not found:
        return "-"
    shown = ", ".join(found[:5])
    return f"{shown} and {len(found) - 5} more" if len(found) > 5 else shown


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Whereabouts: read cases in the Web UI</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Read cases in the Web UI</h1>
<p>{message}</p>
<form method="post" action="/codec/login">
<label for="token">The codec token (in <code>var/codec-token</code>)</label><br>
<input id="token" name="token" type="password" autocomplete="off" size="40" required>
<button type="submit">Sign in</button>
</form>
<p><a href="/">Back to the Web UI</a></p>
</body></html>
"""


def build_app(
    codec: EncryptionCodec,
    identify: Identify,
    origins: list[str],
    *,
    ui_upstream: str | None = None,
) -> web.Application:
    """The codec endpoints (under ``/`` and ``/codec``), a login page when ``identify`` is a
    local ``TokenAuth``, and with ``ui_upstream`` everything else proxied to the Web UI there."""
    strict = codec.strictly()

    def cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin and origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = (
                "Content-Type, Authorization, Authorization-Extras, X-Namespace, Caller-Type"
            )
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Vary"] = "Origin"
        return response

    async def handle(request: web.Request, decode: bool) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return cors(request, web.Response())
        if request.method != "POST":
            return cors(request, _error(405, "POST Temporal payloads JSON here"))
        what = "decode" if decode else "encode"
        namespace = request.headers.get("X-Namespace", "-")[:100]
        try:
            who = await identify(request)
        except Unauthorized as exc:
            log.warning("%s refused (namespace %s): %s", what, namespace, exc)
            return cors(request, _error(401, str(exc)))
        try:
            payloads = json_format.Parse(await request.text(), Payloads()).payloads
        except (json_format.ParseError, UnicodeDecodeError, ValueError):
            return cors(request, _error(400, "the body is not Temporal payloads JSON"))
        if decode:
            items: list[Payload] = []
            for n, p in enumerate(payloads, start=1):
                if p.metadata.get("encoding") != ENCODING:
                    items.append(p)  # in clear on the server already: shown as it is
                    continue
                try:
                    items.append(strict.open(p))
                except PayloadRefused as exc:
                    log.warning(
                        "decode by %s refused (namespace %s, case %s): payload %d: %s",
                        who,
                        namespace,
                        exc.case or "-",
                        n,
                        exc.reason,
                    )
                    return cors(request, _error(422, f"payload {n} of {len(payloads)}: {exc.reason}"))
            log.info(
                "decode by %s: namespace %s, case %s, %d payload(s)",
                who,
                namespace,
                _cases(payloads),
                len(payloads),
            )
        else:
            items = await codec.encode(payloads)
            log.info("encode by %s: namespace %s, %d payload(s)", who, namespace, len(payloads))
        body = json_format.MessageToJson(Payloads(payloads=items))
        return cors(request, web.Response(text=body, content_type="application/json"))

    async def decode(request: web.Request) -> web.StreamResponse:
        return await handle(request, decode=True)

    async def encode(request: web.Request) -> web.StreamResponse:
        return await handle(request, decode=False)

    app = web.Application(client_max_size=MAX_BODY)
    for prefix in PREFIXES:
        app.router.add_route("*", f"{prefix}/decode", decode)
        app.router.add_route("*", f"{prefix}/encode", encode)

    if isinstance(identify, TokenAuth):
        auth = identify

        async def login_page(request: web.Request) -> web.StreamResponse:
            message = (
                "Paste this machine's codec token to read case details in the Web UI (once per browser)."
            )
            return web.Response(text=LOGIN_PAGE.format(message=message), content_type="text/html")

        async def login(request: web.Request) -> web.StreamResponse:
            form = await request.post()
            given = form.get("token")
            if not isinstance(given, str) or not auth.check_token(given.strip()):
                log.warning("sign-in refused: not this machine's codec token")
                page = LOGIN_PAGE.format(
                    message=html.escape("That is not this machine's codec token: try again.")
                )
                return web.Response(text=page, content_type="text/html", status=401)
            log.info("sign-in: a browser session for the local token holder")
            page = LOGIN_PAGE.format(message="Signed in: the Web UI now shows case details in this browser.")
            response = web.Response(text=page, content_type="text/html")
            response.set_cookie(
                SESSION_COOKIE,
                auth.session(),
                max_age=SESSION_SECONDS,
                path="/",
                httponly=True,
                samesite="Strict",
            )
            return response

        app.router.add_get("/codec/login", login_page)
        app.router.add_post("/codec/login", login)

    if ui_upstream:
        upstream = ui_upstream.rstrip("/")
        app.cleanup_ctx.append(_client_session)

        async def proxy(request: web.Request) -> web.StreamResponse:
            http: aiohttp.ClientSession = request.app[CLIENT]
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
            cookies = [
                c
                for c in headers.pop("Cookie", "").split(";")
                if c.strip() and not c.strip().startswith(f"{SESSION_COOKIE}=")
            ]
            if cookies:
                headers["Cookie"] = ";".join(cookies)  # our session never reaches the UI server
            try:
                async with http.request(
                    request.method,
                    upstream + request.rel_url.path_qs,
                    headers=headers,
                    data=await request.read() if request.can_read_body else None,
                    allow_redirects=False,
                ) as up:
                    response = web.StreamResponse(status=up.status, reason=up.reason)
                    for key, value in up.headers.items():
                        if key.lower() not in HOP_BY_HOP:
                            response.headers.add(key, value)
                    if up.content_length is not None:
                        response.content_length = up.content_length
                    await response.prepare(request)
                    async for chunk in up.content.iter_chunked(64 * 1024):
                        await response.write(chunk)
                    await response.write_eof()
                    return response
            except aiohttp.ClientError:
                return _error(502, "the Temporal Web UI is not answering (is the dev server up?)")

        app.router.add_route("*", "/{tail:.*}", proxy)
    return app


CLIENT: web.AppKey[aiohttp.ClientSession] = web.AppKey("client", aiohttp.ClientSession)


async def _client_session(app: web.Application) -> Any:
    session = aiohttp.ClientSession(
        auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
    )
    app[CLIENT] = session
    yield
    await session.close()


def identify_from_settings(settings: Settings) -> Identify:
    """Production: the Web UI user's JWT; locally: the token. ``CodecKeyError`` if unset."""
    if settings.environment == "production":
        secret = settings.codec_jwt_hs256_secret
        if not settings.codec_jwks_url and secret is None:
            raise CodecKeyError(
                "production: the codec server checks each Web UI user's access token: set "
                "WHEREABOUTS_CODEC_JWKS_URL (the identity provider's keys) or "
                "WHEREABOUTS_CODEC_JWT_HS256_SECRET"
            )
        return JwtVerifier(
            permission=settings.decode_permission,
            jwks_url=settings.codec_jwks_url,
            hs256_secret=secret.get_secret_value().encode() if secret else None,
            issuer=settings.codec_jwt_issuer,
            audience=settings.codec_jwt_audience,
            permissions_claim=settings.codec_jwt_permissions_claim,
        )
    if settings.codec_token is None or not settings.codec_token.get_secret_value().strip():
        raise CodecKeyError(
            "the codec server needs WHEREABOUTS_CODEC_TOKEN (make run sets it from var/codec-token)"
        )
    return TokenAuth(settings.codec_token.get_secret_value().strip())


def app_from_settings(settings: Settings, *, ui_upstream: str | None = None) -> web.Application:
    codec = codec_for(settings, create_local_key=settings.environment == "local")
    if codec is None:
        raise CodecKeyError(
            "the codec server needs an encryption key (WHEREABOUTS_CODEC_KEYS or var/codec-keys)"
        )
    origins = [o.strip() for o in settings.codec_cors_origins.split(",") if o.strip()]
    if ui_upstream and settings.environment == "production":
        raise CodecKeyError("--ui-upstream is for the local stack only")
    return build_app(codec, identify_from_settings(settings), origins, ui_upstream=ui_upstream)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="codec_server", description="Decrypt case payloads for the Web UI.")
    p.add_argument(
        "--ui-upstream", metavar="URL", help="local only: also serve the Web UI at URL, from this origin"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    try:
        app = app_from_settings(settings, ui_upstream=args.ui_upstream)
    except CodecKeyError as exc:
        print(f"codec server: {exc}", file=sys.stderr)
        return 2
    log.info("codec server on %s:%d", settings.codec_server_host, settings.codec_server_port)
    # The access log names method, path and status: no token ever travels in a path.
    web.run_app(app, host=settings.codec_server_host, port=settings.codec_server_port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
