"""Helpers the tests share: server processes, a Ray cluster, loopback sites, small disks."""
