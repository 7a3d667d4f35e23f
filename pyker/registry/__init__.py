"""A client of the distribution API v2 (the protocol of Docker Hub, of ``docker-registry`` and
every OCI registry), and a helper that runs Debian's registry on loopback for the labs.

Modules, lowest first: :mod:`.challenge` (WWW-Authenticate headers), :mod:`.credentials`
(``~/.docker/config.json``), :mod:`.transport` (HTTP(S) with auth and Docker's insecure-registry
rules), :mod:`.api` (the endpoints: manifests, blobs, uploads, tags), :mod:`.manifests` (media
types and platform selection), :mod:`.records` (what this store knows of remote repositories),
:mod:`.pull` and :mod:`.push` (the operations, reporting progress as events), :mod:`.server`
(the lab registry). Only the standard library's ``http.client`` speaks HTTP.
"""
