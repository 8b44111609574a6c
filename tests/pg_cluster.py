"""A private PostgreSQL server for outage tests (the one implementation lives with the
benchmarks, which stop a server too)."""

from benchmarks._pg_cluster import Cluster, cluster_problem

__all__ = ["Cluster", "cluster_problem"]
