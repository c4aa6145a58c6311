# loadtest-monitor developer entry points. `make demo` and `make test` are the README's two commands.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

# tools: Helm v3, kustomize and actionlint for the packaging tests, built from the Go module proxy into the cache.
.PHONY: registry tools install control-plane floor-apiserver e2e-deps influxdb images images-test lint test unit packaging integration e2e demo cluster cluster-down render bench bench-operator bench-forward bench-freshness clean

install: $(VENV)/.installed

# The operator with its dev extra, and the development harness (hack/harness: ltm_harness, ltm-cluster),
# a distribution of its own so that it never ships in the operator's wheel or image.
$(VENV)/.installed: pyproject.toml constraints.txt hack/harness/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[dev]' -e hack/harness
	touch $@

# Kubernetes binaries, etcd and KWOK, built from the Go module proxy into a cache outside the repo.
control-plane:
	bash hack/build-control-plane.sh

tools:
	bash hack/build-tools.sh

# `runner-image build|push` tests: Debian's podman, and a real OCI registry (CNCF Distribution)
# built from the Go module proxy into the cache.
registry:
	bash hack/install-podman.sh
	bash hack/build-registry.sh

# kube-apiserver + etcd of the oldest Kubernetes the docs state, for the CRD floor test.
floor-apiserver:
	bash hack/build-apiserver.sh

# A real InfluxDB 1.x (Debian) and Gatling's Maven artifacts for the end-to-end data path.
e2e-deps:
	bash hack/install-e2e-deps.sh

# InfluxDB 1.13.2 (the default image's version) built from the Go module proxy into the cache.
influxdb:
	bash hack/build-influxdb.sh

# The images of hack/images.sh (operator; Gatling runner at 3.15.1 and, as gatling-runner-legacy,
# at 3.11.5), built with podman from the unchanged Dockerfiles on
# Debian stand-ins of their base images (podman, runc and the stand-ins are set up by the script).
images:
	bash hack/build-images.sh

lint: install
	$(VENV)/bin/ruff check operator tests hack bench
	$(VENV)/bin/hadolint docker/*/Dockerfile
	$(VENV)/bin/mypy

# Pure tests of the operator's code (its CLI as a subprocess at most): no cluster, no built tools.
unit: install
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

# The kustomize base, the Helm chart, the Dockerfiles (hadolint) and `runner-image build|push`.
packaging: install tools registry
	$(VENV)/bin/pytest tests/packaging $(PYTEST_ARGS)

integration: install control-plane floor-apiserver
	$(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

e2e: install e2e-deps influxdb
	$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

images-test: install control-plane e2e-deps influxdb images
	$(VENV)/bin/pytest tests/images $(PYTEST_ARGS)

# Everything CI runs: static checks, then unit, packaging, integration (real control plane), e2e and image tests.
test: install tools registry control-plane floor-apiserver e2e-deps influxdb images lint
	$(VENV)/bin/pytest tests $(PYTEST_ARGS)

demo: install control-plane
	$(PY) hack/demo.py

cluster: install control-plane
	$(VENV)/bin/ltm-cluster up

# Stops the demo's operator too, if one runs.
cluster-down: install
	$(PY) hack/demo.py down

render: install
	$(VENV)/bin/loadtest-monitor render -f manifests/examples/monitor.yaml

bench: install e2e-deps
	$(PY) -m bench.ingest_bench

bench-freshness: install e2e-deps
	$(PY) -m bench.freshness_bench

bench-operator: install control-plane
	$(PY) -m bench.operator_bench

# `loadtest-monitor forward`: records decoded+aggregated per second per log format, CPU/RSS at 2,000 req/s.
bench-forward: install
	$(PY) -m bench.forward_bench

clean:
	rm -rf $(VENV) .cluster
