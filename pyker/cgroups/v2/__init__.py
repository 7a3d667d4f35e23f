"""The cgroup v2 driver: one module per controller, the eBPF device filter, and the manager."""

from pyker.cgroups.v2.manager import V2Manager as V2Manager
