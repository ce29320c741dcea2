"""The workflow sandbox the worker runs cases in, and what it lets through.

Temporal's sandbox runs each workflow run against its own fresh copy of every module that is not
passed through: the workflow's module and everything it imports outside
``workflow.unsafe.imports_passed_through()``. That isolation is the point (a module-level
variable one case changed would otherwise leak into the next, and into a replay), and it is why
a case's cost in a worker's sticky cache grows with the size of the workflow code it imports.

What keeps that cost down:

- **Pure modules are passed through** (one shared copy for every case), named below with why
  each is safe: deterministic, and no module-level state a workflow could change.
- **So are the case's own building blocks** (``WORKFLOW_PARTS``: the mixins ``CmeCaseWorkflow``
  is made of, and its helpers). They hold no module-level state but constants, and keep each
  case's state on the instance; a fresh copy per case gave each cached case its own ~100 kB of
  classes and functions (``bench.carry``: 459 kB per case with them re-imported, 357 kB without).
- **And so are the modules that define the workflows** (``WORKFLOW_MODULES``: ``case``,
  ``feed_import``). Imported afresh, each run built its own ``CmeCaseWorkflow`` class, and
  temporalio's ``@workflow.defn`` inspected it afresh (a definition of every signal, query and
  update handler, their signatures and type hints): ~30 kB more per cached case
  (``bench.carry`` at scale 0.2: 248 kB per case imported afresh, 219 kB passed through).
  Like the parts, they hold only constants at module level and each case's state on its
  instance.
- **Whatever is still imported afresh shares its compiled code** (a Whereabouts module a run
  imports that is not named here). Re-importing a module in a sandbox runs its top level afresh
  (new module dict, new functions and classes), and that stays so; but Python's own loader also
  un-marshals the module's bytecode from its ``.pyc`` (or compiles its source) again for every
  import, so every cached case held its own copy of the code objects (when the workflow modules
  were still imported afresh, most of its memory). Code objects are immutable: the loader below
  keeps one per source file (re-read if the file changes) and each sandbox executes it into its
  own fresh module, as a normal import would.

The price of passing workflow code through is that the sandbox no longer stops a forbidden call
(a clock, randomness, I/O) in it at run time; ``tests/test_sandbox.py`` refuses one in its
source instead (every module of ``whereabouts/workflows``), and every recorded history is
replayed against it. What the sandbox still gives every run: its own instance, and restricted
access to anything the workflow code did not import through these modules.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import threading
import types
from collections.abc import Sequence

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# Third-party modules the workflows reach through pydantic models and the action check.
THIRD_PARTY_PASSTHROUGH = (
    # pydantic's EmailStr validates with email_validator/idna: deterministic functions of their
    # input, and their only module-level state is constant tables.
    "email_validator",
    "idna",
    # cryptography checks the actions' signatures (workflows/gate.py): pure, and a native module
    # that aborts the process when the sandbox re-imports the exception it raises on a bad one.
    "cryptography",
)

# Whereabouts' own modules the workflows use, passed through by name so that a case never gets
# a copy of its own even if a workflow module imports one outside an ``imports_passed_through``
# block (a fresh copy of ``models`` would mean every pydantic model class built again per case).
# Each is deterministic (no clock, randomness, I/O or environment at import or in what the
# workflows call) and keeps no module-level state that changes: its module-level names are
# constants (frozensets, enums, compiled regexes, lookup tables nothing writes to), types and
# functions.
WHEREABOUTS_PASSTHROUGH = (
    "whereabouts.models",  # pydantic models of the case's input, records and status
    "whereabouts.vocabulary",  # StrEnums and constant lookup tables
    "whereabouts.register_codes",  # the DfE register codes: constant tables, pure functions
    "whereabouts.text_clean",  # compiled regexes and pure text functions
    "whereabouts.times",  # formatting of datetimes it is given; LONDON is an immutable ZoneInfo
    "whereabouts.identity",  # signature checks on the record it is given, roles (constant tables)
    "whereabouts.school_time",  # school-time arithmetic over the sessions it is given
    "whereabouts.steps",  # pydantic models of activity inputs and results
    "whereabouts.case_schedule",  # the procedure's constants and the CaseSchedule model
    "whereabouts.search",  # search attribute keys: frozen dataclasses
    "whereabouts.signing",  # record_json: the canonical JSON of a record; signing itself is
    # done by the clients, never in a workflow
    "whereabouts.shared_values",  # one copy of the rosters and school days many cases hold:
    # bounded caches of immutable values, each decoded from the JSON it is keyed by
)

# The case workflow's parts (whereabouts/workflows/): mixins and helpers, no workflow of their
# own. tests/test_sandbox.py checks that this is every module there but the workflows, and that
# none of them imports or calls anything the sandbox would refuse.
WORKFLOW_PARTS = tuple(
    f"whereabouts.workflows.{name}"
    for name in (
        "activity_calls",
        "carry",
        "gate",
        "la_side",
        "messaging",
        "outreach",
        "register",
        "risk",
        "staff",
        "state",
        "steering",
        "timing",
        "views",
    )
)
# Modules that define workflows: passed through as well (see above), with the same source check.
WORKFLOW_MODULES = ("whereabouts.workflows.case", "whereabouts.workflows.feed_import")

# Modules whose compiled code the sandbox shares between runs (their top level still runs afresh
# in each sandbox): these and their submodules. ``share_compiled_code`` can add more.
SHARED_CODE_PACKAGES = {"whereabouts"}


class _SharedCodeLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose code object for a file is made once and reused while the file is
    unchanged. Executing a code object does not change it, so each importer still gets a module
    exactly as a fresh import would make it."""

    _cache: dict[str, tuple[tuple[int, int], types.CodeType]] = {}
    _lock = threading.Lock()

    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)
        try:
            st = os.stat(path)
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            return super().get_code(fullname)  # type: ignore[return-value]
        hit = self._cache.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        code = super().get_code(fullname)
        if code is None:  # pragma: no cover: a source file always compiles to code or raises
            raise ImportError(f"no code for {fullname}", name=fullname)
        with self._lock:
            self._cache[path] = (stamp, code)
        return code


class _SharedCodeFinder(importlib.abc.MetaPathFinder):
    """Finds modules of ``SHARED_CODE_PACKAGES`` as the path finder does, and hands their
    loading to ``_SharedCodeLoader``. Everything else, and anything that is not a plain source
    file, is left to the finders after it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in SHARED_CODE_PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return spec
        spec.loader = _SharedCodeLoader(spec.loader.name, spec.loader.path)
        return spec


_install_lock = threading.Lock()


def share_compiled_code(*packages: str) -> None:
    """Put the shared-code finder first on ``sys.meta_path`` (once per process), for
    ``SHARED_CODE_PACKAGES`` and the top-level ``packages`` named."""
    with _install_lock:
        SHARED_CODE_PACKAGES.update(packages)
        if not any(isinstance(f, _SharedCodeFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _SharedCodeFinder())


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every Whereabouts worker and replayer runs workflows in."""
    share_compiled_code()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            *THIRD_PARTY_PASSTHROUGH, *WHEREABOUTS_PASSTHROUGH, *WORKFLOW_PARTS, *WORKFLOW_MODULES
        )
    )
