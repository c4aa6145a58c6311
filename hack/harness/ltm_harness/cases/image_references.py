"""Image references and what the kubelet makes of them: the one corpus the unit test (operator and
offline CRD check) and the integration test (the real API server) both judge."""

from __future__ import annotations

DIGEST = "sha256:" + "0123456789abcdef" * 4

# (reference, what the kubelet makes of it): True parses, False ends in InvalidImageName.
REFERENCES: list[tuple[str, bool]] = [
    ("grafana/grafana:13.2.1", True),
    ("grafana/grafana", True),
    ("registry.example/grafana/grafana:latest", True),
    ("registry.local:5000/team/grafana:13.2.1-ubuntu", True),
    ("localhost/grafana:x", True),
    ("Registry.Example.com/grafana:1", True),  # host names may hold capitals
    ("a__b/c--d/e.f_g:T_a.g-1", True),
    (f"grafana/grafana:13.2.1@{DIGEST}", True),
    (f"grafana/grafana@{DIGEST}", True),
    ("grafana/grafana:" + "t" * 128, True),
    ("grafana/grafana:1.0:evil", False),
    ("grafana/grafana:" + "t" * 129, False),
    ("grafana/grafana:.hidden", False),
    ("grafana/Grafana:1", False),
    ("GRAFANA", False),
    ("grafana/grafana:12 x", False),
    ("grafana/grafana:12\n", False),
    ("grafana//grafana", False),
    ("grafana/", False),
    ("/grafana", False),
    ("grafana/grafana-:1", False),
    ("grafana/grafana@sha256:abc", False),
    (f"grafana/grafana@{DIGEST.upper()}", False),
    (f"grafana/grafana@md5:{'0' * 32}", False),
    ("registry:port/grafana", False),
    ("-registry/grafana", False),
    ("0123456789abcdef" * 4, False),  # an image ID, not a name
    ("https://registry/grafana", False),
]
