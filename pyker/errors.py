"""The one error hierarchy of pyker.

Lower layers raise ``OSError`` (the kernel's own errno, with the syscall and path named);
the engine layers raise subclasses of :class:`PykerError` that carry the value at fault as
attributes. The CLI translates both once, at its boundary, into one line ``pyker: <message>``
and Docker's exit codes: 125 for an engine error, 126 when the command cannot be invoked,
127 when it is not found.
"""

from __future__ import annotations


class PykerError(Exception):
    """Base of every error pyker raises on purpose. ``exit_code`` is Docker's."""

    exit_code = 125

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        # Subclasses take other arguments than the message: an error sent from another
        # process (pyker.runtime.aside) is rebuilt from its state, not by a new call.
        return (_rebuilt, (type(self), self.args, self.__dict__))


def _rebuilt(cls: type[PykerError], args: tuple, state: dict) -> PykerError:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class UsageError(PykerError):
    """A flag, argument or option value the command cannot accept."""


class ConfigError(PykerError):
    """The daemon configuration (``/etc/pyker/daemon.json``) is malformed."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SpecError(PykerError):
    """A document (image config, manifest, index, runtime spec) that fails validation."""


class StoreLocked(PykerError):
    """Another pyker command holds the store lock for too long."""


class StoreCorrupt(PykerError):
    """The store on disk does not agree with itself (found by ``system check``)."""


class ImageError(PykerError):
    """Base of image store errors."""


class InvalidReference(ImageError):
    """A malformed image reference (``pyker: invalid reference format: …``)."""

    def __init__(self, reference: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f'invalid reference format{detail}: "{reference}"')
        self.reference = reference


class ImageNotFound(ImageError):
    def __init__(self, reference: str) -> None:
        super().__init__(f"No such image: {reference}")
        self.reference = reference


class ImageInUse(ImageError):
    """``rmi`` of an image that a container still uses, or that has several tags."""

    def __init__(self, message: str, image_id: str) -> None:
        super().__init__(message)
        self.image_id = image_id


class DigestMismatch(ImageError):
    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"{what}: digest mismatch: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class BlobNotFound(ImageError):
    def __init__(self, digest: str) -> None:
        super().__init__(f"blob {digest} not found in the store")
        self.digest = digest


class ArchiveError(ImageError):
    """A tarball (layer, image archive) that pyker refuses to read."""

    def __init__(self, archive: str, reason: str) -> None:
        super().__init__(f"{archive}: {reason}")
        self.archive = archive
        self.reason = reason


class LayerEscape(ArchiveError):
    """A layer entry that would write outside its layer directory."""

    def __init__(self, layer: str, entry: str, reason: str = "escapes the layer") -> None:
        super().__init__(f"layer {layer}", f'entry "{entry}" {reason}')
        self.entry = entry


class BootstrapError(ImageError):
    """A base image could not be built from the host's packages."""


class ContainerNotFound(PykerError):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such container: {name}")
        self.name = name


class ContainerStateError(PykerError):
    """An operation the container's state forbids (``rm`` of a running one, ``exec`` in a
    stopped one), or a name already taken."""


class ExecError(PykerError):
    """The container's command could not be run: 126 not executable, 127 not found."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class UnknownCapability(UsageError):
    """A capability name (``--cap-add``, ``--cap-drop``, a profile) that Linux does not have."""

    def __init__(self, value: str) -> None:
        super().__init__(f'unknown capability: "{value}"')
        self.value = value


class SeccompError(PykerError):
    """A seccomp filter that cannot be built or loaded."""


class SeccompProfileError(SeccompError):
    """A malformed seccomp profile; ``where`` is the JSON path (``syscalls[3].action``) or the
    ``line L column C`` of a JSON syntax error."""

    def __init__(self, path: str, where: str, reason: str) -> None:
        location = f"{where}: " if where else ""
        super().__init__(f"seccomp profile {path}: {location}{reason}")
        self.path = path
        self.where = where
        self.reason = reason


class CgroupError(PykerError):
    """A cgroup file the kernel refused, or a resource request a cgroup cannot express.

    ``path`` is the cgroup file or directory at fault and ``value`` what was written to it
    (None for a read, a mkdir or an rmdir), so that the message reads like the shell would:
    ``write /sys/fs/cgroup/memory/x/memory.limit_in_bytes "10485760": Device or resource busy``.
    """

    def __init__(self, message: str, *, path: str | None = None, value: str | None = None,
                 errno: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.value = value
        self.errno = errno


class BuildError(PykerError):
    """Base of ``pyker build`` errors: the Dockerfile, its context, its steps."""


class DockerfileSyntaxError(BuildError):
    """A Dockerfile that cannot be parsed: ``Dockerfile:3: unknown instruction: RUNN``.

    ``line`` is the first line of the instruction at fault (1-based), as Docker reports it;
    0 when the fault is the file as a whole (empty, no stage), and the message then stands
    alone, naming the file itself.
    """

    def __init__(self, file: str, line: int, message: str) -> None:
        located = f"{file}:{line}: {message}" if line else message
        super().__init__(located)
        self.located = located
        self.file = file
        self.line = line
        self.message = message  # without the location: str() gives both

    def __str__(self) -> str:
        return self.located


class BuildContextError(BuildError):
    """A COPY/ADD source the build context cannot give: missing, excluded by .dockerignore,
    or outside the context (``../x``); ``path`` is the source as written."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{reason}: {path}")
        self.path = path
        self.reason = reason


class NetworkError(PykerError):
    """Base of network errors: bridges, addresses, NAT rules, published ports."""


class IptablesError(NetworkError):
    """iptables is missing, or refused what pyker asked; ``rule`` is the line it rejected
    (None when the fault is not one line, e.g. the binary is missing)."""

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


class NetworkNotFound(NetworkError):
    """No network has this name, id or id prefix (or the prefix names several)."""

    def __init__(self, ref: str, message: str | None = None) -> None:
        super().__init__(message or f"network {ref} not found")
        self.ref = ref


class VolumeError(PykerError):
    """Base of volume errors: a bad name, a volume in use, a mount that cannot be made."""


class VolumeNotFound(VolumeError):
    """No volume has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"get {name}: no such volume")
        self.name = name


class VolumeInUse(VolumeError):
    """A container (running or not) still mounts the volume: ``users`` are their ids."""

    def __init__(self, name: str, users: list[str]) -> None:
        super().__init__(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self.name = name
        self.users = users


class RegistryError(PykerError):
    """A registry refused or failed a request: ``registry`` is its host (``127.0.0.1:5000``),
    ``status`` the HTTP status (None when no answer came) and ``code`` the first error code
    of the distribution API's body (``MANIFEST_UNKNOWN``, ``BLOB_UNKNOWN``…), if any."""

    def __init__(self, message: str, *, registry: str = "", status: int | None = None,
                 code: str = "") -> None:
        super().__init__(message)
        self.registry = registry
        self.status = status
        self.code = code


class RegistryUnauthorized(RegistryError):
    """The registry wants credentials that were not given or that it refused."""

class ComposeError(PykerError):
    """A compose project that cannot be loaded: a YAML syntax error, an unknown key, a wrong
    type, an undefined reference, a dependency cycle, a missing required variable.

    ``file`` and ``line`` (1-based; 0 when unknown) locate the fault as an editor jumps to
    it: ``compose.yaml:7: service "web": ports must be a list``; ``column`` only for YAML
    syntax errors. ``reason`` is the message without the location. Compose v2 exits 1 on a
    bad project, hence ``exit_code``.
    """

    exit_code = 1

    def __init__(self, reason: str, *, file: str = "", line: int = 0, column: int = 0) -> None:
        where = file + (f":{line}" if file and line else "") + (
            f":{column}" if file and line and column else "")
        super().__init__(f"{where}: {reason}" if where else reason)
        self.reason = reason
        self.file = file
        self.line = line
        self.column = column


class HubOutOfReach(ImageNotFound):
    """An image missing locally whose reference names Docker Hub, which the lab never
    contacts on its own (``run``/``build FROM`` pull only from a registry they name)."""

    def __init__(self, reference: str, familiar: str) -> None:
        super().__init__(reference)
        self.message = (f"Unable to find image '{familiar}' locally, and Docker Hub is out of "
                        "this lab's reach: build it (labs/images) or name a registry in the "
                        "reference (127.0.0.1:5000/…)")
