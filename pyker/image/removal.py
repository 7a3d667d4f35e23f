"""``rmi`` and ``image prune``, with Docker's rules.

- ``rmi name:tag`` of an image with other tags only removes that tag (``Untagged:``).
- Removing the last tag removes the image (``Deleted:``), unless a container uses it: then
  it is a conflict, and ``-f`` only untags (the image stays, as ``<none>``, for the container).
- ``rmi <id>`` of an image with several tags is refused without ``-f``.
- ``rmi`` goes on with the image's untagged parents that nothing else needs (``--no-prune``
  keeps them).
- ``image prune`` removes dangling images (no tag, no child, no container); ``-a`` every
  unused one.
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


def remove(store: ImageStore, text: str, users: UsersOf, *, force: bool = False,
           no_prune: bool = False) -> Removal:
    """Remove the image ``text`` names (a reference or an ID), by Docker's rules; its untagged
    parents too, unless ``no_prune``.

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
        deleted = [image.id] + ([] if no_prune else _untagged_parents(store, image, users))
        return Removal(untagged=untagged, deleted=tuple(deleted),
                       reclaimed=store.collect_garbage())


def _untagged_parents(store: ImageStore, image: Image, users: UsersOf) -> list[str]:
    """Docker's rmi goes on up the build's chain: each parent with no tag, no container and
    no other child goes too (the intermediate images of a classic build)."""
    deleted: list[str] = []
    parent_id = image.parent
    while parent_id:
        others = store.images()
        parent = next((i for i in others if i.id == parent_id), None)
        if (parent is None or parent.tags or users(parent.id)
                or any(i.parent == parent_id for i in others)):
            break
        store.remove_image(parent, users)
        deleted.append(parent.id)
        parent_id = parent.parent
    return deleted


def prune(store: ImageStore, users: UsersOf, *, all_unused: bool = False) -> Removal:
    """Remove dangling images (with ``all_unused``: every image no container uses)."""
    untagged: list[str] = []
    deleted: list[str] = []
    with store.locked():
        images = store.images()
        parents = {i.parent for i in images}
        for image in images:
            # Dangling: no tag and no child (an untagged parent is a build's cache).
            if users(image.id) or (not all_unused and (image.tags or image.id in parents)):
                continue
            untagged += [t.familiar() for t in image.tags]
            store.remove_image(image, users)
            deleted.append(image.id)
        reclaimed = store.collect_garbage()
    return Removal(untagged=tuple(untagged), deleted=tuple(deleted), reclaimed=reclaimed)

