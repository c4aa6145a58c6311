"""Gatling's own report numbers for a run folder, for every Gatling version the tests run.

- 3.11, 3.12: js/stats.json (the same tree the 3.11 data-path tests read);
- 3.13:       js/stats.js, a JavaScript literal `var stats = {...}` (no JSON file any more);
- 3.14, 3.15: only the statistics table of index.html (rows `<tr id=... data-parent=...>`,
              columns col-2/3/4 = total/OK/KO).
Each reader yields the same GatlingResults (requests with their group path, and the total).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from ltm_harness.gatling_run import GatlingResults, RequestStats, _stats, _walk


def load_report(run_dir: Path, runner: str) -> GatlingResults:
    js = run_dir / "js"
    if (js / "stats.json").is_file():
        data = json.loads((js / "stats.json").read_text())
        return GatlingResults(runner, run_dir, _stats((), "allRequests", data["stats"]), list(_walk(data, ())))
    stats_js = (js / "stats.js").read_text() if (js / "stats.js").is_file() else ""
    if stats_js.startswith("var stats = {"):
        return _from_stats_js(stats_js, run_dir, runner)
    return _from_index_html((run_dir / "index.html").read_text(), run_dir, runner)


_JS_NODE = re.compile(
    r'type: "(?P<type>GROUP|REQUEST)",\s*name: "(?P<name>(?:[^"\\]|\\.)*)",\s*path: "(?P<path>(?:[^"\\]|\\.)*)",'
    r'.*?"numberOfRequests": \{\s*"total": "(?P<total>\d+)",\s*"ok": "(?P<ok>\d+)",\s*"ko": "(?P<ko>\d+)"',
    re.DOTALL,
)


def _from_stats_js(text: str, run_dir: Path, runner: str) -> GatlingResults:
    all_requests: RequestStats | None = None
    requests = []
    for m in _JS_NODE.finditer(text):
        counts = {"total": int(m["total"]), "ok": int(m["ok"]), "ko": int(m["ko"])}
        if all_requests is None:  # the first node is the root ("All Requests")
            all_requests = RequestStats((), "allRequests", counts["total"], counts["ok"], counts["ko"], {})
        elif m["type"] == "REQUEST":
            *groups, _request = json.loads(f'"{m["path"]}"').split(" / ")
            name = json.loads(f'"{m["name"]}"')
            requests.append(RequestStats(tuple(groups), name, counts["total"], counts["ok"], counts["ko"], {}))
    if all_requests is None:
        raise RuntimeError(f"{run_dir}/js/stats.js: no statistics found")
    return GatlingResults(runner, run_dir, all_requests, requests)


class _StatsTable(HTMLParser):
    """Rows of index.html's statistics table: id, parent id, name, total, ok, ko."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, dict[str, object]] = {}
        self._row: dict[str, object] | None = None
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        row_id = a.get("id") or ""
        if tag == "tr" and (row_id == "ROOT" or row_id.startswith(("req_", "group_"))):
            self._row = {"id": row_id, "parent": a.get("data-parent"), "name": ""}
            self.rows[row_id] = self._row
        elif self._row is not None and tag == "span" and "ellipsed-name" in (a.get("class") or ""):
            self._field = "name"
        elif self._row is not None and tag == "td":
            cls = (a.get("class") or "").split()
            for col, key in (("col-2", "total"), ("col-3", "ok"), ("col-4", "ko")):
                if col in cls:
                    self._field = key

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "span"):
            self._field = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._field is not None and data.strip():
            value = data.strip()
            self._row[self._field] = value if self._field == "name" else int(value.replace(",", ""))


def _from_index_html(text: str, run_dir: Path, runner: str) -> GatlingResults:
    table = _StatsTable()
    table.feed(text)
    rows = table.rows
    if "ROOT" not in rows:
        raise RuntimeError(f"{run_dir}/index.html: no statistics table")

    def groups_of(row: dict[str, object]) -> tuple[str, ...]:
        chain: list[str] = []
        parent = row["parent"]
        while parent and parent != "ROOT":
            chain.append(str(rows[str(parent)]["name"]))
            parent = rows[str(parent)]["parent"]
        return tuple(reversed(chain))

    def counts(row: dict[str, object]) -> tuple[int, int, int]:
        return int(row["total"]), int(row["ok"]), int(row["ko"])  # type: ignore[call-overload]

    root = rows["ROOT"]
    requests = [
        RequestStats(groups_of(r), str(r["name"]), *counts(r), {})
        for r in rows.values() if str(r["id"]).startswith("req_")
    ]
    return GatlingResults(runner, run_dir, RequestStats((), "allRequests", *counts(root), {}), requests)
