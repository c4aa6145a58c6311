"""Windows as Gatling 3.11.5's Graphite writer sent them: hand-computed cases, and Gatling's own
payloads of a real 3.11.5 run (Graphite writer on) compared with the same run's simulation.log."""

from __future__ import annotations

import bisect
import collections
import itertools
from pathlib import Path

import pytest

from loadtest_monitor.forward import histogram as hist
from loadtest_monitor.forward.aggregate import Aggregator, WindowSettings
from loadtest_monitor.forward.logformat import choose_decoder
from loadtest_monitor.forward.records import ErrorRecord, GroupRecord, RequestRecord, RunHeader, UserRecord
from loadtest_monitor.graphite import percentile_names, simulation_id_of_class
from loadtest_monitor.graphite import segment as sanitize
from tests.unit.forward_support import DATA, real_log

START = 1_700_000_000_400  # the run started 400 ms into an epoch second
ROOT = "gatling.runner-1.sim"
HEADER = RunHeader("binary", "3.15.1", "x.Sim", None, START, ("browse", "buy now"))


def aggregator(**settings: object) -> Aggregator:
    return Aggregator(WindowSettings(prefix="gatling.runner-1", simulation_id="sim", **settings), HEADER)  # type: ignore[arg-type]


def lines(payloads) -> list[dict[str, int]]:
    out = []
    for p in payloads:
        window = {}
        for line in p.data.decode().splitlines():
            path, value, epoch = line.split(" ")
            assert int(epoch) == p.epoch
            window[path.removeprefix(ROOT + ".")] = int(value)
        out.append(window)
    return out


def req(name: str, start: int, end: int, ok: bool = True, groups: tuple[str, ...] = ()) -> RequestRecord:
    return RequestRecord(groups, name, start, end, ok, "" if ok else "boom")


def test_four_responses_give_gatlings_statistics():
    agg = aggregator()
    agg.add([req("home", 100, 110), req("home", 200, 220), req("home", 300, 330), req("home", 400, 440)])
    (window,) = lines(agg.finish())
    # mean 25, stdDev sqrt(125) = 11.18 -> 11; p50 -> 2nd value, p75 -> 3rd, p95/p99 -> 4th.
    assert {k: v for k, v in window.items() if k.startswith("home.ok.")} == {
        "home.ok.count": 4, "home.ok.min": 10, "home.ok.max": 40, "home.ok.mean": 25, "home.ok.stdDev": 11,
        "home.ok.percentiles50": 20, "home.ok.percentiles75": 30, "home.ok.percentiles95": 40,
        "home.ok.percentiles99": 40,
    }
    assert window["home.ko.count"] == 0 and "home.ko.min" not in window
    assert window["home.all.count"] == 4 and window["allRequests.all.mean"] == 25


def test_times_above_255_ms_are_hdrhistogram_buckets():
    """2 significant digits: 1000 ms lies in the bucket 1000-1003 (median 1002); 0 ms counts as 1 ms."""
    agg = aggregator()
    agg.add([req("slow", -500, 500), req("fast", 50, 50)])
    (window,) = lines(agg.finish())
    slow = [window[f"slow.ok.{m}"] for m in ("min", "max", "mean", "stdDev", "percentiles50")]
    assert slow == [1000, 1003, 1002, 0, 1003]
    assert [window[f"fast.ok.{m}"] for m in ("min", "max", "mean", "percentiles99")] == [1, 1, 1, 1]
    assert hist.bucket_of(300) == hist.bucket_of(301) == 300
    assert hist.bucket_of(70_000) == 69_632  # 17 bits: 512 ms wide, 70000 >> 9 << 9


def test_windows_follow_the_log_time_and_are_stamped_with_their_end():
    agg = aggregator()
    agg.add([req("a", 0, 500), req("a", 900, 1200), req("a", 2500, 2999)])
    payloads = agg.finish()
    # Window k = [k, k+1) s after the run start; its stamp is the epoch second of its end.
    assert [p.epoch for p in payloads] == [(START + 1000) // 1000, (START + 2000) // 1000, (START + 3000) // 1000]
    counts = [w["a.all.count"] for w in lines(payloads)]
    assert counts == [1, 1, 1]


def test_a_window_without_responses_sends_count_0_only_after_the_first_response():
    agg = aggregator()
    agg.add([UserRecord("browse", True, 10), req("a", 1100, 1500), req("b", 3100, 3200, ok=False)])
    w0, w1, w2, w3 = lines(agg.finish())
    assert not any(k.startswith(("a.", "allRequests.")) for k in w0)
    assert w1["a.ok.count"] == 1 and "b.ok.count" not in w1
    assert {k: v for k, v in w2.items() if k.startswith(("a.", "allRequests."))} == {
        "a.ok.count": 0, "a.ko.count": 0, "a.all.count": 0,
        "allRequests.ok.count": 0, "allRequests.ko.count": 0, "allRequests.all.count": 0,
    }
    assert w3["b.ko.count"] == 1 and w3["b.ok.count"] == 0 and w3["a.all.count"] == 0


def test_users_active_counts_an_ending_user_once_more_and_done_is_cumulative():
    agg = aggregator()
    agg.add([
        UserRecord("browse", True, 100), UserRecord("browse", True, 200), UserRecord("buy now", True, 300),
        UserRecord("browse", False, 1500),  # ends in window 1: still active in window 1
        UserRecord("buy now", False, 2100), UserRecord("browse", False, 2200),
    ])
    windows = lines(agg.finish())
    active = [(w["users.browse.active"], w["users.buy_now.active"], w["users.allUsers.active"]) for w in windows]
    done = [(w["users.browse.done"], w["users.buy_now.done"], w["users.allUsers.done"]) for w in windows]
    assert active == [(2, 1, 3), (2, 1, 3), (1, 1, 2)]
    assert done == [(0, 0, 0), (1, 0, 1), (2, 1, 3)]
    # The injection profile's total is not in the log, so `waiting` is not sent at all.
    assert not any(k.endswith(".waiting") for w in windows for k in w)


def test_group_paths_are_sanitised_segments_and_groups_errors_are_not_sent():
    agg = aggregator()
    agg.add([
        req("pay now", 0, 10, groups=("shop.eu", "cart\\x")),
        GroupRecord(("shop.eu",), 0, 20, 10, True),
        ErrorRecord("crash", 5),
    ])
    (window,) = lines(agg.finish())
    assert window["shop-eu.cart-x.pay_now.ok.count"] == 1
    assert not any(k.startswith("shop-eu.ok") or "crash" in k for k in window)


def test_light_mode_keeps_users_and_all_requests():
    agg = aggregator(light=True)
    agg.add([req("a", 0, 10), UserRecord("browse", True, 1)])
    (window,) = lines(agg.finish())
    assert window["allRequests.ok.count"] == 1 and window["users.allUsers.active"] == 1
    assert not any(k.startswith("a.") for k in window)


def test_percentiles_come_from_the_configuration():
    agg = aggregator(percentiles=(10.0, 50.0, 90.0, 99.9))
    agg.add([req("a", 0, t) for t in range(1, 11)])
    (window,) = lines(agg.finish())
    names = ("percentiles10", "percentiles50", "percentiles90", "percentiles99-9")
    assert [window[f"a.ok.{n}"] for n in names] == [1, 5, 9, 10]
    assert percentile_names((99.9, 95.0)) == ("percentiles99-9", "percentiles95")


def test_a_late_record_resends_its_window_and_the_later_ones():
    agg = aggregator()
    agg.add([UserRecord("browse", True, 100), req("a", 0, 100), req("a", 1000, 1100), req("a", 2000, 2100)])
    first = agg.take(1)
    assert [p.window for p in first] == [0, 1] and not any(p.resend for p in first)
    agg.add([req("a", 500, 900, ok=False), UserRecord("browse", False, 800)])  # both belong to window 0
    again = agg.take(1)
    assert [(p.window, p.resend) for p in again] == [(0, True), (1, True)]
    w0, w1 = lines(again)
    assert w0["a.ko.count"] == 1 and w0["users.browse.done"] == 1 and w1["users.browse.active"] == 0
    assert [(p.window, p.resend) for p in agg.finish()] == [(2, False)]


def test_finished_log_equals_the_same_log_forwarded_live():
    """Whatever the order of arrival, the last value per series and timestamp is the same."""
    data = real_log("3.15.1")
    decoder = choose_decoder(data)
    assert decoder is not None
    records = decoder.feed(data)
    assert decoder.header is not None
    once = Aggregator(WindowSettings("gatling.r", "sim"), decoder.header)
    once.add(records)
    expected = _points(once.finish())
    live = Aggregator(WindowSettings("gatling.r", "sim"), decoder.header)
    sent = []
    for i in range(0, len(records), 13):
        live.add(records[i : i + 13])
        sent += live.take((live.watermark or 0) // 1000)  # eager: the current window goes out unfinished
    sent += live.finish()
    assert _points(sent) == expected
    assert any(p.resend for p in sent)


def _points(payloads) -> dict[tuple[str, int], int]:
    out = {}
    for p in payloads:
        for line in p.data.decode().splitlines():
            path, value, epoch = line.split(" ")
            out[(path, int(epoch))] = int(value)
    return out


def test_simulation_id_like_gatling():
    assert simulation_id_of_class("loadtestmonitor.e2e.DataPathSimulation") == "datapathsimulation"
    assert simulation_id_of_class("a.Outer$CaféSim") == "cafe-sim"
    assert sanitize("a b.c\\d") == "a_b-c-d"


def test_statistics_equal_gatling_3_11_5_graphite_payloads_of_the_same_run():
    """A real 3.11.5 run with its Graphite writer on (what it sent is in graphite-sent.txt, with the
    time it arrived): put each response of the run's own simulation.log in the payload Gatling
    flushed next after the response ended; wherever that gives Gatling's count, every statistic
    must be Gatling's (a response ending a few ms before a flush may reach the writer after it)."""
    fixture = DATA / "3.11.5"
    data = real_log("3.11.5")
    decoder = choose_decoder(data)
    assert decoder is not None
    records = decoder.feed(data)
    header = decoder.header
    assert header is not None
    sent: dict[float, dict[str, int]] = collections.defaultdict(dict)
    for line in Path(fixture / "graphite-sent.txt").read_text().splitlines():
        arrived, path, value, _epoch = line.split(" ")
        sent[float(arrived)][path] = int(value)
    flushes = sorted(sent)
    root = "gatling.gen.datapathsimulation"
    windows: dict[int, dict[str, tuple[dict[int, int], dict[int, int]]]] = collections.defaultdict(dict)
    for r in records:
        if isinstance(r, RequestRecord):
            index = bisect.bisect_left(flushes, (header.start_ms + r.end) / 1000)
            for path in (f"{root}.allRequests", ".".join([root, *map(sanitize, r.groups), sanitize(r.name)])):
                pair = windows[index].setdefault(path, ({}, {}))
                hist.record(pair[0 if r.ok else 1], r.end - r.start)
    names = ("count", "min", "max", "mean", "stdDev", *percentile_names((50.0, 75.0, 95.0, 99.0)))
    compared = 0
    totals_ours: collections.Counter[str] = collections.Counter()
    for index, paths in windows.items():
        for path, (ok, ko) in paths.items():
            for status, counts in (("ok", ok), ("ko", ko), ("all", hist.merged(ok, ko))):
                m = hist.metrics(counts, (50.0, 75.0, 95.0, 99.0))
                if m is None:
                    continue
                totals_ours[f"{path}.{status}"] += m.count
                theirs = {n: sent[flushes[index]].get(f"{path}.{status}.{n}") for n in names}
                if theirs["count"] == m.count:
                    compared += 1
                    values = (m.count, m.min, m.max, m.mean, m.std_dev, *m.percentiles)
                    assert dict(zip(names, values, strict=True)) == theirs
    assert compared >= 30
    totals_theirs: collections.Counter[str] = collections.Counter()
    for payload in sent.values():
        for path, count in payload.items():
            if path.endswith(".count"):
                totals_theirs[path.removesuffix(".count")] += count
    assert {k: v for k, v in totals_theirs.items() if v} == +totals_ours


@pytest.mark.parametrize("period", [1, 5])
def test_epochs_are_distinct_and_one_period_apart(period):
    agg = Aggregator(WindowSettings("p", "s", write_period_ms=period * 1000), HEADER)
    agg.add([req("a", 0, t) for t in range(0, 20_000, 700)])
    epochs = [p.epoch for p in agg.finish()]
    assert all(b - a == period for a, b in itertools.pairwise(epochs))


def test_memory_bound_keeps_the_newest_windows_and_folds_older_late_records(monkeypatch):
    monkeypatch.setattr("loadtest_monitor.forward.aggregate.MAX_HISTOGRAM_ENTRIES", 50)
    agg = aggregator()
    for second in range(20):  # 30 distinct response times per window
        agg.add([req("a", second * 1000, second * 1000 + 100 + t) for t in range(30)])
    sent = agg.take(18)
    assert len(sent) == 19
    agg.add([req("a", 0, 500, ok=False)])  # window 0 is long forgotten: counted in the oldest kept one
    assert agg.folded_late == 1
    resent = agg.take(18)
    # The 5 newest sent windows were kept (MIN_KEPT_WINDOWS); the oldest of them took the record.
    assert [(p.window, p.resend) for p in resent] == [(w, True) for w in range(14, 19)]
    assert lines(resent)[0]["a.ko.count"] == 1
