"""Filesystems: overlay mounts, layer tars with OCI whiteouts, safe paths, atomic writes."""
