"""The cgroup v1 driver: one module per controller (``cpu``, ``memory``...), and the manager."""

from pyker.cgroups.v1.manager import V1Manager as V1Manager
