"""Installing Whereabouts puts one name on ``sys.path``: ``whereabouts``.

``workflows``, ``worker``, ``starter`` and ``localstack`` are also names of unrelated projects on
the package index; a Whereabouts install that shipped them as top-level modules would break, or
be broken by, whichever of those an LA's server already has.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_only_the_whereabouts_namespace_is_installed():
    dist = importlib.metadata.distribution("whereabouts")
    top_level = (dist.read_text("top_level.txt") or "").split()
    assert top_level == ["whereabouts"]


def test_the_commands_are_installed_entry_points():
    scripts = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts["whereabouts-worker"] == "whereabouts.worker:console_main"
    assert scripts["whereabouts-feed"] == "whereabouts.cli.starter:console_main"
    assert scripts["whereabouts-admin"] == "whereabouts.cli.admin:console_main"


def test_the_checkout_commands_still_run_from_the_top_level(tmp_path):
    # As the README shows them: python starter.py / python admin.py, from the checkout.
    env = {**os.environ, "WHEREABOUTS_VAR_DIR": str(tmp_path)}
    for script, words in (("starter.py", "attendance feed"), ("admin.py", "list cases")):
        out = subprocess.run(
            [sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True, env=env, cwd=ROOT
        )
        assert out.returncode == 0, out.stderr
        assert words in out.stdout
    # worker.py starts a worker when run; loading it as a module must find the real one.
    loaded = subprocess.run(
        [sys.executable, "-c", "import runpy; print(runpy.run_path('worker.py')['console_main'].__module__)"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert loaded.stdout.strip() == "whereabouts.worker", loaded.stderr
