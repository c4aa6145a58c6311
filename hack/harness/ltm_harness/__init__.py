"""loadtest-monitor's development harness: everything that starts or drives real software for the
tests, the demo and the benchmarks, one module a job. Nothing here imports tests/; the test layers and
bench/ import it. See hack/harness/README.md.

The control plane
- ``binaries``: where the cached control-plane builds are (``hack/build-*.sh``)
- ``ports``, ``wait``: free loopback ports, the one polling helper
- ``processes``: spawning with die-with-parent, process-group stop, pid checks, log tails
- ``pki``, ``kubeconfig``: the throwaway CA, certificates and kubeconfigs of a run
- ``apiserver``: etcd + kube-apiserver (alone: the CRD floor test; or under a LocalCluster)
- ``cluster``: LocalCluster, the whole control plane with KWOK
- ``kube_session``: a started LocalCluster for a test session, the admin's pykube client, namespaces
- ``monitors``: a LoadtestMonitor applied, waited Ready, its children listed
- ``cli``: ``ltm-cluster up|status|down`` (``make cluster``)
- ``operator_process``: ``loadtest-monitor run`` as a background process
- ``delay_proxy``: a TCP proxy that adds latency to a client's requests (a slow API server)

The data path
- ``tools``: programs from PATH (influx, java, mvn) or a MissingTool naming the install command
- ``influxd``: a real influxd (1.12.4 built from source, Debian's 1.6) on free ports, its HTTP API
- ``influx_bootstrap``: influxd prepared the way the operator's pod prepares it (bootstrap, auth)
- ``http_target``: the local HTTP target the simulations load
- ``gatling_run``: the Gatling 3.11 Maven project (``hack/harness/gatling-project``) run by Maven
- ``runner_home``: the runner image's layout for any Gatling version, run by the image's run.sh
- ``gatling_report``: Gatling's own report numbers for every version
- ``gatling_binary_log``: hand-made Gatling 3.13+ binary simulation.log files
- ``forwarder``: ``loadtest-monitor forward`` as the sidecar runs it
- ``datapath``, ``forwarded_run``: the reference runs (3.11 Graphite writer; 3.12+ with forwarder)
- ``graphite_relay``: a Graphite relay that keeps a copy of every line

Images and registries
- ``podman``: podman with the project's configuration, containers always removed
- ``registry``: a real OCI registry (CNCF Distribution) with an htpasswd login

Corpora several test layers judge: ``cases`` (image references, hostile specs, generated HOCON).
"""
