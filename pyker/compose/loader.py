"""``load()``: compose files on disk → one :class:`model.Project`, as ``docker compose`` v2
finds, reads and names it.

* **Files**: those given (``-f``, ``-`` for stdin), else ``$COMPOSE_FILE`` (``:``-separated),
  else the first of ``compose.yaml``, ``compose.yml``, ``docker-compose.yaml``,
  ``docker-compose.yml`` in the working directory or its nearest parent that has one, with
  the first ``compose.override.yml`` (…``.yaml``, ``docker-compose.override.*``) beside it.
* **Project directory**: given, else the first file's directory; relative paths of every
  file (build contexts, bind sources, env_file) are resolved against it.
* **Environment**: the project directory's ``.env`` (or the ``--env-file`` files given)
  under the process's environment, which wins; it feeds interpolation and
  ``environment: [KEY]`` pass-through, and is kept as ``Project.environment``.
* **Project name**: the one given, else ``$COMPOSE_PROJECT_NAME``, else top-level ``name:``,
  else the project directory's name, lower-cased and stripped of other characters than
  ``[a-z0-9_-]``. A name given explicitly must already be valid.
* **Profiles**: a service with ``profiles:`` is kept only when one of them is active
  (``profiles`` given, else ``$COMPOSE_PROFILES``; ``*`` activates all) or when it is named
  in ``services`` (then with what it depends on). A kept service that needs a dropped one is
  an error; a ``required: false`` dependency on a dropped one is left out.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence

from pyker.compose import model
from pyker.compose.dotenv import read_dotenv
from pyker.compose.graph import check_cycles
from pyker.compose.interpolate import Interpolator, stderr_warning
from pyker.compose.merge import merge_documents
from pyker.compose.normalize import normalize, with_default_network
from pyker.compose.references import dependency_names
from pyker.compose.yamlsrc import load_yaml, mark_of
from pyker.errors import ComposeError

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_FILES = ("compose.override.yml", "compose.override.yaml",
                  "docker-compose.override.yml", "docker-compose.override.yaml")
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
STDIN = "-"


def load(files: Sequence[str] | None = (), *, project_name: str | None = None,
         project_directory: str | None = None, env_files: Sequence[str] | None = (),
         environ: Mapping[str, str] | None = None, profiles: Sequence[str] | None = (),
         services: Sequence[str] | None = (),
         warn: Callable[[str], None] | None = stderr_warning) -> model.Project:
    """The project the compose files describe, checked, interpolated and normalised.

    Args:
        files: compose files in merge order; ``-`` reads stdin. Default (empty or None):
            found as above. None is also accepted for ``env_files``, ``profiles`` and
            ``services`` (argparse's default for an unused repeatable flag).
        environ: the process environment (default ``os.environ``).
        services: services named on the command line: kept whatever their profiles.
        warn: where interpolation warnings go (``WARN[0000] The "X" variable is not set…``).

    Raises:
        ComposeError: the first fault, one line, located ``FILE:LINE:`` when it has a place.
    """
    process_env = dict(os.environ if environ is None else environ)
    paths = _compose_files(files or (), process_env)
    working_dir = os.path.abspath(project_directory) if project_directory else (
        os.getcwd() if paths[0][0] == STDIN else os.path.dirname(paths[0][0]))
    env = {**_dotenv(working_dir, env_files or (), process_env), **process_env}
    interpolator = Interpolator(env, warn)
    docs = [interpolator.document(_parse(path, shown)) for path, shown in paths]
    doc = merge_documents(docs)
    name = _project_name(project_name, env, doc, working_dir)
    project = normalize(doc, name=name, working_dir=working_dir,
                        files=[path for path, _ in paths], environ=env,
                        home=env.get("HOME") or os.path.expanduser("~"))
    check_cycles(project.services)
    active = _active_services(project, _profiles(profiles or (), env), services or ())
    return dataclasses.replace(project, services=active, networks=with_default_network(
        name, project.networks, active))


def find_compose_file(start: str) -> str | None:
    """The first compose file name in ``start`` or its nearest parent that has one."""
    directory = os.path.abspath(start)
    while True:
        for name in COMPOSE_FILES:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate):
                return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _compose_files(files: Sequence[str], env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(absolute path or ``-``, the name errors show) of each file, in merge order."""
    given = list(files) or [f for f in env.get("COMPOSE_FILE", "").split(os.pathsep) if f]
    if given:
        return [(STDIN, "<stdin>") if f == STDIN else (os.path.abspath(f), f) for f in given]
    found = find_compose_file(os.getcwd())
    if found is None:
        raise ComposeError("no configuration file provided: not found")
    directory = os.path.dirname(found)
    # Found by name, the file brings its override from beside it, merged on top (Compose's
    # rule; with -f or COMPOSE_FILE only the files named count).
    override = next((os.path.join(directory, name) for name in OVERRIDE_FILES
                     if os.path.isfile(os.path.join(directory, name))), None)
    return [(path, os.path.basename(path) if directory == os.getcwd() else path)
            for path in (found, override) if path is not None]


def _parse(path: str, shown: str) -> dict:
    if path == STDIN:
        text = sys.stdin.read()
    else:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise ComposeError(f"open {path}: no such file or directory") from None
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise ComposeError(f"open {path}: {reason}") from None
    doc = load_yaml(text, shown)
    if doc is None:
        raise ComposeError("empty compose file", file=shown)
    if not isinstance(doc, dict):
        raise ComposeError("top-level object must be a mapping", file=shown, line=1)
    return doc


def _dotenv(working_dir: str, env_files: Sequence[str],
            process_env: Mapping[str, str]) -> dict[str, str]:
    if env_files:
        values: dict[str, str] = {}
        for path in env_files:
            values.update(read_dotenv(os.path.abspath(path), process_env, name=path))
        return values
    default = os.path.join(working_dir, ".env")
    if os.path.isfile(default):
        return read_dotenv(default, process_env)
    return {}


def _project_name(given: str | None, env: Mapping[str, str], doc: dict,
                  working_dir: str) -> str:
    if given is not None:
        return _checked_name(given)
    if env.get("COMPOSE_PROJECT_NAME"):
        return _checked_name(env["COMPOSE_PROJECT_NAME"])
    if doc.get("name") is not None:
        name = doc["name"]
        if not isinstance(name, str):
            mark = mark_of(doc, "name")
            raise ComposeError("name must be a string", file=mark[0], line=mark[1])
        return _checked_name(name, mark_of(doc, "name"))
    base = re.sub(r"[^a-z0-9_-]", "", os.path.basename(working_dir).lower()).lstrip("_-")
    if not base:
        raise ComposeError(f'project name must not be empty: "{os.path.basename(working_dir)}" '
                           "has no usable character; give one with -p or name:")
    return base


def _checked_name(name: str, mark: tuple[str, int] = ("", 0)) -> str:
    if not _PROJECT_NAME.fullmatch(name):
        raise ComposeError(f'invalid project name "{name}": must consist only of lowercase '
                           "alphanumeric characters, hyphens, and underscores as well as "
                           "start with a letter or number", file=mark[0], line=mark[1])
    return name


def _profiles(given: Sequence[str], env: Mapping[str, str]) -> set[str]:
    names = given or env.get("COMPOSE_PROFILES", "").split(",")
    return {name.strip() for name in names if name.strip()}


def _active_services(project: model.Project, profiles: set[str],
                     named: Sequence[str]) -> tuple[model.Service, ...]:
    enabled = {svc.name for svc in project.services
               if not svc.profiles or "*" in profiles or profiles & set(svc.profiles)}
    todo, seen = list(named), set()
    while todo:  # a named service comes with what it needs, whatever their profiles
        name = todo.pop()
        if name in seen:
            continue
        try:
            svc = project.service(name)
        except KeyError:
            raise ComposeError(f"no such service: {name}") from None
        seen.add(name)
        enabled.add(name)
        todo.extend(dependency_names(svc))
    return tuple(_without_disabled(svc, project, enabled)
                 for svc in project.services if svc.name in enabled)


def _without_disabled(svc: model.Service, project: model.Project,
                      enabled: set[str]) -> model.Service:
    optional = {dep.service for dep in svc.depends_on if not dep.required}
    for dep in dependency_names(svc):
        if dep not in enabled and dep not in optional:
            needed = project.service(dep).profiles
            raise ComposeError(f'service "{dep}" is required by "{svc.name}" but is disabled: '
                               f"enable one of its profiles [{', '.join(needed)}]")
    kept = tuple(dep for dep in svc.depends_on if dep.service in enabled)
    return svc if kept == svc.depends_on else dataclasses.replace(svc, depends_on=kept)
