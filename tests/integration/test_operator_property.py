"""Property: generated specs, mostly hostile or careless, go through the CRD and the running
operator, in batches of monitors beside a healthy reference monitor in the same namespace.

Every spec is created as `kubectl create`/`apply` would (a POST with strict field validation):
- the API server refuses it, and its message names a path of the submitted document (the mutated
  path itself, or its parent object where a CEL rule sits, when the unmutated spec was accepted);
- or the operator answers it: a working monitor (ConfigPublished=True and its children exist), or
  Ready=False/InvalidSpec with a one-line message naming a spec field, no children and one Warning
  Event.
Across all of them the operator stays up without a traceback, and the reference monitor stays
Ready with the same children (uids and resourceVersions), none of which the operator wrote to.

The specs are the render property's strategy (`test_validation_property.specs`) plus mutations:
a wrong JSON type or an unknown field at a random path, huge strings, hostile baseConfigs, Service
annotations at the 256 KiB limit, and an adminSecretRef to the reference monitor's generated
Secret (a monitor may neither write nor mount it: it does not name the monitor in its opt-in).
"""

from __future__ import annotations

import copy
import itertools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykube
import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from loadtest_monitor.spec.monitor import SpecError, parse_spec
from tests.integration.operator_support import (
    CRD,
    Operator,
    children,
    condition,
    default_children,
    get_monitor,
    minimal,
    operator_writes,
    running_operator,
    wait_for,
    wait_ready,
)
from tests.integration.spec_strategies import BASE_CONFIGS, specs

BATCH = 20
BATCHES = 20  # generated batches; the explicit @example batch comes on top
MIN_EXAMPLES = 200
VERDICT_TIMEOUT = 120.0
REFERENCE = "reference"
GROUP_PATH = "/apis/loadtest.dev/v1alpha1"

# Objects whose keys are free (a new key is an entry there, not an unknown field).
FREE_KEYS = {"nodeSelector", "annotations", "requests", "limits"}
WRONG_VALUES: list[Any] = [42, -1, 2.5, True, "text", "", [], ["x"], {"x": 1}, None]
UNKNOWN_FIELDS = ["bogus", "replicas", "Image", "affinity", "grafanna", "enabled "]
HUGE = 70_000  # above every maxLength of the CRD (65536 is the largest)
# The whole word `include` in any form, deep nesting (the parser recurses), unresolved and optional
# substitutions, a list root, NUL, a value where an object must be, a near-limit document.
HOSTILE_BASE_CONFIGS = [
    *BASE_CONFIGS,
    'include "application.conf"',
    'gatling { include file("/etc/passwd") }',
    'INCLUDE required(classpath("gatling.conf"))',
    "# include in a comment only",
    "gatling.x = ${missing}",
    "gatling.data { writers = ${?WRITERS} }",
    "{" * 3000 + "}" * 3000,
    "[1, 2]",
    'gatling.x = "\u0000\u2603"',
    "gatling.data.graphite = 5",
    'gatling.custom = "' + "c" * 65_000 + '"',
    "gatling.x" + " = 1\n" * 499,
    "a = " + "{k=1}" * 13_000,  # issue 14: one 65 KB line that cost pyhocon 10-20 s of CPU
    'zz = "x\\n\\"\\"\\"\\ngatling.data.graphite.host = evil\\nyy = \\"\\"\\"y"',  # issue 14: closes triple quotes
]
# Service annotations just under the API server's 256 KiB with what the operator adds (NLB defaults),
# and just over it on the user's side alone.
NEAR_LIMIT_ANNOTATIONS = {f"a{i}": "v" * 65_500 for i in range(4)}
OVER_LIMIT_ANNOTATIONS = {f"a{i}": "v" * 65_536 for i in range(5)}


@dataclass(frozen=True)
class Case:
    """One generated monitor: a name shape, its spec, and the path a mutation changed (if any)."""

    name_shape: str
    spec: Any
    mutated: tuple[str | int, ...] | None
    base: Any  # the spec before the mutation

    def __repr__(self) -> str:
        # Hypothesis prints the failing batch: 20 specs with 65 kB strings would bury the error.
        return f"Case({self.name_shape!r}, {_short(self.spec)}, mutated={self.mutated!r})"


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _paths(value: Any, at: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*at, index))


def _get(doc: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _set(doc: Any, path: tuple[str | int, ...], value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _json_type(value: Any) -> str:
    return type(value).__name__ if value is not None else "null"


@st.composite
def cases(draw: st.DrawFn) -> Case:
    spec = draw(specs)
    how = draw(
        st.sampled_from(
            [
                *["as drawn", "as drawn", "wrong type", "wrong type", "unknown field", "huge string"],
                *["base config", "annotations", "secret ref"],
            ]
        )
    )
    mutant: Any = copy.deepcopy(spec)
    # (`specs` only draws objects for spec, its sections and grafana.service: setdefault is safe.)
    mutated: tuple[str | int, ...] | None = None
    if how == "wrong type":
        paths = list(_paths(spec))
        mutated = paths[draw(st.integers(0, len(paths) - 1))]
        old = _get(spec, mutated)
        new = draw(st.sampled_from([v for v in WRONG_VALUES if _json_type(v) != _json_type(old)]))
        mutant = _set(mutant, mutated, new)
    elif how == "unknown field":
        structs = [p for p in _paths(spec) if isinstance(_get(spec, p), dict) and (not p or p[-1] not in FREE_KEYS)]
        at = structs[draw(st.integers(0, len(structs) - 1))]
        field = draw(st.sampled_from(UNKNOWN_FIELDS))
        if field not in _get(spec, at):
            mutated = (*at, field)
            mutant = _set(mutant, mutated, draw(st.sampled_from(WRONG_VALUES)))
    elif how == "huge string":
        strings = [p for p in _paths(spec) if isinstance(_get(spec, p), str)]
        if strings:
            mutated = strings[draw(st.integers(0, len(strings) - 1))]
            mutant = _set(mutant, mutated, "h" * HUGE)
    elif how == "base config":
        mutated = ("gatling", "baseConfig")
        mutant.setdefault("gatling", {})["baseConfig"] = draw(st.sampled_from(HOSTILE_BASE_CONFIGS))
    elif how == "annotations":
        mutated = ("grafana", "service", "annotations")
        service = mutant.setdefault("grafana", {}).setdefault("service", {})
        service["annotations"] = draw(st.sampled_from([NEAR_LIMIT_ANNOTATIONS, OVER_LIMIT_ANNOTATIONS]))
    elif how == "secret ref":
        # The reference monitor's generated Secret has the default keys: a careless copy-paste works.
        mutated = ("grafana", "adminSecretRef")
        mutant.setdefault("grafana", {})["adminSecretRef"] = {"name": f"{REFERENCE}-grafana-admin"}
    shape = draw(st.sampled_from(["plain"] * 8 + ["longest", "too long", "capital", "digit", "newline"]))
    return Case(shape, mutant, mutated, spec)


def _name(shape: str, batch: int, index: int) -> str:
    plain = f"p{batch:02d}-{index:02d}"
    return {
        "plain": plain,
        "longest": plain + "-" + "x" * (54 - len(plain) - 1),
        "too long": plain + "-" + "x" * (55 - len(plain) - 1),
        "capital": plain.upper(),
        "digit": f"{batch:02d}p-{index:02d}",
        "newline": plain + "\n",
    }[shape]


def _renderings(path: tuple[str | int, ...], root: str) -> list[str]:
    """How a path of the document is written: `spec.a.b[0]`, with a map key as `.key` (the API
    server) or `['key']` (the operator, and any key with dots or spaces reads better so)."""
    out = [root]
    for step, previous in zip(path, (None, *path), strict=False):
        if isinstance(step, int):
            out = [f"{o}[{step}]" for o in out]
        elif previous in FREE_KEYS:
            out = [*(f"{o}.{step}" for o in out), *(f"{o}[{step!r}]" for o in out)]
        else:
            out = [f"{o}.{step}" for o in out]
    return out


def _named(path: str, message: str) -> bool:
    """`path` is in the message as a whole path: not a piece of a longer one, except a required
    field under it (`spec.x.name: Required value` names spec.x.name, a field the document lacks)."""
    after = r"(?=[:\"\s,\]]|$|\.[A-Za-z]+: Required value)"
    return re.search(r"(?<![\w.])" + re.escape(path) + after, message) is not None


def _names_a_field(
    message: str, doc: dict[str, Any], mutated: tuple[str | int, ...] | None, parent_ok: bool = True
) -> bool:
    """The message names a field of `doc`: the `mutated` spec path itself (or, with `parent_ok`,
    its parent object, where the API server's CEL rules sit) when given; else any field of it."""
    if mutated is not None:
        wanted = _renderings(mutated, "spec") + (_renderings(mutated[:-1], "spec") if parent_ok else [])
        return any(_named(c, message) or f"{c}[" in message for c in wanted)
    candidates: list[str] = []
    for root in ("metadata", "spec"):
        for path in _paths(doc.get(root)):
            if path or not isinstance(doc.get(root), dict):  # `spec` alone only when it is no object
                candidates += _renderings(path, root)
    return any(_named(c, message) for c in candidates)


def _problem_paths(message: str) -> list[str]:
    """`spec.a: text; spec.b['k']: text; and 2 more` -> the paths, in order."""
    step = r"\.[^.\[\]:; ]+|\[\d+\]|\['[^']*'\]|\[\"[^\"]*\"\]"
    return re.findall(rf"(?:^|; )(spec(?:{step})*): ", message)


def _spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    return dict(version["schema"]["openAPIV3Schema"]["properties"]["spec"])


SPEC_SCHEMA = _spec_schema()


def _in_schema(path: str) -> bool:
    """Is `spec.a.b[0]` (map keys as `.key` or `['key']`) a field the CRD defines? A problem may
    name a field the spec lacks (a limit that must be given), never one that does not exist."""
    node, rest = SPEC_SCHEMA, path.removeprefix("spec")
    while rest:
        if "additionalProperties" in node and "properties" not in node:  # a map: what follows is a key
            key = re.match(r"\['[^']*'\]|\[\"[^\"]*\"\]", rest)
            if key is None and not rest.startswith("."):
                return False
            # A dotted key may contain dots itself (example.com/gpu); map values are scalars here.
            rest = rest[key.end() :] if key else ""
            node = node["additionalProperties"] if isinstance(node["additionalProperties"], dict) else {}
            continue
        index = re.match(r"\[\d+\]", rest)
        field = re.match(r"\.([A-Za-z0-9]+)", rest)
        if index and "items" in node:
            node, rest = node["items"], rest[index.end() :]
        elif field and field.group(1) in node.get("properties", {}):
            node, rest = node["properties"][field.group(1)], rest[field.end() :]
        else:
            return False
    return True


def _each_problem_is_a_field(message: str) -> bool:
    """Every problem the operator lists (`path: text; path: text; and N more`) is at a spec field."""
    paths = _problem_paths(message)
    return bool(paths) and all(_in_schema(p) for p in paths)


class Run:
    """What the property needs between batches: clients, the namespace, counters."""

    def __init__(self, cluster: Any, api: pykube.HTTPClient, namespace: str) -> None:
        self.cluster = cluster
        self.api = api
        self.namespace = namespace
        self.batches = itertools.count()
        self.seen = {"refused by the API server": 0, "InvalidSpec": 0, "working": 0}
        self.reasons: dict[str, int] = {}

    def url(self, suffix: str = "") -> str:
        return f"{GROUP_PATH}/namespaces/{self.namespace}/loadtestmonitors{suffix}"

    def post(self, doc: dict[str, Any], dry_run: bool = False) -> tuple[int, str]:
        """Create as kubectl does (strict field validation): (HTTP status, the server's message)."""
        params = {"fieldValidation": "Strict", **({"dryRun": "All"} if dry_run else {})}
        response = self.api.session.post(self.api.url + self.url(), params=params, json=doc)
        message = "" if response.ok else str(response.json().get("message", response.text))
        return response.status_code, message

    def monitors(self) -> dict[str, dict[str, Any]]:
        items = self.api.session.get(self.api.url + self.url()).json()["items"]
        return {m["metadata"]["name"]: m for m in items}

    def children_by_monitor(self) -> dict[str, set[str]]:
        """Kind/name of our children in the namespace, by monitor: one LIST per kind."""
        found: dict[str, set[str]] = {}
        for kind, resource in [
            ("ConfigMap", "/api/v1/namespaces/{ns}/configmaps"),
            ("Secret", "/api/v1/namespaces/{ns}/secrets"),
            ("Service", "/api/v1/namespaces/{ns}/services"),
            ("Deployment", "/apis/apps/v1/namespaces/{ns}/deployments"),
            ("PersistentVolumeClaim", "/api/v1/namespaces/{ns}/persistentvolumeclaims"),
            ("NetworkPolicy", "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies"),
        ]:
            selector = "app.kubernetes.io/managed-by=loadtest-monitor"
            url = self.api.url + resource.format(ns=self.namespace)
            for obj in self.api.session.get(url, params={"labelSelector": selector}).json()["items"]:
                owner = obj["metadata"]["labels"].get("app.kubernetes.io/instance", "")
                found.setdefault(owner, set()).add(f"{kind}/{obj['metadata']['name']}")
        return found

    def warnings(self) -> dict[str, list[dict[str, Any]]]:
        url = self.api.url + f"/api/v1/namespaces/{self.namespace}/events"
        out: dict[str, list[dict[str, Any]]] = {}
        for event in self.api.session.get(url).json()["items"]:
            if event.get("type") == "Warning":
                out.setdefault(event["involvedObject"]["name"], []).append(event)
        return out


def _clean_for_the_operator(spec: Any) -> bool:
    """Would the operator's spec parser take this spec? (The differential oracle's baseline.)"""
    try:
        parse_spec(spec)
    except SpecError:
        return False
    return True


def _verdict(mon: dict[str, Any]) -> str | None:
    """The operator's answer for the monitor's current generation, None while there is none."""
    status = mon.get("status") or {}
    if status.get("observedGeneration") != mon["metadata"]["generation"]:
        return None
    ready = condition(mon, "Ready")
    if ready.get("reason") == "InvalidSpec":
        return "InvalidSpec"
    if condition(mon, "ConfigPublished").get("status") == "True" and ready.get("reason") not in (
        "ApplyFailed",
        "NameConflict",
    ):
        return "working"
    return None


def _expected_children(name: str, spec: dict[str, Any]) -> set[str]:
    wanted = default_children(name)
    ref = (spec.get("grafana") or {}).get("adminSecretRef")
    if ref is not None:
        wanted.discard(f"Secret/{name}-grafana-admin")  # the user's own Secret is used instead
    if ref is not None and ref.get("name") == f"{REFERENCE}-grafana-admin":
        # Another monitor's Secret, which does not opt in: never mounted (AdminSecretNotAllowed).
        wanted.discard(f"Deployment/{name}-grafana")
    return wanted


def _one_batch(run: Run, batch: list[Case]) -> None:
    number = next(run.batches)
    docs: dict[str, tuple[dict[str, Any], Case]] = {}
    for index, case in enumerate(batch):
        name = _name(case.name_shape, number, index)
        doc = {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor", "metadata": {"name": name}}
        doc["spec"] = case.spec
        code, message = run.post(doc)
        if code == 201:
            docs[name] = (doc, case)
            continue
        shown = f"{code} {message[:600]!r} for {name!r} {_short(case.spec)}"
        assert code in (400, 422), shown  # a refusal of the input, never a server error
        mutated = None
        if case.mutated is not None and case.name_shape in ("plain", "longest"):
            base = {**doc, "spec": case.base}
            if run.post(base, dry_run=True)[0] == 201:  # only the mutation can be what is wrong
                mutated = case.mutated
        assert _names_a_field(message, doc, mutated), f"no field (expected {mutated or 'any'}) named: {shown}"
        run.seen["refused by the API server"] += 1

    def answered() -> dict[str, dict[str, Any]] | None:
        live = run.monitors()
        done = {name: live[name] for name in docs if name in live and _verdict(live[name])}
        return done if len(done) == len(docs) else None

    try:
        answers = wait_for(answered, VERDICT_TIMEOUT, f"the operator's verdict on batch {number}", interval=1.0)
    except AssertionError:
        live = run.monitors()
        pending = {n: condition(live.get(n, {}), "Ready") for n in docs if not _verdict(live.get(n, {"metadata": {}}))}
        raise AssertionError(f"no verdict within {VERDICT_TIMEOUT:.0f} s for {len(pending)}: {pending}") from None

    found = run.children_by_monitor()
    warnings = run.warnings()
    for name, mon in answers.items():
        doc, case = docs[name]
        ready = condition(mon, "Ready")
        shown = f"{name}: {ready} for {_short(case.spec)}"
        run.reasons[ready["reason"]] = run.reasons.get(ready["reason"], 0) + 1
        verdict = _verdict(mon)
        if verdict == "InvalidSpec":
            message = ready["message"]
            assert ready["status"] == "False", shown
            assert "\n" not in message and len(message) <= 1024 and "Traceback" not in message, shown
            assert message.startswith("spec.") and _each_problem_is_a_field(message), shown
            if case.mutated is not None and _clean_for_the_operator(case.base):
                # Only the mutation can be what the operator refuses: it names that field (or its object).
                assert _names_a_field(message, {"spec": mon.get("spec")}, case.mutated, parent_ok=False), shown
            assert found.get(name, set()) == set(), f"{shown}: a refused spec created {found.get(name)}"
            mine = [e for e in warnings.get(name, []) if e["involvedObject"]["uid"] == mon["metadata"]["uid"]]
            assert [e["reason"] for e in mine] == ["InvalidSpec"], f"{shown}: Warning Events {mine}"
            assert _names_a_field(mine[0]["message"], {"spec": mon.get("spec")}, None), f"{shown}: {mine[0]}"
            run.seen["InvalidSpec"] += 1
        else:
            missing = _expected_children(name, mon["spec"]) - found.get(name, set())
            assert not missing, f"{shown}: children missing {sorted(missing)}"
            run.seen["working"] += 1

    for name in docs:
        url = run.api.url + run.url(f"/{name}")
        response = run.api.session.delete(url, json={"propagationPolicy": "Background"})
        assert response.status_code in (200, 202, 404), response.text


# The batch every run starts with: the targeted hostile cases, whatever generation draws.
EXPLICIT = [
    Case("plain", {"grafana": {"service": {"annotations": NEAR_LIMIT_ANNOTATIONS}}}, None, {}),
    Case("plain", {"grafana": {"service": {"annotations": OVER_LIMIT_ANNOTATIONS}}}, None, {}),
    Case("plain", {"grafana": {"adminSecretRef": {"name": f"{REFERENCE}-grafana-admin"}}}, None, {}),
    Case("plain", {"gatling": {"baseConfig": "{" * 3000 + "}" * 3000}}, None, {}),
    Case("plain", {"gatling": {"baseConfig": 'include url("http://169.254.169.254/")'}}, None, {}),
    Case("plain", {"graphite": {"allowedSourceRanges": ["10.1.2.3/8"]}}, None, {}),
    Case("plain", {"graphite": {"allowedSourceRanges": ["10.0.0.0/33"]}}, None, {}),
    Case("plain", {"bogus": 1}, ("bogus",), {}),
    Case("plain", {"gatling": {"writePeriod": "5"}}, ("gatling", "writePeriod"), {"gatling": {"writePeriod": 5}}),
    Case("plain", {}, None, {}),
]


@settings(
    max_examples=BATCHES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    # No shrinking: a batch takes seconds, and a failure already names the monitor and its spec.
    phases=(Phase.explicit, Phase.generate),
)
@example(batch=EXPLICIT)
@given(batch=st.lists(cases(), min_size=BATCH, max_size=BATCH))
def _property(run: Run, batch: list[Case]) -> None:
    _one_batch(run, batch)


@pytest.fixture(scope="module")
def operator(cluster: Any, crd: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with running_operator(cluster, tmp_path_factory.mktemp("operator")) as op:
        yield op


def _fingerprints(api: pykube.HTTPClient, namespace: str) -> dict[str, tuple[str, str]]:
    return {
        key: (obj["metadata"]["uid"], obj["metadata"]["resourceVersion"])
        for key, obj in children(api, namespace, REFERENCE).items()
    }


# cel-python raises the recursion limit once (for its parser); hypothesis notes that it cannot reset it.
@pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")
def test_generated_specs_through_the_crd_and_the_operator(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    created = Run(cluster, kube_api, namespace).post(minimal(REFERENCE))
    assert created[0] == 201, created
    # Under KWOK the InfluxDB bootstrap init container ends with exit 0 and no termination message;
    # while the operator read that as a failed bootstrap (InfluxDBUnavailable), this never passed.
    wait_ready(kube_api, namespace, REFERENCE)
    before = _fingerprints(kube_api, namespace)
    assert set(before) == default_children(REFERENCE), sorted(before)
    mark = cluster.audit_mark()

    run = Run(cluster, kube_api, namespace)
    started = time.monotonic()
    _property(run)
    elapsed = time.monotonic() - started

    assert operator.proc is not None and operator.proc.poll() is None, operator.log_tail()
    log = Path(operator.log_path).read_text(errors="replace")
    assert "Traceback" not in log, log[max(0, log.index("Traceback") - 2000) :][:6000]
    # Its children, its status, and Events about it (named `reference.<suffix>`): nothing at all.
    reference_objects = {REFERENCE} | {key.split("/", 1)[1] for key in default_children(REFERENCE)}
    touched = [
        w
        for w in operator_writes(cluster, mark, namespace)
        if w[2] in reference_objects or w[2].startswith(f"{REFERENCE}.")
    ]
    assert touched == [], f"the operator wrote to the reference monitor or its children: {touched}"
    assert _fingerprints(kube_api, namespace) == before
    assert condition(get_monitor(kube_api, namespace, REFERENCE), "Ready")["status"] == "True"
    total = sum(run.seen.values())
    # Every outcome exercised: the CRD now refuses more shapes itself (spec.archive), so the operator's
    # own InvalidSpec is the rarest; ten of each still shows every path ran.
    assert total >= MIN_EXAMPLES and all(count >= 10 for count in run.seen.values()), run.seen
    print(f"{total} specs in {elapsed:.0f} s: {run.seen}; Ready reasons of the answered ones: {run.reasons}")
