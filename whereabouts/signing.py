"""Signing every action a client sends: a Temporal client interceptor holding one person's key.

``admin.py`` signs with the member of staff's own key, ``starter.py`` with the feed's, the worker
with its own (its "a step is being retried" reports). The interceptor signs the record an update
or a signal carries (its ``signed`` field) just before it leaves, over the action's name, the case
ID, the record and the time (``identity.signing_bytes``), so no code path can send an unsigned
action by forgetting to sign it. The case checks the signature (``workflows/gate.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import (
    Interceptor,
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    WorkflowHandle,
)

from whereabouts.identity import sign

Clock = Callable[[], Awaitable[datetime]]


async def wall_clock() -> datetime:
    return datetime.now(UTC)


def record_json(record: Any) -> str:
    """The record as signed: its JSON without the signature (the case computes the same)."""
    return str(record.model_dump_json(exclude={"signed"}))


class Signer(Interceptor):
    """Signs each update and signal whose record has a ``signed`` field."""

    def __init__(self, key: Ed25519PrivateKey, clock: Clock = wall_clock) -> None:
        self.key = key
        self.clock = clock

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Outbound(next, self)

    async def signed(self, action: str, case_id: str, args: Sequence[Any]) -> list[Any]:
        if len(args) != 1 or "signed" not in type(args[0]).model_fields:
            return list(args)
        record = args[0]
        at = await self.clock()
        signature = sign(self.key, action, case_id, record_json(record), at)
        return [record.model_copy(update={"signed": signature})]


class _Outbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, signer: Signer) -> None:
        super().__init__(next)
        self.signer = signer

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
        input.args = await self.signer.signed(input.update, input.id, input.args)
        return await super().start_workflow_update(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        input.args = await self.signer.signed(input.signal, input.id, input.args)
        await super().signal_workflow(input)

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        if input.start_signal:
            input.start_signal_args = await self.signer.signed(
                input.start_signal, input.id, input.start_signal_args
            )
        return await super().start_workflow(input)
