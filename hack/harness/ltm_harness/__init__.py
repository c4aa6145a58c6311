"""loadtest-monitor's development harness, one module a job.

- ``binaries``: where the cached control-plane builds are (``hack/build-*.sh``)
- ``ports``, ``wait``: free loopback ports, the one polling helper
- ``processes``: spawning with die-with-parent, process-group stop, pid checks, log tails
- ``pki``, ``kubeconfig``: the throwaway CA, certificates and kubeconfigs of a run
- ``apiserver``: etcd + kube-apiserver (alone: the CRD floor test; or under a LocalCluster)
- ``cluster``: LocalCluster, the whole control plane with KWOK
- ``cli``: ``ltm-cluster up|status|down`` (``make cluster``)
- ``operator_process``: ``loadtest-monitor run`` as a background process
- ``delay_proxy``: a TCP proxy that adds latency to a client's requests (a slow API server)
"""
