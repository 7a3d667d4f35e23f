"""Where a container's and a volume's bytes are, as inspect and system df tell it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.requires("root", "overlay", "busybox")


def test_container_graphdriver_names_the_image_layers_as_overlay_stacks_them(pk):
    pk("create", "--name", "gd", "--network", "none", "busybox", "true")
    try:
        data = json.loads(pk.out("inspect", "gd"))[0]["GraphDriver"]["Data"]
        image = json.loads(pk.out("image", "inspect", "busybox"))[0]
        lowers = data["LowerDir"].split(":")
        assert len(lowers) == len(image["RootFS"]["Layers"])
        assert all(Path(p).is_dir() for p in lowers)
        assert {"MergedDir", "UpperDir", "WorkDir"} <= data.keys()
    finally:
        pk("rm", "gd")


def rows(pk) -> dict[str, list[str]]:
    out = pk.out("system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}")
    return {line.split("|")[0]: line.split("|")[1:] for line in out.splitlines()}


def test_system_df_counts_volumes_and_their_bytes(pk):
    before = rows(pk)["Local Volumes"]
    pk("run", "--rm", "--network", "none", "-v", "df-vol:/data", "busybox",
       "sh", "-c", "head -c 3000000 /dev/zero > /data/f")
    pk("create", "--name", "df-user", "--network", "none", "-v", "df-used:/d", "busybox", "true")
    try:
        total, active, size = rows(pk)["Local Volumes"]
        assert int(total) == int(before[0]) + 2
        assert int(active) == int(before[1]) + 1   # df-used, by a created container
        assert size.endswith("MB") and float(size[:-2]) >= 3.0
    finally:
        pk("rm", "-v", "df-user")
        pk("volume", "rm", "df-vol", "df-used")
