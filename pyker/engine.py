"""The Python API of pyker, used by the CLI, the notebooks and the grader.

``Engine()`` resolves the data root (``pyker.config``) and gives access to the stores. It
holds no state of its own beyond paths: two engines on one data root see the same things,
because everything lives on disk.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from pyker import config as engine_config
from pyker.image.store import ImageStore


class Engine:
    def __init__(self, cfg: engine_config.EngineConfig | None = None) -> None:
        self.config = cfg or engine_config.load()

    @property
    def data_root(self) -> Path:
        return self.config.data_root

    @cached_property
    def images(self) -> ImageStore:
        remap = self.config.userns_remap
        if remap is None:
            return ImageStore(self.data_root)
        from pyker.fs.unpack import IdShift

        return ImageStore(self.data_root,
                          shift=IdShift(uid_maps=remap.uid_maps, gid_maps=remap.gid_maps))

    @property
    def containers_dir(self) -> Path:
        return self.data_root / "containers"

    @cached_property
    def containers(self):
        from pyker.runtime.state import ContainerStore

        return ContainerStore(self.containers_dir)

    @cached_property
    def networks(self):
        from pyker.network.store import NetworkStore

        return NetworkStore(self.data_root)

    def default_network(self):
        """The ``bridge`` network, written on first use with daemon.json's ``bip``."""
        from pyker.runtime.network_bridge import HostRoutes

        return self.networks.default(bip=self.config.bip, host_routes=HostRoutes())

    def create_network(self, name: str, **options):
        """``network create``: the record, then its bridge; nothing half-made on failure.

        ``options`` are :meth:`pyker.network.store.NetworkStore.create`'s (subnet, gateway,
        ip_range, aux, internal, labels, options)."""
        from pyker.network import bridge
        from pyker.runtime.network_bridge import HostRoutes

        network = self.networks.create(name, bip=self.config.bip, host_routes=HostRoutes(),
                                       **options)
        try:
            bridge.ensure_bridge(network.bridge, network.subnet, network.gateway,
                                 internal=network.internal)
        except BaseException:
            self.networks.remove(network.name)
            raise
        from pyker import events

        events.network(self.data_root, "create", network.id, network.name,
                       driver=network.driver)
        return network

    def remove_network(self, ref: str):
        """``network rm``: the record (refused while a container uses it), then the bridge."""
        from pyker.network import bridge

        network = self.networks.get(ref)
        self.networks.remove(network.name)
        bridge.delete_bridge(network.bridge, network.subnet)
        from pyker import events

        events.network(self.data_root, "destroy", network.id, network.name,
                       driver=network.driver)
        return network

    def containers_using(self, image_id: str) -> list[str]:
        """IDs of the containers created from ``image_id`` (running or not)."""
        from pyker.runtime.state import container_files

        out = []
        if not self.containers_dir.is_dir():
            return out
        for record in container_files(self.containers_dir):
            try:
                if json.loads(record.read_bytes()).get("Image") == image_id:
                    out.append(record.parent.name)
            except (OSError, ValueError):
                continue  # a record being written: the runtime owns its consistency
        return sorted(out)
