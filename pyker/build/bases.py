"""A build's base images (``FROM``, ``COPY --from=IMAGE``): from the store, else pulled
from the registry their name gives, as ``docker build`` does (``--pull``: even when present).
"""

from __future__ import annotations

from pyker.errors import ImageNotFound
from pyker.image.store import Image


def base_image(engine, name: str, policy: str, out) -> Image:
    """``name`` from ``engine``'s store, or pulled by ``policy`` (missing, always); the
    pull's layers are reported on the build's output.

    Raises:
        ImageNotFound: not in the store and not pullable (a Docker Hub name, say).
    """
    if policy == "missing":
        try:
            return engine.images.resolve(name)
        except ImageNotFound:
            pass
    from pyker.registry.pull import ensure_image

    def progress(event) -> None:
        if event.status in ("Pull complete", "Already exists"):
            out.line(f"{event.id}: {event.status}")

    return ensure_image(engine.images, name, policy=policy,
                        insecure_registries=engine.config.insecure_registries,
                        progress=progress)
