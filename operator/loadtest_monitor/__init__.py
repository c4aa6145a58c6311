"""loadtest-monitor: a Kubernetes operator that gives Gatling load tests a realtime monitoring stack."""

__version__ = "0.1.0"
