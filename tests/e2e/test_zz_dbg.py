import sys
sys.path.insert(0, "tests/e2e")
def test_dbg(two_runner_run):
    r = two_runner_run
    for row in r.influxd.rows(f'SELECT "count" FROM "gatling" WHERE {r.time_filter} AND request=\'allRequests\' AND status=\'all\' GROUP BY "runner"', r.db):
        print(row["time"], row["runner"], row["count"])
    for k, v in r.results.items(): print(k, v.all_requests.total, v.run_dir)
    print(r.influxd.graphite_stats())
    print(r.started, r.finished)
