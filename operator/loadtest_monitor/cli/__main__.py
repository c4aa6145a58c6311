"""`python -m loadtest_monitor.cli`: kubeconfigs written by `up --eks-cluster` run the CLI this way."""

import sys

from loadtest_monitor.cli.main import main

sys.exit(main())
