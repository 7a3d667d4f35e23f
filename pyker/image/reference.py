"""Image references, parsed and normalized as Docker's ``distribution/reference`` does.

``busybox``, ``busybox:latest`` and ``docker.io/library/busybox:latest`` are one reference.
The first path component is a registry host when it contains a ``.`` or a ``:`` or is
``localhost``; a one-component name on Docker Hub lives under ``library/``. A reference may
carry a tag, a digest (``name@sha256:…``) or both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyker.errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_COMPONENT_RE = re.compile(rf"^{_COMPONENT}$")
_DOMAIN_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$"
)
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Fully qualified repository name: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The name as Docker prints it: ``busybox``, ``user/app``, ``host:5000/app``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_PREFIX) and "/" not in self.path[len(OFFICIAL_PREFIX):]:
            return self.path[len(OFFICIAL_PREFIX):]
        return self.path

    def with_tag(self, tag: str) -> Reference:
        return Reference(domain=self.domain, path=self.path, tag=tag)

    def tagged(self) -> Reference:
        """This reference with the default tag when it has neither tag nor digest."""
        if self.tag is None and self.digest is None:
            return self.with_tag(DEFAULT_TAG)
        return self

    def __str__(self) -> str:
        return self._render(self.name)

    def familiar(self) -> str:
        return self._render(self.familiar_name)

    def _render(self, name: str) -> str:
        out = name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def parse(text: str) -> Reference:
    """Parse and normalize an image reference.

    Raises:
        InvalidReference: the text is not a reference Docker would accept.
    """
    if not text or text != text.strip():
        raise InvalidReference(text)
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST_RE.match(digest):
        raise InvalidReference(text, "invalid digest")
    tag = None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG_RE.match(tag):
            raise InvalidReference(text, "invalid tag")
    if not rest:
        raise InvalidReference(text)
    domain, path = _split_domain(rest)
    if not _DOMAIN_RE.match(domain):
        raise InvalidReference(text, "invalid registry host")
    for component in path.split("/"):
        if not _COMPONENT_RE.match(component):
            if component.lower() != component and _COMPONENT_RE.match(component.lower()):
                raise InvalidReference(text, "repository name must be lowercase")
            raise InvalidReference(text)
    if len(f"{domain}/{path}") > NAME_MAX:
        raise InvalidReference(text, f"repository name must not be more than {NAME_MAX} characters")
    return Reference(domain=domain, path=path, tag=tag, digest=digest or None)


def parse_tagged(text: str) -> Reference:
    """Parse a reference and add ``:latest`` when it names neither tag nor digest."""
    return parse(text).tagged()
