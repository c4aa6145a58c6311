"""`loadtest-monitor forward`: Gatling 3.12+ simulation.log -> the Graphite lines Gatling 3.11 sent.

One module, one job: `logformat` picks the decoder, `textlog` (3.12 and older) and `binlog`
(3.13-3.15) decode incrementally into `records`; `histogram` and `aggregate` compute what Gatling
3.11.5's Graphite writer sent per write period (paths, names and the runner segment come from the
Graphite contract, `loadtest_monitor.graphite`); `conf` reads the published gatling.conf; `sender`
delivers lines with back-off and a bounded buffer; `follow` finds and tails the run's log; `run` is
the loop and `cli` registers the command.
"""
