"""Image references on the real API server: the CRD's rule refuses exactly what the kubelet would
refuse (InvalidImageName on every pod) and what the operator's own check refuses, for the same corpus
as the unit test (ltm_harness.cases.image_references). The 1.27 floor runs it too (test_validation_floor.py).
"""

from __future__ import annotations

from typing import Any

from tests.integration.image_support import disagreements


def test_the_api_server_judges_image_references_as_the_kubelet_does(cluster: Any, crd: None, namespace: str) -> None:
    assert disagreements(cluster.kubectl, namespace) == []
