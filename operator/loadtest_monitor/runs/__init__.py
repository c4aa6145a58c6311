"""Test runs (LoadtestRun): the results across all runners and the verdict on them."""
