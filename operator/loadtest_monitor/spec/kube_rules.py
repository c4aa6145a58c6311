"""Kubernetes' own rules for names, keys, quantities and CIDRs, so the operator refuses what the API
server would refuse when it applies the children, with a sentence a user can act on.

Each function returns None for a valid value, or a short reason. The rules follow
k8s.io/apimachinery's validation (IsQualifiedName, IsDNS1123Subdomain, IsConfigMapKey,
resource.ParseQuantity) and the core API's checks of resource names and tolerations. Every
pattern is matched with `fullmatch`: Python's `$` also matches before a trailing newline, which
the API server's regular expressions (RE2) do not.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
LABEL_VALUE_MAX = 63
QUALIFIED_NAME_MAX = 63
SECRET_KEY_MAX = 253
#: The API server's limit for all annotations of one object (keys and values together).
ANNOTATIONS_MAX_BYTES = 256 * 1024

# The CRD states the name grammars below for its own fields; tests/unit/test_crd.py checks it
# states exactly these.
DNS1123_LABEL_PATTERN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_PATTERN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
CONFIG_KEY_PATTERN = r"[-._a-zA-Z0-9]+"
_DNS1123_LABEL = re.compile(DNS1123_LABEL_PATTERN)
_DNS1123_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN_PATTERN)
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_CONFIG_KEY = re.compile(CONFIG_KEY_PATTERN)
# resource.ParseQuantity's grammar for the values a resource list may hold (no sign: they are >= 0).
QUANTITY_PATTERN = r"\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|[eE][-+]?[0-9]+)?"
_QUANTITY = re.compile(QUANTITY_PATTERN)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1)}
_DECIMAL |= {"k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12")}
_DECIMAL |= {"P": Decimal("1e15"), "E": Decimal("1e18")}
_CIDR_PREFIX = re.compile(r"(0|[1-9][0-9]{0,2})")

TOLERATION_OPERATORS = ("Exists", "Equal")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
# Resources whose quantity must be a whole number (everything but these and hugepages is countable).
_FRACTIONAL_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def dns1123_label(value: str) -> str | None:
    if len(value) > DNS1123_LABEL_MAX:
        return f"is longer than {DNS1123_LABEL_MAX} characters"
    if not _DNS1123_LABEL.fullmatch(value):
        return "must be lowercase letters, digits and '-', starting and ending with a letter or digit"
    return None


def dns1123_subdomain(value: str) -> str | None:
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        return f"is longer than {DNS1123_SUBDOMAIN_MAX} characters"
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        return "must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
    return None


def qualified_name(value: str) -> str | None:
    """A label key or annotation key: an optional DNS subdomain prefix and '/', then a name."""
    prefix, slash, name = value.rpartition("/")
    if slash:
        if not prefix:
            return "has an empty prefix before '/'"
        problem = dns1123_subdomain(prefix)
        if problem:
            return f"has a prefix that {problem}"
    if not name:
        return "has no name"
    if len(name) > QUALIFIED_NAME_MAX:
        return f"has a name part longer than {QUALIFIED_NAME_MAX} characters"
    if not _QUALIFIED_NAME.fullmatch(name):
        return "must be letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
    return None


def label_value(value: str) -> str | None:
    if len(value) > LABEL_VALUE_MAX:
        return f"is longer than {LABEL_VALUE_MAX} characters"
    if not _LABEL_VALUE.fullmatch(value):
        return "must be empty or letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
    return None


def secret_key(value: str) -> str | None:
    """A Secret or ConfigMap data key."""
    if len(value) > SECRET_KEY_MAX:
        return f"is longer than {SECRET_KEY_MAX} characters"
    if value in (".", "..") or value.startswith(".."):
        return "must not be '.' or '..' or start with '..'"
    if not _CONFIG_KEY.fullmatch(value):
        return "must be letters, digits, '-', '_' and '.'"
    return None


def parse_quantity(value: Any) -> Decimal | None:
    """The value of a Kubernetes quantity ("1000m" -> 1, "1Gi" -> 1073741824, 2 -> 2), or None when
    it is not one. The one quantity parser: the spec's checks and the drift comparison of live
    objects (whose quantities the API server has canonicalised) both use it."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    if not _QUANTITY.fullmatch(text):
        return None
    match = re.fullmatch(r"\+?([0-9.]+)(.*)", text)
    if match is None:
        return None
    number, suffix = match.groups()
    try:
        amount = Decimal(number if not number.endswith(".") else number + "0")
        if suffix in _BINARY:
            return amount * _BINARY[suffix]
        if suffix in _DECIMAL:
            return amount * _DECIMAL[suffix]
        return amount.scaleb(int(suffix[1:]))
    except (InvalidOperation, ValueError, OverflowError):
        return None


def quantity(value: Any) -> tuple[str | None, str | None]:
    """(canonical text, problem): a quantity given as a string or a whole number."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        kind = "a decimal number" if isinstance(value, float) else type(value).__name__
        return None, f"is {kind}; write a quantity as a string such as '500m' or '1Gi'"
    text = str(value)
    if parse_quantity(text) is None:
        return None, f"{text!r} is not a quantity such as 500m, 1.5, 1Gi or 1e3"
    return text, None


def resource_name(name: str) -> str | None:
    """cpu, memory, ephemeral-storage, hugepages-<size>, or an extended resource domain/name."""
    if name in STANDARD_RESOURCES:
        return None
    if name.startswith("hugepages-"):
        return None if parse_quantity(name[len("hugepages-") :]) else "has no valid page size after hugepages-"
    if "/" not in name:
        return "is not cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource such as example.com/gpu"
    problem = qualified_name(name)
    if problem:
        return problem
    if "kubernetes.io/" in name:
        return "uses a prefix Kubernetes reserves; extended resources need your own domain"
    return None


def resource_quantity_problem(name: str, amount: Decimal) -> str | None:
    if amount < 0:
        return "must not be negative"
    if name not in _FRACTIONAL_RESOURCES and not name.startswith("hugepages-") and amount != amount.to_integral():
        return "must be a whole number for an extended resource"
    return None


def cidr(value: str) -> str | None:
    """An IPv4 or IPv6 network as the API server parses it: address/prefix, no host bits set."""
    address, slash, prefix = value.partition("/")
    if not slash or not _CIDR_PREFIX.fullmatch(prefix) or "%" in address:
        return f"{value!r} is not a CIDR such as 10.0.0.0/16"
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{value!r} is not a CIDR such as 10.0.0.0/16"
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped is not None:
        return f"{value!r} is an IPv4-mapped IPv6 network; write the IPv4 form"
    if network.network_address != ipaddress.ip_address(address):
        return f"{value!r} has host bits set; write {network}"
    return None


def toleration(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(sub-field, problem) pairs for one toleration, as the core API validates it."""
    problems: list[tuple[str, str]] = []
    known = {"key", "operator", "value", "effect", "tolerationSeconds"}
    for extra in sorted(set(raw) - known):
        problems.append((str(extra), "is not a toleration field (key, operator, value, effect, tolerationSeconds)"))
    for name in ("key", "operator", "value", "effect"):
        if raw.get(name) is not None and not isinstance(raw.get(name), str):
            problems.append((name, "must be a string"))
    if problems:
        return problems
    key = raw.get("key") or ""
    operator = raw.get("operator") or "Equal"
    value = raw.get("value") or ""
    effect = raw.get("effect") or ""
    if key:
        problem = qualified_name(key)
        if problem:
            problems.append(("key", f"{key!r} {problem}"))
    if operator not in TOLERATION_OPERATORS:
        problems.append(("operator", f"must be Exists or Equal, got {operator!r}"))
    elif operator == "Exists" and value:
        problems.append(("value", "must be empty when operator is Exists"))
    elif operator == "Equal":
        if not key:
            problems.append(("operator", "must be Exists when key is empty (it then tolerates every taint)"))
        problem = label_value(value)
        if problem:
            problems.append(("value", f"{value!r} {problem}"))
    if effect and effect not in TAINT_EFFECTS:
        problems.append(("effect", f"must be one of {', '.join(TAINT_EFFECTS)}, got {effect!r}"))
    seconds = raw.get("tolerationSeconds")
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            problems.append(("tolerationSeconds", "must be a whole number of seconds"))
        elif effect != "NoExecute":
            problems.append(("tolerationSeconds", "only applies with effect NoExecute"))
    return problems
