"""``pyker import``: a root filesystem tarball becomes a one-layer image.

As ``docker import``: the tar (plain or gzip, from a file or stdin) is the image's only layer,
the config is empty but for what ``--change`` set (applied by the caller, which owns the
Dockerfile syntax), and the history says where it came
from (``Imported from -`` for stdin) unless ``--message`` says otherwise.
"""

from __future__ import annotations

from typing import BinaryIO

from pyker.image.platform import host_architecture, host_variant
from pyker.image.reference import Reference
from pyker.image.store import Image, ImageStore, now_rfc3339
from pyker.spec.image import ContainerConfig, HistoryEntry, ImageConfig


def import_tarball(store: ImageStore, stream: BinaryIO, *, source: str,
                   config: ContainerConfig = ContainerConfig(), message: str = "",
                   tags: list[Reference] = (), created_by: str = "") -> Image:
    """Import ``stream`` as a new image; ``source`` names it in errors and history.

    Raises:
        LayerEscape, ArchiveError: the tarball is refused; the store is unchanged.
    """
    with store.locked():
        desc, layer = store.add_layer(stream, name=source)
        created = now_rfc3339()
        image_config = ImageConfig(
            architecture=host_architecture(), os="linux", variant=host_variant(),
            diff_ids=(layer.diff_id,), config=config, created=created,
            history=(HistoryEntry(created=created, created_by=created_by,
                                  comment=message or f"Imported from {source}"),))
        return store.commit(image_config, [desc], tags=tags)
