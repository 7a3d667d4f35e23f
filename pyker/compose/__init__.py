"""Compose: a multi-container application described in YAML, run by pyker.

The configuration side reads compose files into one frozen :class:`model.Project`, in the
order the bytes go through it:

* :mod:`.yamlsrc` parses YAML (the 1.2 core schema, as Compose v2's go-yaml) and keeps the
  ``file:line`` of every key and list item, so each later error can point at its line;
* :mod:`.interpolate` substitutes ``${VAR:-default}`` in every string value, from the
  environment and :mod:`.dotenv`'s ``.env``;
* :mod:`.merge` merges several ``-f`` files in order;
* :mod:`.normalize` and :mod:`.normalize_service` turn every short and long syntax into the
  model's one shape (:mod:`.fields` reads typed values, :mod:`.shortsyntax` ports and
  volumes, :mod:`.units` durations and sizes);
* :mod:`.graph` orders services by their dependencies and refuses cycles;
* :mod:`.loader` is the entry point (``load()``), :mod:`.render` the way back to YAML
  (``pyker compose config``).

The execution side (``up``, ``down``, ``ps``, ``logs``) reads only the model.
"""
