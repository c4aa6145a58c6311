"""The one place for the API group, kind, label keys and the names of every child object."""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "loadtest.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "LoadtestMonitor"
PLURAL = "loadtestmonitors"
CRD_NAME = f"{PLURAL}.{GROUP}"
#: A test run against a monitor (same group and version): `kubectl get ltr`.
RUN_KIND = "LoadtestRun"
RUN_PLURAL = "loadtestruns"
RUN_SHORT_NAME = "ltr"
RUN_CRD_NAME = f"{RUN_PLURAL}.{GROUP}"

FIELD_MANAGER = "loadtest-monitor"

#: The cluster DNS domain when nobody says otherwise (the one place this default lives).
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
PART_OF = "loadtest-monitor"

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
# In every pod selector, so our Deployments, Services and NetworkPolicies never select the pods of
# another installation that uses the common app.kubernetes.io labels (the grafana/influxdb charts).
LABEL_MONITOR = f"{GROUP}/monitor"

# On a run's Job and its runner pods: the LoadtestRun they belong to (pods also carry LABEL_MONITOR).
LABEL_RUN = f"{GROUP}/run"
# On each runner pod, set by the operator once every runner runs: the epoch time (seconds, with
# milliseconds) at which all runners start their injection; the start gate reads it through a
# downward-API volume.
START_AT_ANNOTATION = f"{GROUP}/start-at"
# On a LoadtestMonitor while runs of it have not ended: its deletion waits until they end.
ACTIVE_RUNS_FINALIZER = f"{GROUP}/active-runs"

# Pod-template annotation holding a hash of the configuration a pod consumes: a config change
# changes the template and rolls the pods; an unchanged config leaves the template untouched.
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"

# On a Secret named by a monitor's grafana.adminSecretRef: the monitors (comma-separated names, same
# namespace) its owner lets mount it. The operator can read every Secret, a monitor's author maybe
# none: without this opt-in, adminSecretRef would hand any Secret's keys to an image the author picks.
# An annotation, not a label: a label value holds at most 63 characters, too few for a list.
ADMIN_SECRET_OPT_IN = f"{GROUP}/grafana-admin-for"

# Selects every object this operator manages (used by the child watches and by pruning).
MANAGED_SELECTOR = f"{LABEL_MANAGED_BY}={FIELD_MANAGER}"

# `loadtest-monitor up` and `down` write with this field manager, and label what `up` installs
# with it (managed-by), so `kubectl get -l` finds an install made by the CLI.
CLI_FIELD_MANAGER = "loadtest-monitor-cli"
# A random id that `up` stamps on every object it installs (CRD, Namespace, RBAC, Deployment).
# `down --uninstall` deletes only objects carrying the id of the install it removes: a hand-made
# object, or one of a kustomize/Helm/Argo CD install, cannot carry it by accident.
INSTALL_ID_ANNOTATION = f"{GROUP}/install-id"

#: Labels every operator pod carries, in the kustomize base and the Helm chart alike (the chart's
#: `app.kubernetes.io/name` follows its nameOverride, so it is not one of them).
OPERATOR_POD_LABELS = {LABEL_COMPONENT: "operator", LABEL_PART_OF: PART_OF}

GRAPHITE_PORT = 2003
INFLUXDB_HTTP_PORT = 8086
GRAFANA_PORT = 3000

GATLING_CONF_KEY = "gatling.conf"
JAVA_PROPERTIES_KEY = "java-system-properties"
ADMIN_USER_KEY = "admin-user"
ADMIN_PASSWORD_KEY = "admin-password"
# The generated InfluxDB credentials Secret: admin (bootstrap, humans) and a read-only user (Grafana).
READER_USER_KEY = "reader-user"
READER_PASSWORD_KEY = "reader-password"


@dataclass(frozen=True)
class ChildNames:
    """Stable names of the objects created for one LoadtestMonitor."""

    monitor: str
    namespace: str

    def _child(self, suffix: str) -> str:
        return f"{self.monitor}-{suffix}"

    @property
    def influxdb_deployment(self) -> str:
        return self._child("influxdb")

    @property
    def influxdb_service(self) -> str:
        return self._child("influxdb")

    @property
    def influxdb_config(self) -> str:
        return self._child("influxdb-config")

    @property
    def influxdb_pvc(self) -> str:
        return self._child("influxdb-data")

    @property
    def influxdb_auth_secret(self) -> str:
        return self._child("influxdb-auth")

    @property
    def graphite_service(self) -> str:
        return self._child("graphite")

    @property
    def network_policy(self) -> str:
        return self._child("influxdb")

    @property
    def grafana_network_policy(self) -> str:
        return self._child("grafana")

    @property
    def grafana_deployment(self) -> str:
        return self._child("grafana")

    @property
    def grafana_service(self) -> str:
        return self._child("grafana")

    @property
    def grafana_admin_secret(self) -> str:
        return self._child("grafana-admin")

    @property
    def grafana_datasources(self) -> str:
        return self._child("grafana-datasources")

    @property
    def grafana_dashboard_providers(self) -> str:
        return self._child("grafana-dashboard-providers")

    @property
    def grafana_dashboards(self) -> str:
        return self._child("grafana-dashboards")

    @property
    def gatling_config(self) -> str:
        return self._child("gatling")

    def service_fqdn(self, service: str, cluster_domain: str) -> str:
        return f"{service}.{self.namespace}.svc.{cluster_domain}"


def selector_labels(monitor: str, app: str) -> dict[str, str]:
    """Labels that select one component's pods; they never change after creation."""
    return {LABEL_NAME: app, LABEL_INSTANCE: monitor, LABEL_MONITOR: monitor}


def child_labels(monitor: str, app: str, component: str) -> dict[str, str]:
    return {
        **selector_labels(monitor, app),
        LABEL_COMPONENT: component,
        LABEL_PART_OF: PART_OF,
        LABEL_MANAGED_BY: FIELD_MANAGER,
    }
