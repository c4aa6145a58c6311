"""A small InfluxDB 1.x HTTP client: queries and line-protocol writes, nothing else.

urllib only (no new dependency). Credentials go in a Basic Authorization header, never in the URL
(it would end up in logs). Every name or value that comes from outside (runner names come from
pods) enters InfluxQL through `quote_ident` or `quote_string`, never as raw text.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

from loadtest_monitor.identity import INFLUXDB_HTTP_PORT, ChildNames
from loadtest_monitor.settings import Settings

_ERROR_BODY_CHARS = 300


class InfluxError(Exception):
    """A query or write InfluxDB refused (its own message), or InfluxDB could not be reached."""


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes: `\\` and `"` escaped, a line break refused (the
    InfluxQL scanner ends an identifier there)."""
    if "\n" in name or "\r" in name:
        raise ValueError(f"an InfluxQL identifier cannot hold a line break: {name!r}")
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    """An InfluxQL string literal in single quotes, with the escapes its scanner reads back."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    if "\r" in escaped:
        raise ValueError(f"an InfluxQL string cannot hold a carriage return: {value!r}")
    return "'" + escaped + "'"


def any_tag_equals(tag: str, values: Iterable[str]) -> str:
    """`("tag" = 'a' OR "tag" = 'b')`: exact matches, no regular expression to escape."""
    terms = [f"{quote_ident(tag)} = {quote_string(v)}" for v in values]
    if not terms:
        raise ValueError(f"no values to match the tag {tag!r} against")
    return "(" + " OR ".join(terms) + ")"


def service_url(names: ChildNames, cluster_domain: str) -> str:
    """The monitor's InfluxDB HTTP endpoint inside the cluster."""
    return f"http://{names.service_fqdn(names.influxdb_service, cluster_domain)}:{INFLUXDB_HTTP_PORT}"


def endpoint(names: ChildNames, settings: Settings) -> str:
    """Where the operator reaches a monitor's InfluxDB: the Service inside the cluster, or
    LTM_INFLUXDB_URL (`{monitor}` and `{namespace}` filled in) for an operator running outside it."""
    if settings.influxdb_url:
        return settings.influxdb_url.format(monitor=names.monitor, namespace=names.namespace)
    return service_url(names, settings.cluster_domain)


class InfluxClient:
    def __init__(self, base_url: str, username: str, password: str, timeout_s: float = 10.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"InfluxDB URL {base_url!r}: expected http(s)://host:port")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._auth = f"Basic {token}"

    def query(self, database: str, q: str) -> list[dict[str, Any]]:
        """The series of the first statement of `q` ({name, tags, columns, values}); [] when it
        matched nothing. InfluxDB's error (HTTP or per statement) raises InfluxError."""
        body = self._post("query", {"db": database, "q": q, "epoch": "ms"}, None)
        try:
            data = json.loads(body)
        except ValueError:
            raise InfluxError(f"InfluxDB answered a query with something that is not JSON: {body[:120]!r}") from None
        if "error" in data:
            raise InfluxError(str(data["error"]))
        results = data.get("results") or []
        if not results:
            return []
        first = results[0]
        if "error" in first:
            raise InfluxError(str(first["error"]))
        series: list[dict[str, Any]] = first.get("series") or []
        return series

    def write_lines(self, database: str, lines: Iterable[str]) -> None:
        """Line protocol, one point a line (timestamps in nanoseconds, InfluxDB's default)."""
        text = "\n".join(line.rstrip("\n") for line in lines)
        if text:
            self._post("write", {"db": database}, text.encode("utf-8"))

    def _post(self, endpoint: str, params: dict[str, str], data: bytes | None) -> str:
        url = f"{self.base_url}/{endpoint}"
        if data is None:  # a query: its text in the form body, not in the URL
            payload = urllib.parse.urlencode(params).encode("utf-8")
            content_type = "application/x-www-form-urlencoded"
        else:
            url += "?" + urllib.parse.urlencode(params)
            payload, content_type = data, "text/plain; charset=utf-8"
        request = urllib.request.Request(url, data=payload, method="POST")
        request.add_header("Authorization", self._auth)
        request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return str(response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as err:
            with err:
                raise InfluxError(f"InfluxDB {endpoint}: HTTP {err.code}: {_message(err.read())}") from None
        except (OSError, ValueError) as err:
            raise InfluxError(f"InfluxDB at {self.base_url} unreachable: {err}") from None


def _message(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text[:_ERROR_BODY_CHARS].strip()
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return text[:_ERROR_BODY_CHARS].strip()
