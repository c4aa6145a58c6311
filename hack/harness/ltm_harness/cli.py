"""``ltm-cluster up|status|down`` (``make cluster`` / ``make cluster-down``): a LocalCluster in the
background, its kubeconfig and state in ``.cluster/``.

    ltm-cluster up       # starts it detached, writes .cluster/kubeconfig and .cluster/state.json
    ltm-cluster status
    ltm-cluster pod-runner   # runs the runner pods (label loadtest.dev/run) as real Gatling processes
    ltm-cluster down
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from ltm_harness import pod_runner_cli
from ltm_harness.binaries import find_binaries
from ltm_harness.cluster import LocalCluster
from ltm_harness.errors import ClusterError
from ltm_harness.repo import STATE_DIR, project_crds


def _state_path(state_dir: Path) -> Path:
    return state_dir / "state.json"


def _load_state(state_dir: Path) -> LocalCluster | None:
    path = _state_path(state_dir)
    if not path.exists():
        return None
    try:
        return LocalCluster.from_state(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as err:
        print(f"ignoring unreadable {path}: {err}", file=sys.stderr)
        return None


def _clear_state(state_dir: Path) -> None:
    for name in ("state.json", "kubeconfig"):
        with contextlib.suppress(FileNotFoundError):
            (state_dir / name).unlink()


def cmd_up(state_dir: Path, timeout: float, keep_run_dir: bool, crds: Sequence[Path]) -> int:
    existing = _load_state(state_dir)
    if existing is not None:
        if all(existing.alive().values()):
            print(f"cluster already running at {existing.server} (run dir {existing.run_dir})", file=sys.stderr)
            print(f"export KUBECONFIG={state_dir.resolve() / 'kubeconfig'}")
            return 0
        print("a previous cluster is partly dead: stopping it first", file=sys.stderr)
        existing.stop()
        _clear_state(state_dir)
    try:
        binaries = find_binaries()
        cluster = LocalCluster(
            binaries, crds=crds, keep_run_dir=keep_run_dir, die_with_parent=False, startup_timeout=timeout
        )
        cluster.start()
    except ClusterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    cluster.detach()
    state_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cluster.kubeconfig_path, state_dir / "kubeconfig")
    (state_dir / "kubeconfig").chmod(0o600)
    _state_path(state_dir).write_text(json.dumps(cluster.state(), indent=2) + "\n")
    print(
        f"cluster up at {cluster.server} in {cluster.startup_seconds:.1f} s "
        f"(binaries present -> /readyz ok and node {cluster.node_name} Ready); run dir {cluster.run_dir}",
        file=sys.stderr,
    )
    print(f"export KUBECONFIG={(state_dir / 'kubeconfig').resolve()}")
    return 0


def cmd_down(state_dir: Path) -> int:
    cluster = _load_state(state_dir)
    if cluster is None:
        print("no cluster state found: nothing to stop", file=sys.stderr)
        _clear_state(state_dir)
        return 0
    cluster.stop()
    _clear_state(state_dir)
    print(f"cluster stopped; removed {cluster.run_dir}", file=sys.stderr)
    return 0


def cmd_status(state_dir: Path) -> int:
    cluster = _load_state(state_dir)
    if cluster is None:
        print("no cluster (run `make cluster`)")
        return 1
    alive = cluster.alive()
    print(f"server:     {cluster.server}")
    print(f"run dir:    {cluster.run_dir}")
    print(f"kubeconfig: {state_dir.resolve() / 'kubeconfig'}")
    print(f"audit log:  {cluster.audit_log_path}")
    for name, pid in cluster.pids.items():
        print(f"  {name:<24} pid {pid:<8} {'running' if alive[name] else 'DEAD'}")
    ready = all(alive.values()) and cluster.apiserver_ready()
    node = ready and cluster.node_ready()
    print(f"/readyz:    {'ok' if ready else 'not ready'}; node {cluster.node_name}: {'Ready' if node else 'not Ready'}")
    return 0 if ready and node else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ltm-cluster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--state-dir", type=Path, default=STATE_DIR, help="where kubeconfig and state.json go (default: .cluster)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a cluster in the background")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness")
    up.add_argument("--keep-run-dir", action="store_true", help="keep logs and audit log after `down`")
    up.add_argument(
        "--crd",
        dest="crds",
        action="append",
        type=Path,
        help="CRD manifest (file or directory) to install before the controllers start; repeatable "
        "(default: the project's crds/*.yaml)",
    )
    up.add_argument("--no-crds", action="store_true", help="install no CRDs")
    sub.add_parser("down", help="stop the cluster and clean up")
    sub.add_parser("status", help="show the cluster's processes and readiness")
    pod_runner_cli.add_arguments(
        sub.add_parser("pod-runner", help="run the cluster's runner pods as real Gatling processes (foreground)")
    )
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir
    if args.command == "up":
        crds: list[Path] = [] if args.no_crds else (args.crds or project_crds())
        return cmd_up(state_dir, args.timeout, args.keep_run_dir, crds)
    if args.command == "down":
        return cmd_down(state_dir)
    if args.command == "pod-runner":
        cluster = _load_state(state_dir)
        if cluster is None:
            print("no cluster (run `make cluster` first)", file=sys.stderr)
            return 1
        return pod_runner_cli.run(cluster, args, state_dir)
    return cmd_status(state_dir)


if __name__ == "__main__":
    sys.exit(main())
