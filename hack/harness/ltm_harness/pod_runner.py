"""The pod runner: runner pods of the local control plane as real local processes.

KWOK runs no containers. The pod runner watches the pods labelled ``loadtest.dev/run`` (the pods of
the Indexed Job a LoadtestRun creates, or any pod shaped like gatling-job-current.yaml's template)
and does for each what a kubelet with the runner image would do:

1. reads the pod's env (downward API and ConfigMap references resolved), its Gatling version (the
   runner image's tag), its gatling.conf (the ConfigMap volume, read from the API) and its forwarder
   sidecar (an init container with ``restartPolicy: Always`` running ``loadtest-monitor forward``);
2. marks it Running if KWOK has not;
3. waits, like the pod's start gate, for the annotation ``loadtest.dev/start-at`` and then for that
   epoch second;
4. starts a REAL Gatling (``docker/gatling-runner/run.sh`` on the image's layout, built from the
   harness's gatling-project for that version) with the pod's identity and env, the pod's
   gatling.conf with Graphite redirected to a real local InfluxDB, and the real forwarder process
   with the sidecar's own args, its paths mapped to local folders;
5. when Gatling ends, stops the sidecar with SIGTERM (the kubelet's part) and patches the pod status
   to terminated with Gatling's exit code (Succeeded / Failed), so the real Job controller counts it.

Faults for tests (``harness.loadtest.dev/fault`` annotation, or the ``default_fault`` / ``faults``
options): ``crash`` exits 1 at the start time before sending anything; ``no-forwarder`` never starts
the sidecar; ``drop-metrics`` sends the runner's Graphite lines to a sink that discards them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltm_harness import pod_status
from ltm_harness.apiserver import ApiServer
from ltm_harness.discard_sink import DiscardSink
from ltm_harness.forwarder import FORWARD
from ltm_harness.pod_spec import RUN_LABEL, PodSpecError, RunnerPod, read_pod, start_at
from ltm_harness.runner_home import RunnerHome, RunnerProcess, build_agent, build_runner_home

MERGE_PATCH = "application/merge-patch+json"
JOB_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
#: Where run.sh and the image keep results when GATLING_RESULTS_DIR is not set ($GATLING_HOME/results).
IMAGE_GATLING_HOME = "/opt/gatling"
#: Each local JVM is capped: eight engineers' runners share one machine (the pod's JAVA_OPTS come first).
HARNESS_JAVA_OPTS = "-Xmx512m -Dgatling.data.enableAnalytics=false"


class PodRunnerError(RuntimeError):
    """The pod runner could not read or update the cluster."""


@dataclass
class RunnerRecord:
    """What happened to one pod (times are epoch seconds), for tests and the log."""

    namespace: str
    name: str
    uid: str
    workdir: Path
    pod: RunnerPod | None = None
    results: Path | None = None
    start_at: float | None = None
    started: float | None = None  # when Gatling was spawned (or the injected crash happened)
    finished: float | None = None
    exit_code: int | None = None
    sidecar_exit: int | None = None
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event)

    def simulation_log(self) -> Path | None:
        if self.results is None:
            return None
        logs = sorted(self.results.glob("*/simulation.log"))
        return logs[-1] if logs else None


class PodRunner:
    """Runs the runner pods of ``cluster`` as local processes until ``stop()``.

    graphite: the (host, port) of the real InfluxDB Graphite listener every runner reports to;
    target_url: the base URL the simulations load (the harness's HTTP target), passed as
    ``-Dtarget.baseUrl``; namespace: only that namespace (default: all).
    """

    def __init__(
        self,
        cluster: ApiServer,
        workdir: Path,
        graphite: tuple[str, int],
        target_url: str,
        *,
        namespace: str | None = None,
        default_fault: str | None = None,
        faults: Mapping[str, str] | None = None,
        poll_seconds: float = 0.5,
        gatling_timeout: float = 900.0,
    ) -> None:
        self.cluster = cluster
        self.workdir = workdir
        self.graphite = graphite
        self.target_url = target_url
        self.namespace = namespace
        self.default_fault = default_fault
        # pod name, or "<run>/<index>" -> fault, for pods without the annotation (_fault_for)
        self.faults = dict(faults or {})
        self.poll_seconds = poll_seconds
        self.gatling_timeout = gatling_timeout
        self.records: dict[str, RunnerRecord] = {}
        self._homes: dict[str, RunnerHome] = {}
        self._home_lock = threading.Lock()
        self._agent: Path | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._procs: list[subprocess.Popen[str]] = []
        self._runners: list[RunnerProcess] = []
        self._sink: DiscardSink | None = None
        self._loop = threading.Thread(target=self._watch, name="pod-runner", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PodRunner:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._loop.start()
        return self

    def stop(self) -> None:
        """Stops watching and kills what still runs (a test that ended early)."""
        self._stop.set()
        self._loop.join(timeout=10)
        for runner in self._runners:
            runner.stop()
        for proc in self._procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for thread in self._threads:
            thread.join(timeout=15)
        if self._sink is not None:
            self._sink.stop()

    @property
    def discarded_bytes(self) -> int:
        """Bytes of Graphite lines the drop-metrics fault threw away (0 before any such pod ran)."""
        return self._sink.received if self._sink is not None else 0

    def prepare(self, version: str) -> RunnerHome:
        """The image's layout for ``version``, built once (offline Maven; a minute or more cold):
        call it before the runs start so the first runner is not late."""
        with self._home_lock:
            if version not in self._homes:
                if self._agent is None:
                    self._agent = build_agent(self.workdir / "build")
                self._homes[version] = build_runner_home(
                    self.workdir / "build" / f"gatling-{version}", version, "", self._agent
                )
            return self._homes[version]

    def wait_done(self, names: list[str], timeout: float, namespace: str | None = None) -> dict[str, RunnerRecord]:
        """The records of these pods once each has ended; TimeoutError naming the ones still running."""
        ns = namespace or self.namespace or "default"
        deadline = time.monotonic() + timeout
        out: dict[str, RunnerRecord] = {}
        for name in names:
            while f"{ns}/{name}" not in self.records:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the pod runner never picked up pod {ns}/{name}")
                time.sleep(0.2)
            record = self.records[f"{ns}/{name}"]
            if not record.done.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"pod {ns}/{name} still running after {timeout}s: {record}")
            out[name] = record
        return out

    # -- the watch ---------------------------------------------------------------------------

    def _watch(self) -> None:
        """Lists the labelled pods every poll_seconds (cheap at this scale, and it never misses a
        pod the way a dropped watch connection can); one worker thread per new scheduled pod."""
        path = f"/api/v1/namespaces/{self.namespace}/pods" if self.namespace else "/api/v1/pods"
        query = urllib.parse.urlencode({"labelSelector": RUN_LABEL})
        while not self._stop.is_set():
            try:
                pods = self.cluster.api_get(f"{path}?{query}").get("items") or []
            except Exception:  # an API server under load: try again at the next poll
                pods = []
            for pod in pods:
                meta = pod["metadata"]
                key = f"{meta['namespace']}/{meta['name']}"
                phase = (pod.get("status") or {}).get("phase")
                known = self.records.get(key)
                if known is not None and (known.uid == meta.get("uid") or not known.done.is_set()):
                    continue  # this pod, or a namesake whose predecessor is still being handled
                if phase in ("Succeeded", "Failed") or not pod["spec"].get("nodeName"):
                    continue
                workdir = self.workdir / meta["namespace"] / meta["name"] / meta.get("uid", "")[:8]
                record = RunnerRecord(meta["namespace"], meta["name"], meta.get("uid", ""), workdir)
                self.records[key] = record
                thread = threading.Thread(target=self._run_pod, args=(pod, record), name=f"pod-{key}", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._stop.wait(self.poll_seconds)

    # -- one pod -----------------------------------------------------------------------------

    def _fault_for(self, pod: Mapping[str, Any]) -> str | None:
        """The fault option of this pod: by its name, or by ``<run>/<index>`` (its loadtest.dev/run
        label and Job completion index), which a test knows before the Job controller names the pod."""
        meta = pod.get("metadata") or {}
        run = (meta.get("labels") or {}).get(RUN_LABEL)
        index = (meta.get("annotations") or {}).get(JOB_INDEX_ANNOTATION)
        for key in (meta.get("name"), f"{run}/{index}"):
            if key in self.faults:
                return self.faults[key]
        return self.default_fault

    def _run_pod(self, pod: dict[str, Any], record: RunnerRecord) -> None:
        runner: RunnerPod | None = None
        try:
            runner = read_pod(pod, self._config_map_reader(record.namespace), self._fault_for(pod))
            record.pod = runner
            self._run(pod, runner, record)
        except Exception as exc:  # the pod fails visibly, with the reason, as a kubelet would report it
            record.error = f"{type(exc).__name__}: {exc}"
            if runner is not None and record.exit_code is None:
                now = time.time()
                record.exit_code, record.finished = 1, now
                failed = pod_status.terminated(runner, 1, record.started or now, now, record.error)
                with contextlib.suppress(Exception):
                    self._patch_status(runner, failed)
        finally:
            record.done.set()

    def _run(self, pod: dict[str, Any], runner: RunnerPod, record: RunnerRecord) -> None:
        # A runner that crashes at once needs no Gatling build.
        home = None if runner.fault == "crash" else self.prepare(runner.gatling_version)
        self._ensure_running(pod, runner)
        volumes = self._volumes(runner, record.workdir)
        results = self._results_dir(runner, volumes, record.workdir)
        record.results = results
        if runner.fault != "crash":
            self._wait_for_graphite()  # the pod's wait-for-graphite init container
        sidecar = None
        if runner.sidecar is not None and runner.fault not in ("crash", "no-forwarder"):
            sidecar = self._start_sidecar(runner, volumes, record.workdir)
        try:
            record.start_at = self._wait_for_start_at(runner)
            self._sleep_until(record.start_at)
            if runner.fault == "crash":
                record.started = record.finished = time.time()
                record.exit_code = 1
                message = "harness fault: crashed before sending anything"
            else:
                assert home is not None
                pod_home = self._pod_home(home, volumes[runner.conf_volume], record.workdir)
                record.exit_code, message = self._run_gatling(runner, pod_home, results, record)
        finally:
            if sidecar is not None:
                record.sidecar_exit = self._stop_sidecar(sidecar)
        assert record.started is not None and record.finished is not None
        self._patch_status(
            runner,
            pod_status.terminated(
                runner, record.exit_code, record.started, record.finished, message, record.sidecar_exit
            ),
        )

    def _run_gatling(self, runner: RunnerPod, home: RunnerHome, results: Path, record: RunnerRecord) -> tuple[int, str]:
        env = {k: v for k, v in runner.env.items() if k not in ("GATLING_HOME", "GATLING_RESULTS_DIR")}
        host, port = self._graphite_for(runner)
        # System properties beat gatling.conf, so a pod passing the graphite address as -D flags (the
        # examples' alternative to the mount) is redirected too: the last -D of a name wins.
        redirect = f"-Dgatling.data.graphite.host={host} -Dgatling.data.graphite.port={port}"
        env["JAVA_OPTS"] = f"{runner.java_opts} {HARNESS_JAVA_OPTS} -Dtarget.baseUrl={self.target_url} {redirect}"
        process = RunnerProcess(home, runner.name, {}, results, simulation=runner.simulation, extra_env=env)
        self._runners.append(process)
        process.start()
        record.started = process.started
        assert process.proc is not None
        try:
            code = process.proc.wait(timeout=self.gatling_timeout)
        except subprocess.TimeoutExpired:
            process.stop()
            code = 137
        record.finished = time.time()
        return code, "" if code == 0 else process.log_tail(15)

    # -- what a kubelet does around the container --------------------------------------------

    def _config_map_reader(self, namespace: str) -> Any:
        def read(name: str) -> dict[str, str]:
            status, body = self.cluster.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
            if status != 200:
                raise PodSpecError(
                    f"ConfigMap {namespace}/{name}: HTTP {status}; create it (the monitor's, or your own)"
                )
            return dict(json.loads(body).get("data") or {})

        return read

    def _ensure_running(self, pod: dict[str, Any], runner: RunnerPod) -> None:
        """KWOK's pod-ready stage normally marks the pod Running; if it has not within 10 s, we do."""
        path = f"/api/v1/namespaces/{runner.namespace}/pods/{runner.name}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (self.cluster.api_get(path).get("status") or {}).get("phase") == "Running":
                return
            time.sleep(0.5)
        self._patch_status(runner, pod_status.running(runner, runner.image, time.time()))

    def _volumes(self, runner: RunnerPod, workdir: Path) -> dict[str, Path]:
        """A local folder per volume the containers mount; the ConfigMap one holds the pod's
        gatling.conf with Graphite redirected to the local InfluxDB (or the discard sink)."""
        names = set(runner.mounts.values()) | set(runner.sidecar.mounts.values() if runner.sidecar else ())
        volumes = {name: workdir / "volumes" / name for name in sorted(names)}
        for folder in volumes.values():
            folder.mkdir(parents=True, exist_ok=True)
        conf = self._config_map_reader(runner.namespace)(runner.conf_config_map).get(runner.conf_key)
        if conf is None:
            raise PodSpecError(f"ConfigMap {runner.conf_config_map!r} has no key {runner.conf_key!r}")
        host, port = self._graphite_for(runner)
        (volumes[runner.conf_volume] / runner.conf_path).write_text(
            conf
            + "\n# Added by the harness's pod runner: the pod's in-cluster Graphite address does not resolve\n"
            + "# here; its metrics go to the harness's InfluxDB instead (later keys win in HOCON).\n"
            + f'gatling.data.graphite.host = "{host}"\ngatling.data.graphite.port = {port}\n'
        )
        return volumes

    def _graphite_for(self, runner: RunnerPod) -> tuple[str, int]:
        """Where this runner's metrics go: the harness's InfluxDB, or the discard sink (drop-metrics)."""
        if runner.fault == "drop-metrics":
            return "127.0.0.1", self._discard_sink().port
        return self.graphite

    def _discard_sink(self) -> DiscardSink:
        with self._home_lock:
            if self._sink is None:
                self._sink = DiscardSink().start()
            return self._sink

    def _pod_home(self, home: RunnerHome, conf_dir: Path, workdir: Path) -> RunnerHome:
        """The image's GATLING_HOME for this pod: the shared build, with the pod's conf folder."""
        pod_home = workdir / "gatling-home"
        pod_home.mkdir(parents=True, exist_ok=True)
        for entry in home.home.iterdir():
            if entry.name not in ("conf", "results"):
                link = pod_home / entry.name
                if not link.exists():
                    link.symlink_to(entry)
        conf = pod_home / "conf"
        if not conf.exists():
            conf.symlink_to(conf_dir)
        return RunnerHome(home.version, pod_home)

    def _results_dir(self, runner: RunnerPod, volumes: Mapping[str, Path], workdir: Path) -> Path:
        """The local folder of the volume Gatling writes its results to (shared with the sidecar)."""
        gatling_home = runner.env.get("GATLING_HOME", IMAGE_GATLING_HOME)
        wanted = runner.env.get("GATLING_RESULTS_DIR", f"{gatling_home}/results")
        volume = runner.mounts.get(wanted)
        folder = volumes[volume] if volume else workdir / "results"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _local_path(self, arg: str, mounts: Mapping[str, str], volumes: Mapping[str, Path]) -> str:
        for mount_path, volume in sorted(mounts.items(), key=lambda m: -len(m[0])):
            if arg == mount_path or arg.startswith(mount_path.rstrip("/") + "/"):
                return str(volumes[volume]) + arg[len(mount_path.rstrip("/")) :]
        return arg

    def _start_sidecar(self, runner: RunnerPod, volumes: Mapping[str, Path], workdir: Path) -> subprocess.Popen[str]:
        """`loadtest-monitor forward` with the sidecar's args, its mount paths mapped to local folders."""
        assert runner.sidecar is not None
        args = [self._local_path(a, runner.sidecar.mounts, volumes) for a in runner.sidecar.args]
        env = {k: v for k, v in os.environ.items() if k not in ("GATLING_RUNNER", "HOSTNAME")}
        env["GATLING_RUNNER"] = runner.name  # the sidecar's downward-API identity
        with (workdir / "forward.log").open("w") as log:
            proc = subprocess.Popen(
                [FORWARD, "forward", *args], env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
                start_new_session=True,
            )
        self._procs.append(proc)
        return proc

    def _stop_sidecar(self, proc: subprocess.Popen[str]) -> int:
        """SIGTERM once the main container ended, as the kubelet stops a native sidecar."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait()

    def _wait_for_graphite(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(self.graphite, timeout=1):
                return
            time.sleep(0.5)
        raise PodRunnerError(f"Graphite {self.graphite[0]}:{self.graphite[1]} did not accept connections in {timeout}s")

    def _wait_for_start_at(self, runner: RunnerPod) -> float:
        """The start gate: the pod's start-at annotation, re-read until it is set."""
        if runner.start_at is not None:
            return runner.start_at
        path = f"/api/v1/namespaces/{runner.namespace}/pods/{runner.name}"
        while not self._stop.is_set():
            try:
                status, body = self.cluster.request("GET", path)
            except OSError:  # the API server restarting: the gate keeps waiting
                status, body = 0, b""
            if status == 404:
                raise PodRunnerError(f"pod {runner.namespace}/{runner.name} was deleted before its start-at")
            if status == 200:
                pod = json.loads(body)
                if pod["metadata"].get("uid") != runner.uid:
                    raise PodRunnerError(f"pod {runner.namespace}/{runner.name} was replaced before its start-at")
                found = start_at(pod)
                if found is not None:
                    return found
            time.sleep(0.2)
        raise PodRunnerError(f"pod {runner.namespace}/{runner.name}: stopped while waiting for its start-at")

    def _sleep_until(self, when: float) -> None:
        while (left := when - time.time()) > 0 and not self._stop.is_set():
            time.sleep(min(left, 0.05))

    def _patch_status(self, runner: RunnerPod, patch: dict[str, Any]) -> None:
        path = f"/api/v1/namespaces/{runner.namespace}/pods/{runner.name}/status"
        status, body = self.cluster.request("PATCH", path, patch, content_type=MERGE_PATCH)
        if status != 200:
            raise PodRunnerError(f"PATCH {path}: HTTP {status}: {body[:300]!r}")


@contextlib.contextmanager
def running_pod_runner(
    cluster: ApiServer, workdir: Path, graphite: tuple[str, int], target_url: str, **options: Any
) -> Iterator[PodRunner]:
    """A started PodRunner for the with-block (a test's fixture); everything it started is stopped."""
    runner = PodRunner(cluster, workdir, graphite, target_url, **options).start()
    try:
        yield runner
    finally:
        runner.stop()
