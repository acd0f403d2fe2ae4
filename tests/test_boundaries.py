"""House rules that code review alone would miss."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import shiftwatch.analysis

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = (
    "prefect",
    "httpx",
    "sqlalchemy",
    "sqlmodel",
    "shiftwatch.models",
    "shiftwatch.flows",
    "shiftwatch.connectors",
)


def test_analysis_core_imports_no_framework_database_or_network():
    modules = [
        m.name for m in pkgutil.walk_packages(shiftwatch.analysis.__path__, "shiftwatch.analysis.")
    ]
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
    )
    bad = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert len(modules) >= 5
    assert bad == [], f"analysis/ pulled in {bad}"


def test_prefect_server_app_imports():
    """Dependency drift (fastapi>=0.155 with prefect 3.8.8) must fail here, not at 3 a.m."""
    from prefect.server.api.server import create_app

    app = create_app(ephemeral=True)
    assert app is not None


def test_import_contracts_hold():
    """The layers in .importlinter (cli → flows → pipeline → I/O, storage, render → config →
    analysis → records), and Prefect and SQLAlchemy each in their one layer."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "lint-imports")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
