"""The Job a LoadtestRun becomes: every field, and the start gate run for real with sh."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from loadtest_monitor.render.run_job import (
    GATE_GAVE_UP_EXIT,
    GateTemplateError,
    RunJobContext,
    fill,
    gate_template,
    java_opts,
    render_job,
    start_gate_script,
)
from loadtest_monitor.spec.run import parse_run_spec

SPEC = {
    "monitorRef": {"name": "checkout"},
    "image": "gatling-runner:3.15.1",
    "simulation": "loadtest.CheckoutSimulation",
    "runners": 3,
    "systemProperties": {"users": "10", "price": "5$(HOME)"},
    "javaOpts": "-Xmx1g",
    "env": [{"name": "TARGET", "value": "http://shop:8080"}],
    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
    "nodeSelector": {"pool": "load"},
    "tolerations": [{"key": "load", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
    "timeLimit": "30m",
    "startTimeout": "2m",
    "ttlSecondsAfterFinished": 600,
}


def _ctx(**changes: object) -> RunJobContext:
    raw = {**SPEC, **changes.pop("spec", {})}  # type: ignore[dict-item]
    base = {
        "run": "checkout-1",
        "namespace": "shop",
        "uid": "run-uid",
        "spec": parse_run_spec(raw, "checkout-1"),
        "graphite_host": "checkout-graphite.shop.svc.cluster.local",
        "graphite_port": 2003,
        "graphite_tcp": True,
        "gatling_config_map": "checkout-gatling",
        "forwarder_image": "loadtest-monitor:0.1.0",
        "wait_image": "busybox:1.36.1",
        "runner_labels": {"team": "shop"},
    }
    base.update(changes)
    return RunJobContext(**base)  # type: ignore[arg-type]


def _container(pod: dict, name: str) -> dict:
    (found,) = [c for c in pod["containers"] + pod["initContainers"] if c["name"] == name]
    return found


def _env(container: dict) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_job_is_indexed_owned_and_never_retries_a_runner() -> None:
    job = render_job(_ctx())
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    assert job["metadata"]["name"] == "checkout-1"
    assert job["metadata"]["namespace"] == "shop"
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "loadtest.dev/v1alpha1",
            "kind": "LoadtestRun",
            "name": "checkout-1",
            "uid": "run-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 3
    # One failed index (exit 2: its assertions failed) fails only itself, never retried.
    assert spec["backoffLimitPerIndex"] == 0
    assert "backoffLimit" not in spec and "maxFailedIndexes" not in spec
    assert spec["activeDeadlineSeconds"] == 1800
    assert spec["ttlSecondsAfterFinished"] == 600


def test_labels_name_the_run_the_monitor_and_the_monitors_runner_selector() -> None:
    job = render_job(_ctx())
    labels = job["metadata"]["labels"]
    assert labels["loadtest.dev/run"] == "checkout-1"
    assert labels["loadtest.dev/monitor"] == "checkout"
    assert labels["app.kubernetes.io/managed-by"] == "loadtest-monitor"
    assert labels["team"] == "shop"  # the monitor's NetworkPolicy admits only these pods
    assert "app.kubernetes.io/instance" not in labels  # the monitor's children are keyed by it
    assert job["spec"]["template"]["metadata"]["labels"] == labels


def test_pod_mounts_the_monitors_gatling_conf_and_is_restricted() -> None:
    pod = render_job(_ctx())["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["gatling-conf"]["configMap"] == {
        "name": "checkout-gatling",
        "items": [{"key": "gatling.conf", "path": "gatling.conf"}],
    }
    assert volumes["results"] == {"name": "results", "emptyDir": {}}
    assert volumes["start-at"]["downwardAPI"]["items"] == [
        {"path": "start-at", "fieldRef": {"fieldPath": "metadata.annotations['loadtest.dev/start-at']"}}
    ]
    for container in pod["containers"] + pod["initContainers"]:
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }, container["name"]
    assert pod["nodeSelector"] == {"pool": "load"}
    assert pod["tolerations"] == [{"key": "load", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["affinity"] == SPEC["affinity"]


def test_graphite_wait_comes_first_then_the_forwarder_as_a_native_sidecar() -> None:
    pod = render_job(_ctx())["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["wait-for-graphite", "forward"]
    wait = _container(pod, "wait-for-graphite")
    assert wait["image"] == "busybox:1.36.1"
    assert _env(wait) == {
        "GRAPHITE_HOST": "checkout-graphite.shop.svc.cluster.local",
        "GRAPHITE_PORT": "2003",
        "WAIT_TIMEOUT_SECONDS": "120",
    }
    forward = _container(pod, "forward")
    assert forward["restartPolicy"] == "Always"
    assert forward["image"] == "loadtest-monitor:0.1.0"
    assert forward["args"] == [
        "forward",
        "--gatling-conf",
        "/opt/gatling/conf/gatling.conf",
        "--results",
        "/opt/gatling/results",
        "--until-sigterm",
    ]
    assert _env(forward) == {"GATLING_RUNNER": {"fieldRef": {"fieldPath": "metadata.name"}}}


def test_udp_graphite_has_no_port_to_wait_for() -> None:
    pod = render_job(_ctx(graphite_tcp=False))["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["forward"]


def test_gatling_container_gets_identity_share_and_settings() -> None:
    pod = render_job(_ctx())["spec"]["template"]["spec"]
    gatling = _container(pod, "gatling")
    assert gatling["image"] == "gatling-runner:3.15.1"
    env = _env(gatling)
    assert env["GATLING_RUNNER"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["LOADTEST_RUNNERS"] == "3"
    assert env["LOADTEST_RUNNER_INDEX"] == {
        "fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}
    }
    assert env["GATLING_SIMULATION"] == "loadtest.CheckoutSimulation"
    assert env["TARGET"] == "http://shop:8080"
    names = [e["name"] for e in gatling["env"]]
    # The kubelet expands $(LOADTEST_RUNNER_INDEX) in JAVA_OPTS only if it is defined before it.
    assert names.index("LOADTEST_RUNNER_INDEX") < names.index("JAVA_OPTS")
    assert env["JAVA_OPTS"] == (
        "-Xmx1g -Dloadtest.runners=3 -Dloadtest.runnerIndex=$(LOADTEST_RUNNER_INDEX) -Dprice=5$$(HOME) -Dusers=10"
    )
    assert gatling["resources"] == SPEC["resources"]
    mounts = {m["name"]: m for m in gatling["volumeMounts"]}
    assert mounts["gatling-conf"] == {"name": "gatling-conf", "mountPath": "/opt/gatling/conf", "readOnly": True}
    assert mounts["start-at"]["readOnly"] is True
    assert gatling["command"][:2] == ["sh", "-c"]
    assert gatling["command"][3:] == ["start-gate", "/opt/gatling/bin/run.sh"]
    assert "start_file='/etc/loadtest/start-at'" in gatling["command"][2]
    assert "wait_limit=120\n" in gatling["command"][2]


def test_java_opts_escape_user_dollars_so_the_kubelet_keeps_them() -> None:
    spec = parse_run_spec({**SPEC, "javaOpts": "-Dx=$(SECRET)", "systemProperties": {}}, "r")
    assert java_opts(spec) == "-Dx=$$(SECRET) -Dloadtest.runners=3 -Dloadtest.runnerIndex=$(LOADTEST_RUNNER_INDEX)"


def test_render_is_deterministic() -> None:
    assert render_job(_ctx()) == render_job(_ctx())


# --- the template substitution ---------------------------------------------------------------


def test_fill_refuses_values_that_could_escape_the_script() -> None:
    with pytest.raises(GateTemplateError, match="START_FILE"):
        fill("f='@START_FILE@'", {"START_FILE": "/x'; rm -rf /; '"})
    with pytest.raises(GateTemplateError, match="@OTHER@ has no value"):
        fill("@OTHER@", {})
    assert fill("a=@A@ b=@A@", {"A": "1.5"}) == "a=1.5 b=1.5"


def test_every_token_of_the_packaged_gate_is_filled() -> None:
    script = start_gate_script(60)
    assert "@" not in script.replace('"$@"', "")


# --- the start gate, run with sh --------------------------------------------------------------


def _gate(tmp_path: Path, wait_seconds: int) -> tuple[Path, list[str]]:
    """The gate's script reading a temp file instead of the downward-API volume."""
    start_file = tmp_path / "start-at"
    start_file.write_text("")  # the kubelet's file of an annotation not set yet is empty
    script = fill(
        gate_template(), {"START_FILE": str(start_file), "WAIT_SECONDS": str(wait_seconds), "POLL_SECONDS": "0.05"}
    )
    out = tmp_path / "started"
    # The "runner": records when it started and with which arguments, and exits with code 2.
    runner = ["sh", "-c", 'date +%s.%N > "$1"; echo "$2" >> "$1"; exit 2', "runner", str(out), "arg with space"]
    return start_file, ["sh", "-c", script, "start-gate", *runner]


def test_gate_waits_for_the_start_time_then_execs_the_runner(tmp_path: Path) -> None:
    start_file, command = _gate(tmp_path, 30)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.6)
    assert proc.poll() is None, "the gate must wait while no start time is set"
    assert not (tmp_path / "started").exists()
    start_at = time.time() + 1.0
    start_file.write_text(f"{start_at:.3f}")
    output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 2, output  # exec: the runner's exit code is the container's
    started, arg = (tmp_path / "started").read_text().split("\n", 1)
    assert float(started) >= start_at - 0.05, "started before the start time"
    assert float(started) - start_at < 1.0, "started long after the start time"
    assert arg.strip() == "arg with space"
    assert "waiting for every runner" in output


def test_gate_with_a_start_time_in_the_past_starts_at_once(tmp_path: Path) -> None:
    start_file, command = _gate(tmp_path, 30)
    start_file.write_text(f"{time.time() - 60:.3f}")
    began = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2
    assert time.monotonic() - began < 3


def test_gate_ignores_a_value_that_is_not_an_epoch_time(tmp_path: Path) -> None:
    start_file, command = _gate(tmp_path, 1)
    start_file.write_text("soon")
    proc = subprocess.run(command, capture_output=True, text=True, timeout=20)
    assert proc.returncode == GATE_GAVE_UP_EXIT
    assert not (tmp_path / "started").exists()


def test_gate_gives_up_when_no_start_time_comes(tmp_path: Path) -> None:
    _, command = _gate(tmp_path, 1)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=20)
    assert proc.returncode == GATE_GAVE_UP_EXIT
    assert "not every runner came up" in proc.stderr
    assert not (tmp_path / "started").exists()


def test_three_gates_given_one_start_time_start_together(tmp_path: Path) -> None:
    gates = []
    for i in range(3):
        folder = tmp_path / str(i)
        folder.mkdir()
        gates.append((folder, *_gate(folder, 30)))
    procs = []
    for _, _, command in gates:
        procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.3)  # the runners come up at different times
    start_at = time.time() + 1.0
    writers = [threading.Thread(target=f.write_text, args=(f"{start_at:.3f}",)) for _, f, _ in gates]
    for w in writers:
        w.start()
    for p in procs:
        p.wait(timeout=20)
    starts = [float((folder / "started").read_text().split("\n")[0]) for folder, _, _ in gates]
    assert max(starts) - min(starts) < 0.3, starts
    print(f"start spread of 3 gates: {max(starts) - min(starts):.3f}s")  # shown with -s
