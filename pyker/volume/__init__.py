"""Volumes: data that outlives containers, and the mounts a container asks for.

Split as networks are (``pyker.network.store`` + ``pyker.runtime.network_bridge``), because
the same two concerns meet here:

* :mod:`pyker.volume.store` — the volumes on disk, in Docker's layout
  (``<data-root>/volumes/<name>/_data`` beside a ``volume.json`` record), under one lock.
  It knows nothing of containers: who uses a volume is a question its caller answers.
* :mod:`pyker.volume.mountspec` — what ``-v``, ``--mount`` and ``--tmpfs`` ask for, parsed
  once into frozen :class:`~pyker.volume.mountspec.MountSpec` values, with Docker's messages.
  Pure: no file is touched, so every malformed flag fails before anything is created.

Turning a container's requests into volumes (named, anonymous, the image's ``VOLUME``,
``--volumes-from``) and, at each start, into OCI bind/tmpfs mounts with the first-mount
copy-up is the runtime's work: :mod:`pyker.runtime.volumes`.
"""
