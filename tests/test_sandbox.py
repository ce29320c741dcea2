"""What the worker's sandbox shares between cases (``whereabouts/sandbox.py``), and the check
that stands in for the sandbox where it no longer looks.

The case workflow's modules (its mixins, its helpers, and the modules that define the
workflows) are passed through the sandbox: one copy for every cached case. The sandbox then no
longer stops a clock, randomness or I/O in them at run time, so their source is checked here:
no import that reaches the outside world, no call of a clock but ``workflow.now()``, no file
opened, and no module-level value changed by a function (what would leak from one case into the
next).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from whereabouts.sandbox import WORKFLOW_MODULES, WORKFLOW_PARTS, workflow_runner

WORKFLOWS = Path(__file__).resolve().parent.parent / "whereabouts" / "workflows"
# Modules a workflow part may import (besides whereabouts' own and temporalio).
ALLOWED_IMPORTS = {"__future__", "asyncio", "collections", "dataclasses", "datetime", "enum", "re", "typing"}
CLOCKS = {"now", "today", "utcnow", "time", "monotonic", "perf_counter", "random", "uuid4", "urandom"}
MUTATORS = {"append", "extend", "insert", "update", "add", "pop", "popitem", "clear", "remove", "setdefault"}


def problems(source: str) -> list[str]:
    """What in a workflow part's source the sandbox would have refused, or would leak between
    cases, each as "line N: what"."""
    tree = ast.parse(source)
    found = []
    module_names = {
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                top = name.partition(".")[0]
                if top not in ALLOWED_IMPORTS | {"whereabouts", "temporalio"}:
                    found.append(f"line {node.lineno}: imports {name}")
        elif isinstance(node, ast.Global | ast.Nonlocal):
            found.append(f"line {node.lineno}: {type(node).__name__.lower()} {', '.join(node.names)}")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in {"open", "print", "input", "exec", "eval"}:
                found.append(f"line {node.lineno}: calls {func.id}()")
            if isinstance(func, ast.Attribute) and func.attr in CLOCKS:
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                if owner != "workflow":
                    found.append(f"line {node.lineno}: calls {owner or '...'}.{func.attr}()")
            if (
                isinstance(func, ast.Attribute)
                and func.attr in MUTATORS
                and isinstance(func.value, ast.Name)
                and func.value.id in module_names
            ):
                found.append(f"line {node.lineno}: changes module-level {func.value.id}")
        elif isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                target_of = t.value if isinstance(t, ast.Subscript) else None
                if isinstance(target_of, ast.Name) and target_of.id in module_names:
                    found.append(f"line {node.lineno}: changes module-level {target_of.id}")
    return found


def test_every_workflow_module_is_either_a_part_or_a_workflow():
    on_disk = {f"whereabouts.workflows.{p.stem}" for p in WORKFLOWS.glob("*.py") if p.stem != "__init__"}
    assert on_disk == set(WORKFLOW_PARTS) | set(WORKFLOW_MODULES), (
        "a new module in whereabouts/workflows: add it to WORKFLOW_PARTS (no workflow in it) or "
        "WORKFLOW_MODULES (it defines one) in whereabouts/sandbox.py"
    )
    for name in WORKFLOW_PARTS:
        source = (WORKFLOWS / f"{name.rsplit('.', 1)[1]}.py").read_text()
        assert "@workflow.defn" not in source, f"{name} defines a workflow: list it in WORKFLOW_MODULES"


def test_every_workflow_module_is_passed_through():
    """The workflow modules are passed through too (``whereabouts/sandbox.py``), so the check
    below covers them as it covers the parts."""
    passthrough = workflow_runner().restrictions.passthrough_modules
    assert set(WORKFLOW_PARTS) | set(WORKFLOW_MODULES) <= passthrough


@pytest.mark.parametrize("name", WORKFLOW_PARTS + WORKFLOW_MODULES)
def test_a_passed_through_part_has_nothing_the_sandbox_would_refuse(name):
    source = (WORKFLOWS / f"{name.rsplit('.', 1)[1]}.py").read_text()
    assert problems(source) == [], name


@pytest.mark.parametrize(
    ("snippet", "words"),
    [
        ("from datetime import datetime\ndef f():\n    return datetime.now()\n", "calls datetime.now()"),
        ("import random\n", "imports random"),
        ("import os\n", "imports os"),
        ("SEEN = set()\ndef f(x):\n    SEEN.add(x)\n", "changes module-level SEEN"),
        ("CACHE = {}\ndef f(k, v):\n    CACHE[k] = v\n", "changes module-level CACHE"),
        ("def f():\n    return open('x').read()\n", "calls open()"),
        ("N = 0\ndef f():\n    global N\n    N = 1\n", "global N"),
    ],
)
def test_the_check_finds_what_it_looks_for(snippet, words):
    assert any(words in p for p in problems(snippet)), problems(snippet)


def test_workflow_now_is_allowed():
    assert problems("from temporalio import workflow\ndef f():\n    return workflow.now()\n") == []
