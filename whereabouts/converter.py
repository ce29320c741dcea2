"""The payload converter every client and worker uses: temporalio's pydantic JSON converter, with
one cache of pydantic type adapters for the whole process.

Why: temporalio builds a new payload converter for every workflow run (each run's converter is
made inside its own sandbox), and the pydantic converter keeps its ``TypeAdapter`` cache on the
instance. So every cached case built, and kept, its own adapter (a compiled validator and
serializer) for its input, each activity's result and each signal's and update's argument:
tens of kilobytes per open case for schemas that are the same in every case (``bench.carry``
measured the difference; see bench/RESULTS.md). The models are passed through the sandbox
(``whereabouts/sandbox.py``), so their classes, and so their adapters, are the same objects in
every run, and one adapter per type can serve them all. A ``TypeAdapter`` is safe to share: it
is immutable once built, and validating with it changes nothing in it.

A type that is *not* shared between runs (a class defined in a module the sandbox imports
afresh for each run) would get an adapter per run here too; the cache is bounded, as
temporalio's is, so such a type costs at most the bound, never a leak.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

# Bounded as temporalio's own per-instance cache is by default (1,024 type hints): Whereabouts
# has a few dozen.
MAX_SHARED_TYPE_ADAPTERS = 1024

_shared_type_adapter: functools._lru_cache_wrapper[TypeAdapter[Any]] = functools.lru_cache(
    maxsize=MAX_SHARED_TYPE_ADAPTERS
)(TypeAdapter)


class SharedAdapterJSONConverter(PydanticJSONPlainPayloadConverter):
    """temporalio's pydantic JSON converter, reading through the process-wide adapter cache."""

    def __init__(self) -> None:
        super().__init__()
        self._type_adapter = _shared_type_adapter

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._type_adapter = _shared_type_adapter


class WhereaboutsPayloadConverter(CompositePayloadConverter):
    """temporalio's default converters, with JSON done by ``SharedAdapterJSONConverter`` (as
    ``temporalio.contrib.pydantic.PydanticPayloadConverter`` does with its own)."""

    def __init__(self) -> None:
        json_converter = SharedAdapterJSONConverter()
        super().__init__(
            *(
                json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


payload_data_converter = DataConverter(payload_converter_class=WhereaboutsPayloadConverter)
"""Pydantic JSON, no codec: ``whereabouts.connect.data_converter`` adds the encryption codec."""
