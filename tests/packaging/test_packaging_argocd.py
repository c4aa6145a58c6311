"""Argo CD: the Lua health check of LoadtestMonitor (run in Lua 5.1, the language of Argo CD's
gopher-lua), the argocd-cm patch generated from it, and the example Applications."""

from __future__ import annotations

import copy
import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from lupa import lua51

from tests.packaging.packaging_support import ROOT

ARGOCD = ROOT / "manifests" / "argocd"
LUA_FILE = ARGOCD / "health-loadtestmonitor.lua"
PATCH_FILE = ARGOCD / "argocd-cm-patch.yaml"
HEALTH_KEY = "resource.customizations.health.loadtest.dev_LoadtestMonitor"
RUN_LUA_FILE = ARGOCD / "health-loadtestrun.lua"
RUN_HEALTH_KEY = "resource.customizations.health.loadtest.dev_LoadtestRun"
ARGO_HEALTH_STATES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def health(obj: dict, script: Path = LUA_FILE) -> dict:
    """Runs the script the way Argo CD does: a fresh state, the object in the global `obj`."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(copy.deepcopy(obj), recursive=True)
    result = lua.execute(script.read_text())
    out = dict(result.items())
    assert out["status"] in ARGO_HEALTH_STATES
    assert isinstance(out.get("message"), str)
    return out


def condition(ctype: str, status: str, reason: str = "", message: str = "", generation: int = 3) -> dict:
    return {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": generation,
    }


def monitor(generation: int = 3, status: dict | None = None, **metadata) -> dict:
    obj = {
        "apiVersion": "loadtest.dev/v1alpha1",
        "kind": "LoadtestMonitor",
        "metadata": {"name": "checkout", "namespace": "loadtests", "generation": generation, **metadata},
        "spec": {},
    }
    if status is not None:
        obj["status"] = status
    return obj


def ready_status(ready: dict | None, observed: int | None = 3, others: tuple = ()) -> dict:
    conditions = [c for c in (*others, ready) if c is not None]
    status: dict = {"conditions": conditions}
    if observed is not None:
        status["observedGeneration"] = observed
    return status


SUBCONDITIONS = (
    condition("InfluxDBReady", "True", "DeploymentAvailable"),
    condition("GrafanaReady", "True", "DeploymentAvailable"),
    condition("ConfigPublished", "True", "ConfigMapApplied"),
)


def test_healthy_when_ready_for_the_current_generation():
    out = health(
        monitor(
            status=ready_status(condition("Ready", "True", "StackReady", "Grafana at http://x"), others=SUBCONDITIONS)
        )
    )
    assert out["status"] == "Healthy"
    assert "Grafana at http://x" in out["message"]


def test_progressing_without_status():
    assert health(monitor(status=None))["status"] == "Progressing"


def test_progressing_while_generation_not_observed():
    out = health(monitor(generation=4, status=ready_status(condition("Ready", "True", generation=3), observed=3)))
    assert out["status"] == "Progressing"
    assert "generation 4" in out["message"]


def test_progressing_when_observed_generation_is_missing():
    out = health(monitor(status=ready_status(condition("Ready", "True"), observed=None)))
    assert out["status"] == "Progressing"


def test_progressing_when_ready_condition_is_missing():
    out = health(monitor(status=ready_status(None, others=SUBCONDITIONS)))
    assert out["status"] == "Progressing"
    assert "Ready" in out["message"]


def test_progressing_when_ready_is_unknown():
    out = health(
        monitor(
            status=ready_status(condition("Ready", "Unknown", "WaitingForLoadBalancer", "waiting for the NLB hostname"))
        )
    )
    assert out["status"] == "Progressing"
    assert "WaitingForLoadBalancer" in out["message"]


def test_progressing_while_the_stack_rolls_out():
    # The operator reports Ready=False reason Progressing until its Deployments are available.
    ready = condition("Ready", "False", "Progressing", "InfluxDBReady: Deployment checkout-influxdb: 0/1 available")
    out = health(monitor(status=ready_status(ready)))
    assert out["status"] == "Progressing"
    assert "0/1 available" in out["message"]


def test_progressing_when_ready_condition_is_from_an_older_generation():
    out = health(monitor(generation=5, status=ready_status(condition("Ready", "True", generation=4), observed=5)))
    assert out["status"] == "Progressing"


def test_degraded_on_invalid_spec():
    out = health(
        monitor(
            status=ready_status(condition("Ready", "False", "InvalidSpec", "spec.influxdb.storage: must be a quantity"))
        )
    )
    assert out["status"] == "Degraded"
    assert "spec.influxdb.storage: must be a quantity" in out["message"]


@pytest.mark.parametrize("reason", ["ApplyFailed", "AdminSecretMissing", "SomethingNew"])
def test_degraded_on_other_failures(reason):
    out = health(monitor(status=ready_status(condition("Ready", "False", reason, "it broke"))))
    assert out["status"] == "Degraded"
    assert reason in out["message"] and "it broke" in out["message"]


def _degraded_reasons() -> list[str]:
    from loadtest_monitor.controller import status as st
    return [st.REASON_NAME_CONFLICT, st.REASON_PROGRESS_DEADLINE, *st.DEGRADED_WAITING_REASONS]


@pytest.mark.parametrize("reason", _degraded_reasons())
def test_degraded_when_a_child_will_not_recover_by_waiting(reason):
    message = f"InfluxDBReady: Deployment checkout-influxdb: pod x container influxdb is in {reason}"
    out = health(monitor(status=ready_status(condition("Ready", "False", reason, message), others=SUBCONDITIONS)))
    assert out["status"] == "Degraded"
    assert reason in out["message"]


def test_reasons_match_the_operator():
    from loadtest_monitor.controller import status as st
    assert st.REASON_INVALID_SPEC == "InvalidSpec"
    assert st.REASON_PROGRESSING == "Progressing"
    assert st.READY == "Ready"


def test_degraded_on_failure_without_reason_or_message():
    ready = {"type": "Ready", "status": "False"}
    assert health(monitor(status={"observedGeneration": 3, "conditions": [ready]}))["status"] == "Degraded"


def test_progressing_while_being_deleted():
    obj = monitor(status=ready_status(condition("Ready", "True")), deletionTimestamp="2026-01-01T00:00:00Z")
    assert health(obj)["status"] == "Progressing"


def test_numbers_as_argo_cd_passes_them():
    # Argo CD decodes JSON, so generations arrive as floats in gopher-lua.
    obj = monitor(status=ready_status(condition("Ready", "True")))
    obj["metadata"]["generation"] = 3.0
    obj["status"]["observedGeneration"] = 3.0
    assert health(obj)["status"] == "Healthy"


@pytest.mark.parametrize("script", [LUA_FILE, RUN_LUA_FILE], ids=lambda p: p.name)
def test_script_uses_only_what_argo_cd_lua_offers(script: Path):
    text = script.read_text()
    # Argo CD's VM opens no io/os; a health script has no business with them or with modules.
    assert not re.search(r"\b(io|os|require|dofile|loadfile|load|loadstring)\b\s*[.(]", text)
    assert re.search(r"^return hs\s*$", text, re.M)


# --- LoadtestRun: Progressing until it ends, Healthy when it passed, Degraded otherwise --------


def loadtest_run(status: dict | None = None, generation: int = 1, **metadata) -> dict:
    obj = {
        "apiVersion": "loadtest.dev/v1alpha1",
        "kind": "LoadtestRun",
        "metadata": {"name": "smoke", "namespace": "loadtests", "generation": generation, **metadata},
        "spec": {"monitor": "checkout"},
    }
    if status is not None:
        obj["status"] = {"observedGeneration": generation, **status}
    return obj


def run_health(obj: dict) -> dict:
    return health(obj, RUN_LUA_FILE)


def ended_conditions(passed: bool, reason: str, message: str) -> list[dict]:
    return [
        condition("Complete", "True", reason, message, generation=1),
        condition("Passed", "True" if passed else "False", reason, message, generation=1),
    ]


@pytest.mark.parametrize("phase", ["Pending", "Starting", "Running", "Evaluating"])
def test_run_progressing_while_not_ended(phase):
    out = run_health(loadtest_run({"phase": phase, "runnersSummary": "2/3", "message": "runner smoke-2 starting"}))
    assert out["status"] == "Progressing"
    assert out["message"] == f"{phase}: runners 2/3: runner smoke-2 starting"


def test_run_progressing_without_status_or_before_observed():
    assert run_health(loadtest_run(None))["status"] == "Progressing"
    obj = loadtest_run({"phase": "Passed", "verdict": "Passed"}, generation=2)
    obj["status"]["observedGeneration"] = 1
    assert run_health(obj)["status"] == "Progressing"
    deleting = loadtest_run({"phase": "Passed", "verdict": "Passed"}, deletionTimestamp="2026-01-01T00:00:00Z")
    assert run_health(deleting)["status"] == "Progressing"


def test_run_healthy_when_passed():
    status = {"phase": "Passed", "verdict": "Passed", "reason": "CriteriaMet", "message": "2 of 2 criteria met",
              "conditions": ended_conditions(True, "CriteriaMet", "2 of 2 criteria met")}
    out = run_health(loadtest_run(status))
    assert out == {"status": "Healthy", "message": "Passed: CriteriaMet: 2 of 2 criteria met"}


@pytest.mark.parametrize(
    ("verdict", "reason", "message"),
    [
        ("Failed", "CriteriaFailed", "p95 of checkout 612 ms > 500 ms"),
        ("Failed", "RunnerFailed", "runner smoke-1 exited 1"),
        ("Error", "NoData", "no runner sent data"),
    ],
)
def test_run_degraded_when_failed_or_error_with_the_message(verdict, reason, message):
    status = {"phase": verdict, "verdict": verdict, "reason": reason, "message": message,
              "conditions": ended_conditions(False, reason, message)}
    out = run_health(loadtest_run(status))
    assert out == {"status": "Degraded", "message": f"{verdict}: {reason}: {message}"}


def test_run_verdict_from_the_conditions_alone():
    # A controller that wrote the conditions before the phase: the conditions decide.
    status = {"phase": "Evaluating", "conditions": ended_conditions(False, "CriteriaFailed", "error ratio 7 %")}
    out = run_health(loadtest_run(status))
    assert out == {"status": "Degraded", "message": "Failed: CriteriaFailed: error ratio 7 %"}
    status = {"phase": "Evaluating", "conditions": ended_conditions(True, "CriteriaMet", "")}
    assert run_health(loadtest_run(status))["status"] == "Healthy"


def test_run_generation_as_float_as_argo_cd_passes_it():
    obj = loadtest_run({"phase": "Passed", "verdict": "Passed"})
    obj["metadata"]["generation"] = 1.0
    obj["status"]["observedGeneration"] = 1.0
    assert run_health(obj)["status"] == "Healthy"


# --- argocd-cm patch: generated from the .lua file --------------------------------------------


def _generator():
    spec = importlib.util.spec_from_file_location("gen_argocd_cm_patch", ROOT / "hack" / "gen-argocd-cm-patch.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_patch_embeds_exactly_the_lua_files():
    patch = yaml.safe_load(PATCH_FILE.read_text())
    assert patch["kind"] == "ConfigMap"
    assert patch["metadata"]["name"] == "argocd-cm"
    assert patch["data"] == {HEALTH_KEY: LUA_FILE.read_text(), RUN_HEALTH_KEY: RUN_LUA_FILE.read_text()}


def test_patch_is_what_the_generator_writes():
    gen = _generator()
    assert PATCH_FILE.read_text() == gen.render(gen.sources()), (
        "argocd-cm-patch.yaml is stale: run python3 hack/gen-argocd-cm-patch.py"
    )
    assert gen.main(["--check"]) == 0


def test_generator_refuses_text_yaml_would_change():
    gen = _generator()
    for bad in ("x = 1", "x = 1\n\n", "x = 1 \n", "\tx = 1\n"):
        with pytest.raises(ValueError, match=RUN_HEALTH_KEY):
            gen.render({HEALTH_KEY: "x = 1\n", RUN_HEALTH_KEY: bad})


# --- Applications ---------------------------------------------------------------------------


def _app(name: str) -> dict:
    return yaml.safe_load((ARGOCD / name).read_text())


def test_operator_application_syncs_before_and_is_deleted_after_the_monitors():
    operator = _app("application-operator.yaml")
    monitors = _app("application-monitors.yaml")
    for app in (operator, monitors):
        assert app["kind"] == "Application"
        assert "resources-finalizer.argocd.argoproj.io" in app["metadata"]["finalizers"]
    wave = "argocd.argoproj.io/sync-wave"
    # Deletion runs in reverse wave order: the monitors (higher wave) go while the operator,
    # which removes their finalizers, is still there.
    assert int(operator["metadata"]["annotations"][wave]) < int(monitors["metadata"]["annotations"][wave])


def test_operator_application_points_at_a_kustomization_of_this_repository():
    source = _app("application-operator.yaml")["spec"]["source"]
    assert (ROOT / source["path"] / "kustomization.yaml").is_file()
    assert source["path"] == "manifests/overlays/argocd"


def test_monitors_application_tolerates_the_crd_arriving_later():
    options = _app("application-monitors.yaml")["spec"]["syncPolicy"]["syncOptions"]
    assert "SkipDryRunOnMissingResource=true" in options
