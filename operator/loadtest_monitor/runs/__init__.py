"""Test runs (LoadtestRun): the results across all runners and the verdict on them.

The data path, in order (the controller calls them; every module but influx.py is pure or reads only):
    influx.InfluxClient(influx.endpoint(names, settings), user, password)   the monitor's InfluxDB
    results.freshness(client, db, runners)         is data flowing from each runner (live points)
    results.collect(client, db, runners, since_ms)  each runner's whole-run summary -> RunnerData
    stats.compute(runner_data)                      merged histograms -> RunResults
    verdict.judge(runners, runner_data, pod_outcomes, results, criteria, baselines) -> Verdict
"""
