"""Typed, frozen documents of the OCI specs (image and runtime); parsed once, then trusted."""
