"""The exercises of each lab, one module per TP. Their ids are fixed: notebooks call
``check("03-cgroups", "pids")`` and the grade files name them."""

from __future__ import annotations

from grader.exercises import capabilities, cgroups, namespaces, seccomp
from grader.exercises import unionfs
from grader.exercises import volumes
from grader.exercises import compose
from grader.exercises import network
from grader.exercises import dockerfile, image_secrets
from grader.exercises import monitoring
from grader.exercises import layers
from grader.exercises import administration
from grader.exercises import introduction
from grader.exercises import multistage
from grader.exercises import twelvefactor
from grader.model import Exercise

ALL: tuple[Exercise, ...] = (*namespaces.EXERCISES, *cgroups.EXERCISES,
                             *capabilities.EXERCISES, *seccomp.EXERCISES,
                             *unionfs.EXERCISES,
                             *volumes.EXERCISES,
                             *compose.EXERCISES,
                             *network.EXERCISES,
                             *dockerfile.EXERCISES, *image_secrets.EXERCISES,
                             *monitoring.EXERCISES,
                             *layers.EXERCISES,
                             *administration.EXERCISES,
                             *introduction.EXERCISES,
                             *multistage.EXERCISES,
                             *twelvefactor.EXERCISES)
