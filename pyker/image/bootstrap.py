"""``pyker bootstrap busybox|debian``: base images made here, from the host's Debian packages.

No Docker Hub: ``busybox:latest`` is Debian's static busybox with its applet links, and
``debian:bookworm`` is a ``debootstrap --variant=minbase`` tree. Each becomes a one-layer
image whose history reads like the official images' (an ``ADD file:… in /`` then a ``CMD``),
so ``pyker history`` teaches the same thing as ``docker history`` would. A second run finds
every tag present and does nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyker.errors import UsageError
from pyker.fs.atomic import temp_prefix
from pyker.fs.layer import write_layer
from pyker.image import reference, rootfs
from pyker.image.platform import host_architecture, host_variant
from pyker.image.store import Image, ImageStore, now_rfc3339
from pyker.spec.digest import hex_of
from pyker.spec.image import ContainerConfig, HistoryEntry, ImageConfig

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseImage:
    name: str
    tags: tuple[str, ...]
    cmd: tuple[str, ...]
    env: tuple[str, ...]
    package: str  # the Debian package the tree comes from, named in the history comment
    build: Callable[[Path, Progress], None]


def _busybox(dest: Path, progress: Progress) -> None:
    progress("copying Debian's static busybox and linking its applets")
    rootfs.busybox_rootfs(dest)


def _debian(dest: Path, progress: Progress) -> None:
    # Downloaded .debs are kept beside the store: a second bootstrap (a reset lab, a new
    # data root on the same machine) does not fetch them again.
    cache = dest.parent.parent.parent / "cache" / "debootstrap"
    cache.mkdir(parents=True, exist_ok=True)
    rootfs.debian_rootfs(dest, suite="bookworm", variant="minbase", progress=progress,
                         cache_dir=cache)


PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BASE_IMAGES = {
    "busybox": BaseImage(name="busybox", tags=("busybox:latest",), cmd=("sh",),
                         env=(PATH_ENV,), package="busybox-static", build=_busybox),
    "debian": BaseImage(name="debian", tags=("debian:bookworm", "debian:latest"),
                        cmd=("bash",), env=(PATH_ENV,), package="debootstrap",
                        build=_debian),
}


def _package_version(package: str) -> str:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def _missing_tags(store: ImageStore, base: BaseImage) -> list[str]:
    present = {t.familiar() for image in store.images() for t in image.tags}
    return [t for t in base.tags if t not in present]


def bootstrap(store: ImageStore, name: str, progress: Progress = print) -> Image | None:
    """Build the base image ``name``; None when all its tags exist already.

    Raises:
        UsageError: an unknown base image name.
        BootstrapError: the host lacks what the image is made from.
    """
    base = BASE_IMAGES.get(name)
    if base is None:
        raise UsageError(f'unknown base image "{name}": choose from {", ".join(BASE_IMAGES)}')
    store.create()
    if not _missing_tags(store, base):
        progress(f"{', '.join(base.tags)}: already present")
        return None
    work = Path(tempfile.mkdtemp(prefix=temp_prefix(), dir=store.tmp_dir))
    try:
        tree = work / "rootfs"
        tree.mkdir()
        base.build(tree, progress)
        progress("writing the layer")
        with open(work / "layer.tar", "wb") as out:
            write_layer(tree, out, root_is_upper=False, exclude=_runtime_mounts)
        shutil.rmtree(tree)
        progress("importing the layer into the store")
        return _commit(store, base, work / "layer.tar")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _commit(store: ImageStore, base: BaseImage, layer_tar: Path) -> Image:
    with store.locked(), open(layer_tar, "rb") as f:
        desc, layer = store.add_layer(f, name=f"bootstrap {base.name}")
        created = now_rfc3339()
        version = _package_version(base.package)
        history = (
            HistoryEntry(created=created,
                         created_by=f"/bin/sh -c #(nop) ADD file:{hex_of(layer.diff_id)} in / ",
                         comment=f"pyker bootstrap {base.name} ({base.package} {version})"),
            HistoryEntry(created=created, empty_layer=True,
                         created_by=f'/bin/sh -c #(nop)  CMD {_json_list(base.cmd)}'),
        )
        config = ImageConfig(
            architecture=host_architecture(), os="linux", variant=host_variant(),
            diff_ids=(layer.diff_id,), created=created, history=history,
            config=ContainerConfig(env=base.env, cmd=base.cmd))
        tags = [reference.parse_tagged(t) for t in base.tags]
        return store.commit(config, [desc], tags=tags)


def _runtime_mounts(path: str) -> bool:
    """Contents of /dev, /proc and /sys belong to the runtime's mounts, not to the image."""
    return path.startswith(("dev/", "proc/", "sys/"))


def _json_list(items: tuple[str, ...]) -> str:
    return "[" + ",".join(f'"{i}"' for i in items) + "]"
