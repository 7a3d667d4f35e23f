"""pyker: a container engine written to be read and taught.

Layers, lowest first (each imports only those below it, plus ``errors`` and ``spec``):
``kernel`` (syscall wrappers) → ``fs`` (layers, overlay) → ``image`` (OCI store) →
``cli`` (Docker-compatible front). See DESIGN.md in the course material.
"""

__version__ = "0.1.0"
