"""Helpers shared by this layer's tests."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

NS = "perf"


@dataclass(frozen=True)
class Pod:
    """A pod as a NetworkPolicy sees it; `ip` also stands for an address outside the cluster
    (then `labels` is None: no pod or namespace selector can match it)."""

    ip: str
    namespace: str = NS
    labels: dict[str, str] | None = field(default_factory=dict)


def _pods(objects: list[dict[str, Any]]) -> dict[str, Pod]:
    """The pods the rendered Deployments make, by Deployment name, each with its own address."""
    out = {}
    for i, obj in enumerate(o for o in objects if o["kind"] == "Deployment"):
        labels = obj["spec"]["template"]["metadata"]["labels"]
        out[obj["metadata"]["name"]] = Pod(f"10.0.0.{i + 10}", obj["metadata"]["namespace"], dict(labels))
    return out


def allowed(policies: list[dict[str, Any]], src: Pod, dst: Pod, port: int, proto: str = "TCP") -> bool:
    """Whether src may open (port, proto) on dst: src's egress and dst's ingress both allow it."""

    def side(pod: Pod, direction: str, other: Pod) -> bool:
        if pod.labels is None:
            return True  # not a pod: no policy governs it
        rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        selecting = [
            p
            for p in policies
            if p["metadata"]["namespace"] == pod.namespace
            and _selects(p["spec"]["podSelector"], pod.labels)
            and direction in p["spec"]["policyTypes"]
        ]
        if not selecting:
            return True  # not isolated in this direction
        return any(
            _rule_allows(rule, peers_key, p["metadata"]["namespace"], other, port, proto)
            for p in selecting
            for rule in p["spec"].get(rules_key) or []
        )

    return side(src, "Egress", dst) and side(dst, "Ingress", src)


def _policies(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "NetworkPolicy"]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "the evaluator knows matchLabels only"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _rule_allows(rule: dict[str, Any], peers_key: str, policy_ns: str, other: Pod, port: int, proto: str) -> bool:
    ports = rule.get("ports")
    if ports is not None and not any(p.get("port") == port and p.get("protocol", "TCP") == proto for p in ports):
        return False
    peers = rule.get(peers_key)
    return peers is None or any(_peer_matches(peer, policy_ns, other) for peer in peers)


def _peer_matches(peer: dict[str, Any], policy_ns: str, other: Pod) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        excepted = any(address in ipaddress.ip_network(c) for c in block.get("except", ()))
        return address in ipaddress.ip_network(block["cidr"]) and not excepted
    if other.labels is None:
        return False  # pod and namespace selectors match pods only
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": other.namespace}
        if not _selects(peer["namespaceSelector"], ns_labels):
            return False
    elif other.namespace != policy_ns:
        return False  # a podSelector alone means the policy's own namespace
    return _selects(peer.get("podSelector", {}), other.labels)
