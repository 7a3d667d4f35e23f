"""A service's ``logging: {driver, options}``: loaded into the model, merged by override
files, passed to the run options with daemon.json's defaults, and refused in Docker's words."""

from __future__ import annotations

import hashlib
import json
import textwrap
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from pyker.compose import model, translate
from pyker.compose.loader import load
from pyker.errors import ComposeError


def project(tmp_path: Path, text: str, *override: str) -> model.Project:
    directory = tmp_path / "app"
    directory.mkdir(exist_ok=True)
    paths = []
    for i, body in enumerate((text, *override)):
        path = directory / f"compose{i}.yaml"
        path.write_text(textwrap.dedent(body))
        paths.append(str(path))
    return load(paths, environ={"HOME": "/home/student"}, warn=None)


def options(tmp_path: Path, svc: model.Service, prj: model.Project, monkeypatch,
            daemon: dict | None = None):
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps(daemon or {}))
    monkeypatch.setenv("PYKER_DAEMON_CONFIG", str(config))
    return translate.run_options(prj, svc, number=1, image_id="sha256:0", names={"web": "x"})


def test_logging_is_loaded_with_options_as_text(tmp_path: Path) -> None:
    svc = project(tmp_path, """
        services:
          web:
            image: nginx
            logging:
              driver: json-file
              options:
                max-size: 10k
                max-file: 3
                compress: true
    """).service("web")
    assert svc.log_driver == "json-file"
    assert svc.log_opts == (("max-size", "10k"), ("max-file", "3"), ("compress", "true"))


def test_options_alone_keep_the_default_driver(tmp_path: Path, monkeypatch) -> None:
    prj = project(tmp_path, """
        services:
          web:
            image: nginx
            logging:
              options: {max-size: 1m}
    """)
    opts = options(tmp_path, prj.service("web"), prj, monkeypatch)
    assert (opts.log_driver, opts.log_opts) == ("json-file", {"max-size": "1m"})


def test_no_logging_takes_daemon_json_defaults(tmp_path: Path, monkeypatch) -> None:
    prj = project(tmp_path, """
        services:
          web:
            image: nginx
    """)
    svc = prj.service("web")
    assert (svc.log_driver, svc.log_opts) == ("", ())
    opts = options(tmp_path, svc, prj, monkeypatch,
                   {"log-driver": "local", "log-opts": {"max-size": "5m"}})
    assert (opts.log_driver, opts.log_opts) == ("local", {"max-size": "5m"})


def test_override_file_merges_the_options_of_the_same_driver(tmp_path: Path) -> None:
    svc = project(tmp_path, """
        services:
          web:
            image: nginx
            logging:
              driver: local
              options: {max-size: 10k}
    """, """
        services:
          web:
            logging:
              options: {max-file: "2"}
    """).service("web")
    assert svc.log_driver == "local"
    assert dict(svc.log_opts) == {"max-size": "10k", "max-file": "2"}


def test_unset_logging_leaves_the_config_hash_unchanged(tmp_path: Path) -> None:
    """Containers made before ``logging:`` existed are not seen as stale by ``up``."""
    svc = project(tmp_path, """
        services:
          web:
            image: nginx
    """).service("web")
    before = {k: v for k, v in asdict(svc).items()
              if k not in ("replicas", "build", "profiles", "depends_on", "log_driver",
                           "log_opts")}
    assert translate.config_hash(svc) == hashlib.sha256(
        json.dumps(before, sort_keys=True, default=str).encode()).hexdigest()
    assert translate.config_hash(svc) != translate.config_hash(replace(svc, log_driver="local"))


@pytest.mark.parametrize(("logging", "message"), [
    ("{driver: syslogd}", "logger: no log driver named 'syslogd' is registered"),
    ("{driver: json-file, options: {frequency: 1}}",
     "unknown log opt 'frequency' for json-file log driver"),
    ("{driver: local, options: {max-file: 1}}",
     "compression cannot be enabled when max file count is 1"),
])
def test_bad_logging_is_refused_before_anything_is_created(tmp_path: Path, monkeypatch,
                                                            logging: str, message: str) -> None:
    prj = project(tmp_path, f"""
        services:
          web:
            image: nginx
            logging: {logging}
    """)
    with pytest.raises(ComposeError) as err:
        options(tmp_path, prj.service("web"), prj, monkeypatch)
    assert str(err.value) == f'service "web": {message}'


def test_logging_shape_is_checked_at_load(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match=r'compose0.yaml:6: service "web": unknown key '
                                           r'"logging.level"'):
        project(tmp_path, """
            services:
              web:
                image: nginx
                logging:
                  level: debug
        """)


def test_config_renders_logging_and_reads_back_the_same(tmp_path: Path) -> None:
    from pyker.compose import render

    prj = project(tmp_path, """
        services:
          web:
            image: busybox
            logging:
              driver: json-file
              options: {max-size: 10k, max-file: "3"}
        """)
    doc = render.to_document(prj)
    assert doc["services"]["web"]["logging"] == {
        "driver": "json-file", "options": {"max-file": "3", "max-size": "10k"}}
    again = tmp_path / "again.yaml"
    again.write_text(render.dump_yaml(doc))
    reloaded = load([str(again)], environ={}, warn=None, project_name=prj.name)
    assert reloaded.service("web").log_opts == prj.service("web").log_opts
