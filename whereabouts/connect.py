"""One way to build the Temporal client from the settings, for every entry point.

The worker, starter.py and admin.py all connect here, so TLS, API keys and the data converter
(and later the encryption codec) can never differ between them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from whereabouts.codec import CodecKeyError, EncryptionCodec, local_keys, parse_keys
from whereabouts.settings import Settings


class TemporalUnreachable(Exception):
    """Temporal could not be reached; the message is one line a person can act on."""


def codec_for(settings: Settings, create_local_key: bool = False) -> EncryptionCodec | None:
    """The payload codec these settings call for, or None where no key exists (tests only).

    Production must name its keys; the local stack makes one under ``var/`` (``make run``) and
    every later client on this machine reads it, so the worker, starter and admin agree.
    """
    if settings.codec_keys is not None:
        return EncryptionCodec(parse_keys(settings.codec_keys.get_secret_value()))
    if settings.environment == "production":
        raise CodecKeyError(
            "WHEREABOUTS_CODEC_KEYS is not set: production refuses to send children's data to "
            "Temporal unencrypted"
        )
    spec = local_keys(settings.var_dir, create=create_local_key)
    return EncryptionCodec(parse_keys(spec)) if spec else None


def data_converter(settings: Settings) -> DataConverter:
    codec = codec_for(settings)
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)


def tls_config(settings: Settings) -> TLSConfig | bool:
    if not settings.temporal_tls:
        return False

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path else None

    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_server_ca),
        client_cert=read(settings.temporal_tls_client_cert),
        client_private_key=read(settings.temporal_tls_client_key),
        domain=settings.temporal_tls_server_name,
    )


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=data_converter(settings),
            tls=tls_config(settings),
            api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
            runtime=runtime,
        )
    except RuntimeError as exc:
        raise TemporalUnreachable(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}): {str(exc).splitlines()[0][:200]}"
        ) from None
