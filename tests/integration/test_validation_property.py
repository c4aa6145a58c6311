"""Property: for any spec, `render` either succeeds and the real API server accepts the monitor and
every object rendered from it (server-side dry-run), or it refuses with lines that each name a field.

Specs are generated from valid and broken values of every field class issue 7 lists (names,
retentions, sizes, quantities and resource names, CIDRs, label/annotation keys, tolerations, Secret
names and keys, baseConfig shapes and includes, trailing newlines). The example count keeps the
test under a minute on the local control plane.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtest_monitor.cli.main import main
from tests.integration.spec_strategies import NAMES, specs

#: How many examples went each way: a property that never reaches the API server proves nothing.
SEEN = {"accepted": 0, "refused": 0}


def _render(path: Path, namespace: str) -> tuple[str | None, list[str]]:
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            assert main(["render", "-f", str(path), "-n", namespace]) == 0
    except SystemExit as refused:
        return None, str(refused.code).splitlines()
    return out.getvalue(), []


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(name=st.sampled_from(NAMES), spec=specs)
def _property(cluster: Any, namespace: str, tmp: Path, name: str, spec: dict[str, Any]) -> None:
    monitor = {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor", "metadata": {"name": name}}
    monitor["spec"] = spec
    path = tmp / "monitor.yaml"
    path.write_text(yaml.safe_dump(monitor))
    rendered, refusal = _render(path, namespace)
    if rendered is None:
        assert refusal, "a refusal says why"
        for line in refusal:
            assert line.startswith(f"error: {path}: "), line
            field = line.split(": ")[3] if line.count(": ") >= 3 else ""
            assert field.startswith(("spec", "metadata")) or field.startswith("and "), line
        SEEN["refused"] += 1
        return
    SEEN["accepted"] += 1
    docs = [*yaml.safe_load_all(rendered), {**monitor, "metadata": {"name": name, "namespace": namespace}}]
    manifest = yaml.safe_dump_all([d for d in docs if d])
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
    assert result.returncode == 0, f"render accepted but the API server refused:\n{result.stderr}\n{spec}"


# cel-python raises the recursion limit once (for its parser); hypothesis notes that it cannot reset it.
@pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")
def test_render_accepts_only_what_the_api_server_accepts(cluster: Any, namespace: str, tmp_path: Path) -> None:
    _property(cluster, namespace, tmp_path)
    assert SEEN["accepted"] >= 5 and SEEN["refused"] >= 5, SEEN
    print(f"examples: {SEEN}")


def test_the_offline_crd_check_answers_as_the_api_server_does(cluster: Any, namespace: str) -> None:
    """On the table of hostile and careful inputs, crd_check (what `render` runs offline) and the API
    server's dry-run of the monitor itself accept and refuse exactly the same ones."""
    from loadtest_monitor.spec import crd_check
    from ltm_harness.cases.hostile_specs import HOSTILE, VALID, monitor  # the unit tests' table, one source

    docs = [(case, doc) for case, doc, _ in HOSTILE] + [(case, monitor(spec)) for case, spec in VALID]
    differ = []
    for case, doc in docs:
        if isinstance(doc.get("metadata"), dict):
            doc = {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
        offline_ok = crd_check.check(doc) == []
        result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(doc))
        if offline_ok != (result.returncode == 0):
            differ.append((case, offline_ok, result.stderr.strip()[:200]))
    assert differ == []
