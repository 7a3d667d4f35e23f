"""The exercises of each lab, one module per TP. Their ids are fixed: notebooks call
``check("03-cgroups", "pids")`` and the grade files name them."""

from __future__ import annotations

from grader.exercises import capabilities, cgroups, namespaces, seccomp
from grader.exercises import unionfs
from grader.exercises import volumes
from grader.exercises import network
from grader.model import Exercise

ALL: tuple[Exercise, ...] = (*namespaces.EXERCISES, *cgroups.EXERCISES,
                             *capabilities.EXERCISES, *seccomp.EXERCISES,
                             *unionfs.EXERCISES,
                             *volumes.EXERCISES,
                             *network.EXERCISES)
