"""Benchmark suite: tandemq against its peers on one Redis, one machine, one run."""
