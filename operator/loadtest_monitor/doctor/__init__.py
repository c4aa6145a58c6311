"""`loadtest-monitor doctor`: checks of the cluster and of one monitor, one line each.

result.py the check result and its printing; facts.py what is read from the cluster (reads only);
cluster.py (the cluster and the operator), eks.py (the EKS add-ons) and monitor.py (one monitor):
the checks, pure functions of what was read.
"""
