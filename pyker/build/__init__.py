"""``pyker build``: from a Dockerfile and a context to an image.

The pure front lives here and touches nothing but the context directory it reads:
:mod:`~pyker.build.parser` (with :mod:`~pyker.build.lexer`, :mod:`~pyker.build.shellwords`
and the dataclasses of :mod:`~pyker.build.instructions`), :mod:`~pyker.build.substitution`
(``$VAR`` as Docker expands it), :mod:`~pyker.build.dockerignore` and
:mod:`~pyker.build.context` (what COPY may read, and its content hash for the cache).
"""
