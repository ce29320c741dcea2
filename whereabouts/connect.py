"""One way to build the Temporal client from the settings, for every entry point.

The worker, starter.py and admin.py all connect here, so TLS, API keys and the data converter
(and later the encryption codec) can never differ between them.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

from whereabouts.settings import Settings


class TemporalUnreachable(Exception):
    """Temporal could not be reached; the message is one line a person can act on."""


def data_converter(settings: Settings) -> DataConverter:
    return pydantic_data_converter


def tls_config(settings: Settings) -> TLSConfig | bool:
    if not settings.temporal_tls:
        return False

    def read(path):
        return path.read_bytes() if path else None

    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_server_ca),
        client_cert=read(settings.temporal_tls_client_cert),
        client_private_key=read(settings.temporal_tls_client_key),
        domain=settings.temporal_tls_server_name,
    )


async def connect(settings: Settings, **kwargs) -> Client:
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=data_converter(settings),
            tls=tls_config(settings),
            api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
            **kwargs,
        )
    except RuntimeError as exc:
        raise TemporalUnreachable(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}): {str(exc).splitlines()[0][:200]}"
        ) from None
