"""One way to build the Temporal client from the settings, for every entry point.

The worker, starter.py and admin.py all connect here, so TLS, API keys, the data converter and
the encryption codec can never differ between them, and none of them starts without a key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from pathlib import Path

import temporalio.client
import temporalio.worker
import temporalio.workflow
from temporalio import workflow
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from whereabouts.codec import KEY_FILE, CodecKeyError, EncryptionCodec, local_keys, parse_keys
from whereabouts.converter import payload_data_converter
from whereabouts.identity import load_key
from whereabouts.settings import ROOT, Settings
from whereabouts.signing import Signer

log = logging.getLogger("whereabouts.connect")


class TemporalUnreachable(Exception):
    """Temporal could not be reached; the message is one line a person can act on."""


def codec_for(settings: Settings, create_local_key: bool = False) -> EncryptionCodec | None:
    """The payload codec these settings call for; ``CodecKeyError`` (one line, naming the setting
    to fix) where there is no usable key.

    The keys come from ``WHEREABOUTS_CODEC_KEYS``, else (local only) from ``var/codec-keys``, which
    ``make run`` creates before it starts anything, so the worker, starter and admin on this
    machine agree. No key is never a reason to send children's data in clear: production always
    refuses, and so does the local stack unless ``WHEREABOUTS_DEMO_UNENCRYPTED=1`` says this is a
    throwaway demo with no real child in it (None: no codec; plaintext in and out). A key, where
    there is one, is used even then.
    """
    production = settings.environment == "production"
    if production and settings.demo_unencrypted:
        raise CodecKeyError(
            "WHEREABOUTS_DEMO_UNENCRYPTED is for a throwaway local demo: production never runs unencrypted"
        )
    if settings.codec_keys is not None:
        return EncryptionCodec(parse_keys(settings.codec_keys.get_secret_value()))
    if production:
        raise CodecKeyError(
            "WHEREABOUTS_CODEC_KEYS is not set: production refuses to send children's data to "
            "Temporal unencrypted"
        )
    path = settings.var_dir / KEY_FILE
    try:
        spec = local_keys(settings.var_dir, create=create_local_key)
    except OSError as exc:
        raise CodecKeyError(f"cannot read the encryption key {path}: {exc.strerror}") from None
    if spec:
        return EncryptionCodec(parse_keys(spec))
    if settings.demo_unencrypted:
        return None
    problem = "is empty" if spec is not None else "does not exist"
    raise CodecKeyError(
        f"no encryption key: {path} {problem} (`make run` creates it; or set WHEREABOUTS_CODEC_KEYS); "
        "refusing to send children's data to Temporal unencrypted (for a throwaway demo with no "
        "real child in it: WHEREABOUTS_DEMO_UNENCRYPTED=1)"
    )


def data_converter(settings: Settings) -> DataConverter:
    """The converter every client and worker uses: pydantic JSON, then the encryption codec
    (which refuses plaintext from other clients; see ``whereabouts/codec.py``)."""
    codec = codec_for(settings)
    if codec is None:
        return payload_data_converter
    return dataclasses.replace(payload_data_converter, payload_codec=codec)


class DropMalformedSignals(temporalio.client.Interceptor, temporalio.worker.Interceptor):
    """A signal whose arguments do not fit its handler is dropped, never run.

    The codec turns a payload sent without our key into one no converter reads, and temporalio
    drops a signal whose input does not convert. A signal sent with *no* input (``temporal
    workflow signal --name child_seen``) has no payload to refuse: the SDK calls the handler
    without its argument, the ``TypeError`` fails the workflow task, and the case retries it for
    ever, stuck (updates to it are then refused "due to Workflow Task in failed state"). This
    drops such a signal instead, deterministically, so replay agrees. Given to the client,
    it reaches every worker built on it (temporalio applies a client's worker interceptors).
    """

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        return _SignalsThatFit


class _SignalsThatFit(temporalio.worker.WorkflowInboundInterceptor):
    async def handle_signal(self, input: temporalio.worker.HandleSignalInput) -> None:
        # The handler as defined (an async handler is handed out wrapped in ``(*args)``, which
        # would bind anything), with the workflow object as its first argument.
        defn = temporalio.workflow._Definition.from_class(type(workflow.instance()))
        signal = defn.signals.get(input.signal) or defn.signals.get(None) if defn else None
        if signal is not None:
            args = (workflow.instance(), *input.args) if signal.is_method else tuple(input.args)
            try:
                inspect.signature(signal.fn).bind(*args)
            except TypeError:
                workflow.logger.warning(
                    "dropped signal %s: %d argument(s), which its handler does not take",
                    input.signal,
                    len(input.args),
                )
                return
        await self.next.handle_signal(input)


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


def api_key(settings: Settings) -> str | None:
    """This process's credential for Temporal: WHEREABOUTS_TEMPORAL_API_KEY, or the file
    WHEREABOUTS_TEMPORAL_API_KEY_FILE names (``CodecKeyError`` if it cannot be read)."""
    if settings.temporal_api_key is not None:
        return settings.temporal_api_key.get_secret_value()
    path = settings.temporal_api_key_file
    if path is None:
        return None
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise CodecKeyError(f"cannot read WHEREABOUTS_TEMPORAL_API_KEY_FILE {path}: {exc.strerror}") from None
    if not key:
        raise CodecKeyError(f"WHEREABOUTS_TEMPORAL_API_KEY_FILE {path} is empty")
    return key


_FOLLOWING: set[asyncio.Task[None]] = set()


async def _follow_key_file(client: Client, path: Path, every: float) -> None:
    """Give the client the key file's new contents whenever it changes (a renewed token)."""
    seen = path.stat().st_mtime_ns
    while True:
        await asyncio.sleep(every)
        try:
            changed = path.stat().st_mtime_ns
            if changed != seen:
                key = path.read_text().strip()
                if key:
                    client.api_key = key
                    seen = changed
                    log.info("Temporal credential renewed from %s", path)
        except OSError as exc:
            log.warning("cannot read %s: %s (keeping the last credential)", path, exc.strerror)


DEMO_KEYS = ROOT / "examples" / "keys"  # the local stack's throwaway identities


def signer_for(settings: Settings, signs_as: str) -> Signer:
    """The signer for this process's actions (``CodecKeyError``, one line, where there is no
    usable key): ``WHEREABOUTS_SIGNING_KEY``, else locally the demo key for ``signs_as`` (staff,
    feed or worker). Production insists on its own key and refuses the published demo ones."""
    production = settings.environment == "production"
    path = settings.signing_key
    if path is None:
        if production:
            raise CodecKeyError(
                f"WHEREABOUTS_SIGNING_KEY is not set: production signs every action with this "
                f"{signs_as}'s own key (`admin.py keygen FILE` makes one for the directory)"
            )
        path = DEMO_KEYS / f"{signs_as}.key"
    if production and path.resolve().parent == DEMO_KEYS:
        raise CodecKeyError(f"{path} is a published demo key: production needs a key of its own")
    try:
        return Signer(load_key(path))
    except KeyError as exc:
        raise CodecKeyError(str(exc.args[0])) from None


async def connect(
    settings: Settings,
    runtime: Runtime | None = None,
    *,
    follow_every: float = 60.0,
    signs_as: str = "staff",
) -> Client:
    converter = data_converter(settings)  # no usable key: refused here, before any connection
    signer = signer_for(settings, signs_as)
    key = api_key(settings)
    try:
        client = await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=converter,
            tls=tls_config(settings),
            api_key=key,
            runtime=runtime,
            interceptors=[DropMalformedSignals(), signer],
        )
    except RuntimeError as exc:
        raise TemporalUnreachable(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}): {str(exc).splitlines()[0][:200]}"
        ) from None
    if settings.temporal_api_key is None and settings.temporal_api_key_file is not None:
        task = asyncio.get_running_loop().create_task(
            _follow_key_file(client, settings.temporal_api_key_file, follow_every)
        )
        _FOLLOWING.add(task)
        task.add_done_callback(_FOLLOWING.discard)
    return client
