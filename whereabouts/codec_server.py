"""The codec server: lets a permitted person read encrypted case payloads in the Temporal Web UI.

The Web UI posts payloads to ``/decode`` (and ``/encode`` when an operator sends a signal) in
Temporal's JSON form; we answer with the other form. Every request must carry the token, either
as ``Authorization: Bearer <token>`` (a deployment behind an identity proxy) or in the path,
``/t/<token>/decode``, for the local dev server's UI, which cannot add headers. Without it the
UI shows ciphertext, which is the point. CORS is open only to the configured UI origins.

Run: ``python -m whereabouts.codec_server`` (settings: WHEREABOUTS_CODEC_TOKEN,
WHEREABOUTS_CODEC_KEYS, WHEREABOUTS_CODEC_SERVER_PORT, WHEREABOUTS_CODEC_CORS_ORIGINS).
"""

from __future__ import annotations

import hmac
import logging
import sys

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from whereabouts.codec import CodecKeyError, EncryptionCodec
from whereabouts.connect import codec_for
from whereabouts.settings import Settings, get_settings

log = logging.getLogger("whereabouts.codec_server")


def build_app(codec: EncryptionCodec, token: str, origins: list[str]) -> web.Application:
    def allowed(request: web.Request) -> bool:
        given = request.match_info.get("token") or ""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header.removeprefix("Bearer ").strip()
        return bool(given) and hmac.compare_digest(given.encode(), token.encode())

    def cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin and origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization, X-Namespace"
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Vary"] = "Origin"
        return response

    async def handle(request: web.Request, decode: bool) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return cors(request, web.Response())
        if not allowed(request):
            return cors(request, web.json_response({"error": "token required"}, status=401))
        try:
            payloads = json_format.Parse(await request.text(), Payloads())
        except json_format.ParseError:
            return cors(
                request, web.json_response({"error": "body is not Temporal payloads JSON"}, status=400)
            )
        try:
            items = await (codec.decode if decode else codec.encode)(payloads.payloads)
        except (CodecKeyError, ValueError) as exc:
            log.warning("codec %s failed: %s", "decode" if decode else "encode", type(exc).__name__)
            return cors(
                request, web.json_response({"error": "cannot decode with the configured keys"}, status=422)
            )
        body = json_format.MessageToJson(Payloads(payloads=items))
        return cors(request, web.Response(text=body, content_type="application/json"))

    async def decode(request: web.Request) -> web.StreamResponse:
        return await handle(request, decode=True)

    async def encode(request: web.Request) -> web.StreamResponse:
        return await handle(request, decode=False)

    app = web.Application()
    for prefix in ("", "/t/{token}"):
        app.router.add_route("*", f"{prefix}/decode", decode)
        app.router.add_route("*", f"{prefix}/encode", encode)
    return app


def app_from_settings(settings: Settings) -> web.Application:
    codec = codec_for(settings, create_local_key=settings.environment == "local")
    if codec is None or settings.codec_token is None:
        raise CodecKeyError("the codec server needs WHEREABOUTS_CODEC_KEYS and WHEREABOUTS_CODEC_TOKEN")
    origins = [o.strip() for o in settings.codec_cors_origins.split(",") if o.strip()]
    return build_app(codec, settings.codec_token.get_secret_value(), origins)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    try:
        app = app_from_settings(settings)
    except CodecKeyError as exc:
        print(f"codec server: {exc}", file=sys.stderr)
        return 2
    web.run_app(app, host="0.0.0.0", port=settings.codec_server_port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
