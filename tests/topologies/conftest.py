"""Redis Cluster fixtures shared by the cluster test files (test_cluster.py,
test_cluster_sync.py, test_cluster_faults.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.topologies.cluster import Cluster


@pytest.fixture(scope="module")
def steady_cluster() -> Iterator[Cluster]:
    """A cluster no test fails over, shared by a module's tests."""
    cluster = Cluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A cluster of this test's own (a failover or a killed node changes it for good)."""
    cluster = Cluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()
