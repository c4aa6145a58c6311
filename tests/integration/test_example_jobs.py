"""The example Gatling Jobs (manifests/examples/gatling-job*.yaml) accepted by a real API server:
created in a namespace with a server-side dry run (defaulting and validation run, nothing is
stored), and the native-sidecar shape of the 3.12+ Job survives the round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pykube
import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "examples"


def dry_run_create(api: pykube.HTTPClient, namespace: str, job: dict) -> dict:
    resp = api.session.post(
        f"{api.url}/apis/batch/v1/namespaces/{namespace}/jobs",
        params={"dryRun": "All", "fieldValidation": "Strict"},
        data=json.dumps(job),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


@pytest.mark.parametrize("name", ["gatling-job.yaml", "gatling-job-current.yaml"])
def test_example_job_is_accepted_by_the_api_server(kube_api, namespace, name):
    (job,) = [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]
    created = dry_run_create(kube_api, namespace, job)
    assert created["metadata"]["namespace"] == namespace
    # Dry run: nothing stored.
    assert not pykube.Job.objects(kube_api, namespace=namespace).filter(namespace=namespace).get_or_none(
        name=job["metadata"]["name"]
    )


def test_forwarder_stays_a_native_sidecar(kube_api, namespace):
    (job,) = [d for d in yaml.safe_load_all((EXAMPLES / "gatling-job-current.yaml").read_text()) if d]
    created = dry_run_create(kube_api, namespace, job)
    inits = {c["name"]: c for c in created["spec"]["template"]["spec"]["initContainers"]}
    assert inits["forward"]["restartPolicy"] == "Always"
    assert "restartPolicy" not in inits["wait-for-graphite"]
