"""`loadtest-monitor forward`: Gatling 3.12+ simulation.log -> the Graphite lines Gatling 3.11 sent.

One module, one job: `textlog`/`binlog` decode the two log formats incrementally into `records`,
`histogram` and `aggregate` compute what Gatling 3.11.5's Graphite writer sent per write period,
`conf` reads the published gatling.conf, `sender` delivers lines with back-off and a bounded buffer,
`follow` finds and tails the run's log, `run` ties them together and `cli` registers the command.
"""
