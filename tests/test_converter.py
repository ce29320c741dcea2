"""Every workflow run's payload converter shares the process's pydantic type adapters.

temporalio makes a new payload converter for each workflow run, inside its sandbox. With
temporalio's own pydantic converter each one built, and each cached case kept, its own adapter
for every type it decoded (``whereabouts/converter.py``): memory per open case in the worker
that grew with every model the case uses.
"""

from __future__ import annotations

from datetime import date

from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import CompositePayloadConverter

from tests.factories import make_case
from whereabouts.connect import data_converter
from whereabouts.models import CaseInput
from whereabouts.settings import Settings
from whereabouts.steps import Sent


def _json_converter(settings: Settings) -> PydanticJSONPlainPayloadConverter:
    # What the worker does for each run: a fresh converter from the data converter's class.
    per_run = data_converter(settings).payload_converter_class()
    assert isinstance(per_run, CompositePayloadConverter)
    json = per_run.converters[b"json/plain"]
    assert isinstance(json, PydanticJSONPlainPayloadConverter)
    return json


def test_two_runs_decode_with_the_same_adapter(tmp_path):
    settings = Settings(var_dir=tmp_path, demo_unencrypted=True)
    first, second = _json_converter(settings), _json_converter(settings)
    assert first is not second  # a converter per run, as temporalio makes them
    for model in (CaseInput, Sent):
        assert first._type_adapter(model) is second._type_adapter(model), model.__name__


def test_it_still_round_trips_a_case_input(tmp_path):
    converter = data_converter(Settings(var_dir=tmp_path, demo_unencrypted=True)).payload_converter
    case = make_case(date(2026, 11, 30))
    (back,) = converter.from_payloads(converter.to_payloads([case]), [CaseInput])
    assert back == case
