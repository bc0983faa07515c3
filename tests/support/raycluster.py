"""A real two-node Ray cluster on this machine, started once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.serverproc import REPO

LOOPBACK = "127.0.0.2"


def add_node(cluster: Any) -> Any:
    """One more node of the standard size; returns it (cluster.remove_node takes it)."""
    return cluster.add_node(num_cpus=3, node_ip_address=LOOPBACK)


@contextmanager
def two_node_cluster() -> Iterator[Any]:
    """Head and one more node, three logical CPUs each, on loopback; shut down after the block.

    Three servers' actors (one CPU each, two per server) fit at once, spread over both nodes.

    127.0.0.2, not 127.0.0.1: Ray rewrites 127.0.0.1 in an address to the machine's
    network address, where this loopback-only cluster does not listen.
    """
    from ray.cluster_utils import Cluster

    # Actors import our code from this checkout, whatever the venv's editable install says.
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(REPO)
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 3, "include_dashboard": False, "node_ip_address": LOOPBACK},
    )
    try:
        add_node(cluster)
        yield cluster
    finally:
        cluster.shutdown()
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous
