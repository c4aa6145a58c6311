"""`loadtest-monitor doctor`: checks of the cluster and of one monitor, one line each.

result.py the check result and its printing; facts.py what is read from the cluster (reads only);
cluster.py and monitor.py the checks, pure functions of what was read.
"""
