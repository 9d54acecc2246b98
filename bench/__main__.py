"""`python -m bench [--quick]` runs the benchmarks (see bench/README.md)."""

import sys

from bench.run import main

sys.exit(main())
