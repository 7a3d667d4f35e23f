"""``rmi`` and ``image prune``, with Docker's rules.

- ``rmi name:tag`` of an image with other tags only removes that tag (``Untagged:``).
- Removing the last tag removes the image (``Deleted:``), unless a container uses it: then
  it is a conflict, and ``-f`` only untags (the image stays, as ``<none>``, for the container).
- ``rmi <id>`` of an image with several tags is refused without ``-f``.
- ``image prune`` removes dangling images (no tag, no container); ``-a`` every unused one.
Unreachable blobs and layer directories are collected after each removal.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyker.errors import ImageInUse, InvalidReference
from pyker.image import reference
from pyker.image.store import Image, ImageStore, UsersOf
from pyker.spec.digest import short_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Removal:
    untagged: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    reclaimed: int = 0

    def lines(self) -> list[str]:
        return ([f"Untagged: {t}" for t in self.untagged]
                + [f"Deleted: {d}" for d in self.deleted])


def _named_by_tag(text: str, image: Image) -> reference.Reference | None:
    try:
        ref = reference.parse_tagged(text)
    except InvalidReference:
        return None
    return ref if ref in image.tags else None


def remove(store: ImageStore, text: str, users: UsersOf, *, force: bool = False) -> Removal:
    """Remove the image ``text`` names (a reference or an ID), by Docker's rules.

    Raises:
        ImageNotFound: nothing by that name.
        ImageInUse: a conflict Docker would report (``-f`` resolves some).
    """
    with store.locked():
        image = store.resolve(text)
        tag = _named_by_tag(text, image)
        if tag is not None and len(image.tags) > 1:
            store.untag(image, tag)
            return Removal(untagged=(tag.familiar(),))
        if tag is None and len(image.tags) > 1 and not force:
            raise ImageInUse(f"conflict: unable to delete {short_id(image.id)} (must be forced)"
                             " - image is referenced in multiple repositories", image.id)
        using = users(image.id)
        if using and not force:
            what = (f'remove repository reference "{text}"' if tag is not None
                    else f"delete {short_id(image.id)}")
            raise ImageInUse(f"conflict: unable to {what} (must force) - container "
                             f"{short_id(using[0])} is using its referenced image "
                             f"{short_id(image.id)}", image.id)
        untagged = tuple(t.familiar() for t in image.tags)
        if using:  # forced, but a container still needs its layers: keep it as <none>
            for t in image.tags:
                store.untag(image, t)
            return Removal(untagged=untagged)
        store.remove_image(image, users)  # drops every descriptor, tagged or not, at once
        return Removal(untagged=untagged, deleted=(image.id,),
                       reclaimed=store.collect_garbage())


def prune(store: ImageStore, users: UsersOf, *, all_unused: bool = False) -> Removal:
    """Remove dangling images (with ``all_unused``: every image no container uses)."""
    untagged: list[str] = []
    deleted: list[str] = []
    with store.locked():
        for image in store.images():
            if users(image.id) or (image.tags and not all_unused):
                continue
            untagged += [t.familiar() for t in image.tags]
            store.remove_image(image, users)
            deleted.append(image.id)
        reclaimed = store.collect_garbage()
    return Removal(untagged=tuple(untagged), deleted=tuple(deleted), reclaimed=reclaimed)

