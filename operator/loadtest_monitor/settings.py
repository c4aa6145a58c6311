"""The operator's settings: one object, built once from the command line and the environment.

Nothing here reads the environment at import time; `Settings.from_env` is called by `run` and
refuses bad values with one line naming the variable and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from loadtest_monitor import __version__
from loadtest_monitor.identity import DEFAULT_CLUSTER_DOMAIN
from loadtest_monitor.load_balancer import LB_MODE_CONTROLLER, parse_load_balancer_mode
from loadtest_monitor.spec.image import image_problem

_TRUE = ("1", "true", "yes")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_FALSE = ("0", "false", "no", "")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable and what it accepts."""


@dataclass(frozen=True)
class Settings:
    #: Seconds between two full passes over every monitor (the safety net for unwatched Secrets).
    #: 120 s: a monitor's two generated Secrets cost one GET per minute while nothing changes.
    resync_seconds: float = 120.0
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    #: Add status.grafana.loadBalancerState from Elastic Load Balancing (EKS only).
    aws_lb_state: bool = False
    #: Reconciles that run at the same time (different monitors; one monitor is never run twice at once).
    workers: int = 4
    #: Seconds to connect to / wait for one API response; one retry at most (see kube/client.py).
    request_timeout: float = 10.0
    #: A reconcile still running after this many seconds counts as hung (liveness fails).
    reconcile_deadline: float = 120.0
    #: First and largest delay of the retry after a failed reconcile (doubles in between).
    retry_min_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    #: Window over which watch events of a monitor's children make one reconcile (workqueue.add_soon).
    child_settle_seconds: float = 1.0
    #: Port of /healthz (0: off).
    liveness_port: int = 0
    #: Who makes the load balancers: the AWS Load Balancer Controller or EKS Auto Mode (render/common.py).
    load_balancer_mode: str = LB_MODE_CONTROLLER
    #: LoadtestRun pods: the forwarder sidecar's image (the operator's own image, which holds
    #: `loadtest-monitor forward`) and the image of the init container that waits for Graphite.
    forwarder_image: str = f"loadtest-monitor:{__version__}"
    wait_image: str = "busybox:1.36.1"
    #: Once every runner of a run is up, they start this many seconds later: time for the kubelets
    #: to mirror the start-at annotation into every pod (a runner told late would start late).
    run_start_delay_seconds: float = 5.0
    #: After a run's last runner ended, its whole-run summaries may still be on their way (each
    #: forwarder sends its own on SIGTERM): a run without them is NoData only after this long.
    run_data_grace_seconds: float = 60.0
    #: The monitors' InfluxDB HTTP endpoint when the operator runs outside the cluster (runs/influx.py);
    #: `{monitor}` and `{namespace}` are filled in. None: the in-cluster Service.
    influxdb_url: str | None = None
    #: The operator's own namespace when it runs in a pod (the Downward API): the monitors' InfluxDB
    #: NetworkPolicy lets its pods reach InfluxDB's HTTP port from there (render/influxdb.py).
    operator_namespace: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], liveness_port: int = 0) -> Settings:
        settings = cls(
            resync_seconds=_number(env, "LTM_RESYNC_SECONDS", cls.resync_seconds, minimum=5.0),
            cluster_domain=_domain(env.get("LTM_CLUSTER_DOMAIN", DEFAULT_CLUSTER_DOMAIN)),
            aws_lb_state=_flag(env, "LTM_AWS_LB_STATE"),
            workers=int(_number(env, "LTM_WORKERS", cls.workers, minimum=1, integer=True)),
            request_timeout=_number(env, "LTM_REQUEST_TIMEOUT_SECONDS", cls.request_timeout, minimum=1.0),
            reconcile_deadline=_number(env, "LTM_RECONCILE_DEADLINE_SECONDS", cls.reconcile_deadline, minimum=10.0),
            liveness_port=liveness_port,
            load_balancer_mode=_load_balancer_mode(env.get("LTM_LOAD_BALANCER_MODE", "")),
            forwarder_image=_image(env, "LTM_FORWARDER_IMAGE", cls.forwarder_image),
            wait_image=_image(env, "LTM_WAIT_IMAGE", cls.wait_image),
            run_start_delay_seconds=_number(
                env, "LTM_RUN_START_DELAY_SECONDS", cls.run_start_delay_seconds, minimum=1.0
            ),
            run_data_grace_seconds=_number(env, "LTM_RUN_DATA_GRACE_SECONDS", cls.run_data_grace_seconds, minimum=1.0),
            influxdb_url=_influxdb_url(env.get("LTM_INFLUXDB_URL", "")),
            operator_namespace=_namespace(env.get("LTM_OPERATOR_NAMESPACE", "")),
        )
        if settings.reconcile_deadline < 3 * settings.request_timeout:
            raise SettingsError(
                "LTM_RECONCILE_DEADLINE_SECONDS must be at least 3 x LTM_REQUEST_TIMEOUT_SECONDS "
                f"({3 * settings.request_timeout:g}); raise it or lower the request timeout"
            )
        return settings

    @property
    def hung_seconds(self) -> float:
        """A reconcile running this long is hung. It stops applying at its deadline; what may
        follow (prunes read by name, the status write, an Event) is at most three more calls of
        two attempts each, which an API server that does not answer makes time out."""
        return self.reconcile_deadline + 6 * self.request_timeout

    @property
    def liveness_stale_seconds(self) -> float:
        """No finished reconcile for this long while work is waiting: the operator is stuck."""
        return self.reconcile_deadline + self.resync_seconds


def _load_balancer_mode(raw: str) -> str:
    try:
        return parse_load_balancer_mode(raw)
    except ValueError as err:
        raise SettingsError(str(err)) from None


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float, integer: bool = False) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(int(raw)) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise SettingsError(f"{name}={raw!r} is not {kind}; set it to {kind} >= {minimum:g}") from None
    if value != value or value < minimum:  # NaN or too small (0 would be a hot loop)
        raise SettingsError(f"{name}={raw!r} is below the minimum; set it to a value >= {minimum:g}")
    return value


def _namespace(raw: str) -> str | None:
    name = raw.strip()
    if not name:
        return None
    if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
        raise SettingsError(
            f"LTM_OPERATOR_NAMESPACE={raw!r} is not a namespace name; set it from the Downward API "
            "(valueFrom.fieldRef.fieldPath: metadata.namespace)"
        )
    return name


def _image(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    problem = image_problem(raw)
    if problem:
        raise SettingsError(f"{name}: {problem}")
    return raw


def _influxdb_url(raw: str) -> str | None:
    url = raw.strip()
    if not url:
        return None
    try:
        filled = url.format(monitor="m", namespace="ns")
    except (KeyError, IndexError, ValueError):
        raise SettingsError(
            f"LTM_INFLUXDB_URL={raw!r}: only {{monitor}} and {{namespace}} may be filled in; "
            "set it like http://127.0.0.1:8086"
        ) from None
    scheme, sep, rest = filled.partition("://")
    if scheme not in ("http", "https") or not sep or not rest.strip("/"):
        raise SettingsError(f"LTM_INFLUXDB_URL={raw!r} is not an http(s) URL; set it like http://127.0.0.1:8086")
    return url.rstrip("/")


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean; set it to true or false")


def _domain(raw: str) -> str:
    domain = raw.strip().strip(".")
    labels = domain.split(".")
    if (
        not domain
        or any(not label or len(label) > 63 for label in labels)
        or not all(c.isalnum() or c == "-" for label in labels for c in label)
    ):
        raise SettingsError(f"LTM_CLUSTER_DOMAIN={raw!r} is not a DNS domain; set it like cluster.local")
    return domain.lower()
