"""The e2e suite's way of starting influxd (tests/e2e/datapath.py: start_influxd), loaded under a
name of its own, so the image tests start InfluxDB exactly as the data-path tests do (rendered
config, free ports, and whatever preparation the pod's InfluxDB gets there)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

E2E_CONFTEST = Path(__file__).resolve().parents[1] / "e2e" / "datapath.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ltm_e2e_fixtures", E2E_CONFTEST)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {E2E_CONFTEST}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


start_influxd = _load().start_influxd
