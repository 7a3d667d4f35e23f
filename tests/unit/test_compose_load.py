"""Loading compose files into the model: every syntax, merges, .env, profiles, names,
the dependency order and the ``compose config`` round trip."""

from __future__ import annotations

import dataclasses
import io
import os
import textwrap
from pathlib import Path

import pytest

from pyker.compose import model
from pyker.compose.graph import start_order, stop_order
from pyker.compose.loader import find_compose_file, load
from pyker.compose.render import dump_yaml, to_document
from pyker.errors import ComposeError

HOME = "/home/student"


def write(directory: Path, text: str, name: str = "compose.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def load_text(tmp_path: Path, text: str, *, environ: dict[str, str] | None = None,
              **kwargs) -> model.Project:
    path = write(tmp_path / "app", text)
    env = {"HOME": HOME, **(environ or {})}
    return load([str(path)], environ=env, warn=None, **kwargs)


def service(tmp_path: Path, body: str, **kwargs) -> model.Service:
    """The one service ``web`` whose keys are ``body``."""
    text = "services:\n  web:\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return load_text(tmp_path, text, **kwargs).service("web")


# -- the project -------------------------------------------------------------------------

def test_minimal_project(tmp_path: Path) -> None:
    project = load_text(tmp_path, """
        services:
          web:
            image: nginx
    """)
    assert project.name == "app"
    assert project.working_dir == str(tmp_path / "app")
    assert project.files == (str(tmp_path / "app" / "compose.yaml"),)
    assert project.services == (model.Service(
        name="web", image="nginx", networks=(model.ServiceNetwork(name="default"),)),)
    assert project.networks == (model.Network(key="default", name="app_default"),)
    assert project.volumes == ()
    assert project.environment == {"HOME": HOME}


@pytest.mark.parametrize("version", ["'2'", "'2.4'", "'3'", "3.8", "'3.9'"])
def test_version_is_accepted_and_ignored(tmp_path: Path, version: str) -> None:
    project = load_text(tmp_path, f"version: {version}\nservices:\n  web:\n    image: a\n")
    assert [svc.name for svc in project.services] == ["web"]


def test_extension_fields_and_anchors(tmp_path: Path) -> None:
    project = load_text(tmp_path, """
        x-defaults: &defaults
          restart: always
          environment:
            LEVEL: info
        services:
          web:
            <<: *defaults
            image: nginx
            x-note: ignored
          worker:
            <<: *defaults
            image: worker
            restart: "no"
    """)
    assert project.service("web").restart == "always"
    assert project.service("web").environment == (("LEVEL", "info"),)
    assert project.service("worker").restart == "no"


def test_yaml_1_2_scalars(tmp_path: Path) -> None:
    svc = service(tmp_path, """
        image: nginx
        restart: no
        ports:
          - 22:22
        environment:
          ANSWER: yes
          OCTAL: 017
          FLAG: true
          RATIO: 1.5
    """)
    assert svc.restart == "no"
    assert svc.ports == (model.Port(target=22, published="22"),)
    assert svc.environment == (("ANSWER", "yes"), ("OCTAL", "17"), ("FLAG", "true"),
                               ("RATIO", "1.5"))


# -- service keys ------------------------------------------------------------------------

def test_build_short_and_long(tmp_path: Path) -> None:
    svc = service(tmp_path, "build: ./web\n")
    assert svc.image == ""
    assert svc.build == model.Build(context=str(tmp_path / "app" / "web"))
    svc = service(tmp_path, """
        image: mine:1
        build:
          context: ../ctx
          dockerfile: Dockerfile.dev
          args:
            - VERSION=1.2
            - FROM_ENV
            - NOT_SET
          target: prod
          labels:
            team: course
    """, environ={"FROM_ENV": "env-value"})
    assert svc.image == "mine:1"
    assert svc.build == model.Build(
        context=str(tmp_path / "ctx"), dockerfile="Dockerfile.dev",
        args=(("VERSION", "1.2"), ("FROM_ENV", "env-value")), target="prod",
        labels=(("team", "course"),))
    svc = service(tmp_path, "build:\n  args: {A: 1, B: null}\n", environ={"B": "b"})
    assert svc.build == model.Build(context=str(tmp_path / "app"), args=(("A", "1"), ("B", "b")))


def test_command_and_entrypoint(tmp_path: Path) -> None:
    svc = service(tmp_path, """
        image: a
        command: sh -c 'echo "hello world"'
        entrypoint: ["/bin/tini", "--"]
    """)
    assert svc.command == ("sh", "-c", 'echo "hello world"')
    assert svc.entrypoint == ("/bin/tini", "--")
    assert service(tmp_path, "image: a\n").command is None
    assert service(tmp_path, "image: a\ncommand: []\n").command == ()


def test_environment_and_env_file(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(app, "SHARED=from-file\nONLY_FILE=1\n# comment\n", "common.env")
    write(app, "SECOND=2\nSHARED=second-file\n", "second.env")
    svc = service(tmp_path, """
        image: a
        env_file:
          - common.env
          - path: ./second.env
          - path: missing.env
            required: false
        environment:
          - SHARED=inline
          - PASSED
          - ABSENT
          - LAST=x=y
    """, environ={"PASSED": "through"})
    assert svc.environment == (("SHARED", "inline"), ("ONLY_FILE", "1"), ("SECOND", "2"),
                               ("PASSED", "through"), ("LAST", "x=y"))
    svc = service(tmp_path, "image: a\nenv_file: common.env\nenvironment:\n  A: 1\n"
                  "  B: null\n  C: ''\n")
    assert svc.environment == (("SHARED", "from-file"), ("ONLY_FILE", "1"), ("A", "1"),
                               ("C", ""))


@pytest.mark.parametrize("entry, ports", [
    ('"80"', [model.Port(target=80)]),
    ("80", [model.Port(target=80)]),
    ('"8080:80"', [model.Port(target=80, published="8080")]),
    ('"127.0.0.1:8080:80"', [model.Port(target=80, published="8080", host_ip="127.0.0.1")]),
    ('"127.0.0.1::80"', [model.Port(target=80, host_ip="127.0.0.1")]),
    ('"53:53/udp"', [model.Port(target=53, published="53", protocol="udp")]),
    ('"8000-8001:80-81"', [model.Port(target=80, published="8000"),
                           model.Port(target=81, published="8001")]),
    ('"9000-9001"', [model.Port(target=9000), model.Port(target=9001)]),
    ('"8000-8010:80"', [model.Port(target=80, published="8000-8010")]),
    ("{target: 80, published: 8080, protocol: udp, mode: host}",
     [model.Port(target=80, published="8080", protocol="udp")]),
    ("{target: 80, host_ip: 127.0.0.1, published: '8000-8001'}",
     [model.Port(target=80, published="8000-8001", host_ip="127.0.0.1")]),
    ("{target: 443}", [model.Port(target=443)]),
])
def test_ports(tmp_path: Path, entry: str, ports: list[model.Port]) -> None:
    assert list(service(tmp_path, f"image: a\nports:\n  - {entry}\n").ports) == ports


def test_expose(tmp_path: Path) -> None:
    svc = service(tmp_path, "image: a\nexpose: ['80', 8080, 53/udp, 9000-9002]\n")
    assert svc.expose == ("80", "8080", "53/udp", "9000-9002")


def test_volumes_short_syntax(tmp_path: Path) -> None:
    project = load_text(tmp_path, """
        services:
          web:
            image: a
            volumes:
              - data:/var/lib/data
              - data:/ro:ro
              - cache:/cache:nocopy
              - /etc/hosts:/etc/hosts:ro
              - ./code:/code
              - ../shared:/shared:rw
              - ~/notes:/notes:z
              - /anonymous
        volumes:
          data:
          cache: {}
    """)
    app = tmp_path / "app"
    assert project.service("web").volumes == (
        model.ServiceVolume(type="volume", source="data", target="/var/lib/data"),
        model.ServiceVolume(type="volume", source="data", target="/ro", read_only=True),
        model.ServiceVolume(type="volume", source="cache", target="/cache", nocopy=True),
        model.ServiceVolume(type="bind", source="/etc/hosts", target="/etc/hosts",
                            read_only=True),
        model.ServiceVolume(type="bind", source=str(app / "code"), target="/code"),
        model.ServiceVolume(type="bind", source=str(tmp_path / "shared"), target="/shared"),
        model.ServiceVolume(type="bind", source=f"{HOME}/notes", target="/notes"),
        model.ServiceVolume(type="volume", target="/anonymous"),
    )
    assert project.volumes == (model.Volume(key="data", name="app_data"),
                               model.Volume(key="cache", name="app_cache"))


def test_volumes_long_syntax(tmp_path: Path) -> None:
    project = load_text(tmp_path, """
        services:
          web:
            image: a
            volumes:
              - type: bind
                source: ./site
                target: /usr/share/nginx/html/
                read_only: true
              - type: bind
                source: /srv
                target: /srv
                bind: {create_host_path: true}
              - type: volume
                source: data
                target: /data
                volume: {nocopy: true}
              - type: volume
                target: /anon
              - type: tmpfs
                target: /run
                tmpfs: {size: 64m}
        volumes:
          data:
    """)
    assert project.service("web").volumes == (
        model.ServiceVolume(type="bind", source=str(tmp_path / "app" / "site"),
                            target="/usr/share/nginx/html", read_only=True,
                            create_host_path=False),
        model.ServiceVolume(type="bind", source="/srv", target="/srv"),
        model.ServiceVolume(type="volume", source="data", target="/data", nocopy=True),
        model.ServiceVolume(type="volume", target="/anon"),
        model.ServiceVolume(type="tmpfs", target="/run", tmpfs_size=64 << 20),
    )


def test_networks_of_services(tmp_path: Path) -> None:
    project = load_text(tmp_path, """
        services:
          web:
            image: a
            networks: [front, back]
          db:
            image: b
            networks:
              back:
                aliases: [database, sql]
                ipv4_address: 172.28.0.5
              default:
          tool:
            image: c
            network_mode: host
          sidecar:
            image: d
            network_mode: service:web
        networks:
          front:
          back:
            ipam:
              config:
                - subnet: 172.28.0.0/16
                  gateway: 172.28.0.1
                  ip_range: 172.28.5.0/24
    """)
    assert project.service("web").networks == (model.ServiceNetwork(name="front"),
                                               model.ServiceNetwork(name="back"))
    assert project.service("db").networks == (
        model.ServiceNetwork(name="back", aliases=("database", "sql"),
                             ipv4_address="172.28.0.5"),
        model.ServiceNetwork(name="default"))
    assert project.service("tool").networks == ()
    assert project.service("tool").network_mode == "host"
    assert project.service("sidecar").network_mode == "service:web"
    assert project.networks == (
        model.Network(key="front", name="app_front"),
        model.Network(key="back", name="app_back", subnet="172.28.0.0/16",
                      gateway="172.28.0.1", ip_range="172.28.5.0/24"),
        model.Network(key="default", name="app_default"))


def test_default_network_only_when_used(tmp_path: Path) -> None:
    project = load_text(tmp_path, """
        services:
          web: {image: a, networks: [front]}
          tool: {image: b, network_mode: none}
        networks:
          front:
    """)
    assert [net.key for net in project.networks] == ["front"]


def test_top_level_networks_and_volumes(tmp_path: Path) -> None:
    project = load_text(tmp_path, """
        services:
          web:
            image: a
            networks: [default, outside, legacy, named]
            volumes: [shared:/s, old:/o, given:/g]
        networks:
          default:
            name: custom_default
            internal: true
            labels: [course=docker]
          outside:
            external: true
          legacy:
            external:
              name: real-name
          named:
            name: exact
            driver: bridge
            labels: {a: b}
        volumes:
          shared:
            external: true
            name: team-data
          old:
            external: {name: old-data}
          given:
            name: given-name
            driver: local
            labels: [keep]
    """)
    assert project.networks == (
        model.Network(key="default", name="custom_default", internal=True,
                      labels=(("course", "docker"),)),
        model.Network(key="outside", name="outside", external=True),
        model.Network(key="legacy", name="real-name", external=True),
        model.Network(key="named", name="exact", labels=(("a", "b"),)))
    assert project.volumes == (
        model.Volume(key="shared", name="team-data", external=True),
        model.Volume(key="old", name="old-data", external=True),
        model.Volume(key="given", name="given-name", labels=(("keep", ""),)))


def test_dependencies(tmp_path: Path) -> None:
    project = load_text(tmp_path, """
        services:
          web:
            image: a
            depends_on:
              db:
                condition: service_healthy
                restart: true
              cache:
                condition: service_started
                required: false
            links: ["db:database", cache]
            volumes_from: [data, "container:other:ro", "data2:rw"]
          db: {image: b, depends_on: [data]}
          cache: {image: c}
          data: {image: d}
          data2: {image: e}
    """)
    web = project.service("web")
    assert web.depends_on == (
        model.Dependency(service="db", condition="service_healthy", restart=True),
        model.Dependency(service="cache", required=False))
    assert web.links == ("db:database", "cache")
    assert web.volumes_from == ("data", "container:other:ro", "data2:rw")
    assert project.service("db").depends_on == (model.Dependency(service="data"),)


def test_healthcheck(tmp_path: Path) -> None:
    svc = service(tmp_path, """
        image: a
        healthcheck:
          test: curl -f http://localhost/
          interval: 1m30s
          timeout: 10s
          start_period: 500ms
          start_interval: 1s
          retries: 3
    """)
    assert svc.healthcheck == model.Healthcheck(
        test=("CMD-SHELL", "curl -f http://localhost/"), interval=90 * 10**9,
        timeout=10 * 10**9, start_period=5 * 10**8, retries=3)
    svc = service(tmp_path, "image: a\nhealthcheck:\n  test: [CMD, pg_isready, -U, pg]\n")
    assert svc.healthcheck == model.Healthcheck(test=("CMD", "pg_isready", "-U", "pg"))
    assert service(tmp_path, "image: a\nhealthcheck: {disable: true}\n").healthcheck == \
        model.Healthcheck(disable=True)
    assert service(tmp_path, "image: a\nhealthcheck: {test: [NONE]}\n").healthcheck == \
        model.Healthcheck(test=("NONE",), disable=True)


@pytest.mark.parametrize("policy", ["no", '"no"', "always", "on-failure", "on-failure:5",
                                    "unless-stopped"])
def test_restart(tmp_path: Path, policy: str) -> None:
    assert service(tmp_path, f"image: a\nrestart: {policy}\n").restart == policy.strip('"')


def test_scalar_keys(tmp_path: Path) -> None:
    svc = service(tmp_path, """
        image: a
        init: true
        privileged: "yes"
        read_only: false
        tty: true
        stdin_open: true
        user: 1000
        working_dir: /app
        hostname: web1
        container_name: my-web
        stop_signal: SIGINT
        stop_grace_period: 1m
        tmpfs: /tmp
        labels: [com.example.a=1, flag]
        dns: 1.1.1.1
        extra_hosts: ["db.local:10.0.0.5", "api=10.0.0.6"]
        cap_add: [NET_ADMIN]
        cap_drop: [ALL]
        security_opt: [no-new-privileges:true]
    """)
    assert (svc.init, svc.privileged, svc.read_only, svc.tty, svc.stdin_open) == \
        (True, True, False, True, True)
    assert (svc.user, svc.working_dir, svc.hostname, svc.container_name, svc.stop_signal) == \
        ("1000", "/app", "web1", "my-web", "SIGINT")
    assert svc.stop_grace_period == 60 * 10**9
    assert svc.tmpfs == ("/tmp",)
    assert svc.labels == (("com.example.a", "1"), ("flag", ""))
    assert svc.dns == ("1.1.1.1",)
    assert svc.extra_hosts == ("db.local:10.0.0.5", "api:10.0.0.6")
    assert (svc.cap_add, svc.cap_drop, svc.security_opt) == \
        (("NET_ADMIN",), ("ALL",), ("no-new-privileges:true",))
    svc = service(tmp_path, """
        image: a
        tmpfs: [/run, /tmp:size=64m]
        labels: {b: 2, a: 1}
        dns: [8.8.8.8, 9.9.9.9]
        extra_hosts: {db.local: 10.0.0.5}
    """)
    assert svc.tmpfs == ("/run", "/tmp:size=64m")
    assert svc.labels == (("b", "2"), ("a", "1"))
    assert svc.dns == ("8.8.8.8", "9.9.9.9")
    assert svc.extra_hosts == ("db.local:10.0.0.5",)


def test_resources(tmp_path: Path) -> None:
    svc = service(tmp_path, """
        image: a
        cpuset: 0-1
        cpu_shares: 512
        cpus: "0.5"
        mem_limit: 512m
        mem_reservation: 1gb
        memswap_limit: 1073741824
        pids_limit: 100
        ulimits:
          nproc: 65535
          nofile: {soft: 1024, hard: 2048}
    """)
    assert (svc.cpuset, svc.cpu_shares, svc.cpus) == ("0-1", 512, 0.5)
    assert (svc.mem_limit, svc.mem_reservation, svc.memswap_limit) == \
        (512 << 20, 1 << 30, 1 << 30)
    assert svc.pids_limit == 100
    assert svc.ulimits == ("nproc=65535:65535", "nofile=1024:2048")


def test_deploy_and_scale(tmp_path: Path) -> None:
    svc = service(tmp_path, """
        image: a
        deploy:
          mode: replicated
          replicas: 3
          resources:
            limits: {cpus: '0.25', memory: 64M, pids: 50}
            reservations: {memory: 32M}
          restart_policy: {condition: on-failure, max_attempts: 4}
          placement: {constraints: []}
    """)
    assert (svc.replicas, svc.cpus, svc.mem_limit, svc.pids_limit, svc.mem_reservation) == \
        (3, 0.25, 64 << 20, 50, 32 << 20)
    assert svc.restart == "on-failure:4"
    svc = service(tmp_path, "image: a\nscale: 2\nrestart: always\n"
                  "deploy: {restart_policy: {condition: none}}\n")
    assert (svc.replicas, svc.restart) == (2, "always")
    svc = service(tmp_path, "image: a\nmem_limit: 1g\ndeploy:\n  resources:\n"
                  "    limits: {memory: 1024m}\n")
    assert svc.mem_limit == 1 << 30  # the same value twice is no conflict


def test_interpolation_in_values(tmp_path: Path) -> None:
    svc = service(tmp_path, """
        image: "${REGISTRY:-docker.io}/app:${TAG}"
        ports: ["${PORT}:80"]
        environment: [PRICE=5$$]
        deploy: {replicas: "${N}"}
    """, environ={"TAG": "v2", "PORT": "8081", "N": "2"})
    assert svc.image == "docker.io/app:v2"
    assert svc.ports == (model.Port(target=80, published="8081"),)
    assert svc.environment == (("PRICE", "5$"),)
    assert svc.replicas == 2


def test_unset_variable_warns_once(tmp_path: Path) -> None:
    path = write(tmp_path / "app", "services:\n  web:\n    image: a:${TAG}\n"
                 "    labels: [t=$TAG]\n")
    warnings: list[str] = []
    project = load([str(path)], environ={}, warn=warnings.append)
    assert project.service("web").image == "a:"
    assert warnings == ['The "TAG" variable is not set. Defaulting to a blank string.']


# -- .env and the project name -----------------------------------------------------------

def test_dotenv_feeds_interpolation_and_pass_through(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(app, "TAG=from-dotenv\nPASS=dotenv\nBOTH=dotenv\n", ".env")
    svc = service(tmp_path, """
        image: app:${TAG}
        environment: [PASS, BOTH]
    """, environ={"BOTH": "process"})
    assert svc.image == "app:from-dotenv"
    assert svc.environment == (("PASS", "dotenv"), ("BOTH", "process"))  # the process wins


def test_env_files_replace_the_default_dotenv(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(app, "TAG=default\n", ".env")
    other = write(tmp_path, "TAG=other\n", "other.env")
    path = write(app, "services:\n  web:\n    image: app:${TAG}\n")
    project = load([str(path)], env_files=[str(other)], environ={}, warn=None)
    assert project.service("web").image == "app:other"
    assert project.environment == {"TAG": "other"}


@pytest.mark.parametrize("kwargs, environ, top, expected", [
    ({"project_name": "given"}, {"COMPOSE_PROJECT_NAME": "env"}, "name: top\n", "given"),
    ({}, {"COMPOSE_PROJECT_NAME": "env"}, "name: top\n", "env"),
    ({}, {}, "name: top-level_1\n", "top-level_1"),
    ({}, {}, "name: ${NAME:-interp}\n", "interp"),
    ({}, {}, "", "myappv2"),
])
def test_project_name(tmp_path: Path, kwargs, environ, top, expected) -> None:
    path = write(tmp_path / "My App.v2", top + "services:\n  web:\n    image: a\n")
    project = load([str(path)], environ=environ, warn=None, **kwargs)
    assert project.name == expected
    assert project.networks[0].name == f"{expected}_default"


def test_project_name_from_dotenv(tmp_path: Path) -> None:
    write(tmp_path / "app", "COMPOSE_PROJECT_NAME=fromdotenv\n", ".env")
    assert load_text(tmp_path, "services: {web: {image: a}}\n").name == "fromdotenv"


@pytest.mark.parametrize("name", ["My_App", "-dash", "with space", ""])
def test_invalid_explicit_project_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ComposeError) as err:
        load_text(tmp_path, "services: {web: {image: a}}\n", project_name=name)
    assert str(err.value) == (
        f'invalid project name "{name}": must consist only of lowercase alphanumeric '
        "characters, hyphens, and underscores as well as start with a letter or number")
    assert err.value.exit_code == 1


def test_project_directory_resolves_relative_paths(tmp_path: Path) -> None:
    path = write(tmp_path / "files", "services:\n  web:\n    build: ./src\n")
    project = load([str(path)], project_directory=str(tmp_path / "elsewhere"), environ={},
                   warn=None)
    assert project.working_dir == str(tmp_path / "elsewhere")
    assert project.name == "elsewhere"
    assert project.service("web").build.context == str(tmp_path / "elsewhere" / "src")


# -- finding files ------------------------------------------------------------------------

def test_file_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = tmp_path / "app"
    write(app, "services: {old: {image: a}}\n", "docker-compose.yml")
    write(app, "services: {new: {image: a}}\n", "compose.yaml")
    (app / "sub" / "dir").mkdir(parents=True)
    monkeypatch.chdir(app / "sub" / "dir")
    assert find_compose_file(os.getcwd()) == str(app / "compose.yaml")
    project = load(environ={}, warn=None)
    assert [svc.name for svc in project.services] == ["new"]
    assert project.working_dir == str(app)
    (app / "compose.yaml").unlink()
    assert [svc.name for svc in load(environ={}, warn=None).services] == ["old"]


def test_a_found_file_brings_its_override(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    app = tmp_path / "app"
    write(app, "services: {web: {image: a, environment: {MODE: prod}}}\n", "compose.yaml")
    write(app, "services: {web: {environment: {MODE: dev}}, debug: {image: b}}\n",
          "compose.override.yaml")
    monkeypatch.chdir(app)
    project = load(environ={}, warn=None)
    assert [svc.name for svc in project.services] == ["web", "debug"]
    assert dict(project.service("web").environment)["MODE"] == "dev"
    assert project.files == (str(app / "compose.yaml"), str(app / "compose.override.yaml"))
    # Named with -f, a file comes alone.
    assert [s.name for s in load(["compose.yaml"], environ={}, warn=None).services] == ["web"]


def test_no_file_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if find_compose_file(str(tmp_path)):
        pytest.skip(f"a compose file sits in a parent of {tmp_path}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ComposeError) as err:
        load(environ={}, warn=None)
    assert str(err.value) == "no configuration file provided: not found"


def test_compose_file_variable_and_stdin(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    a = write(tmp_path / "app", "services: {web: {image: a}}\n", "a.yaml")
    b = write(tmp_path / "app", "services: {web: {image: b}}\n", "b.yaml")
    project = load(environ={"COMPOSE_FILE": f"{a}:{b}"}, warn=None)
    assert project.service("web").image == "b"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("services: {web: {image: piped}}\n"))
    project = load(["-"], environ={}, warn=None)
    assert project.service("web").image == "piped"
    assert project.working_dir == str(tmp_path)
    assert project.files == ("-",)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ComposeError) as err:
        load([str(tmp_path / "nope.yaml")], environ={}, warn=None)
    assert str(err.value) == f"open {tmp_path / 'nope.yaml'}: no such file or directory"


# -- merging several files ---------------------------------------------------------------

def test_merge_two_files(tmp_path: Path) -> None:
    app = tmp_path / "app"
    base = write(app, """
        services:
          web:
            image: web:1
            build: .
            command: ["serve"]
            ports: ["80:80"]
            expose: ["9000"]
            environment: [A=1, B=1]
            labels: {x: "1"}
            volumes: [data:/data, ./conf:/etc/app]
            depends_on: [db]
            networks: [front]
          db:
            image: postgres
        networks:
          front:
        volumes:
          data:
    """, "compose.yaml")
    override = write(app, """
        services:
          web:
            image: web:2
            build: {dockerfile: Dockerfile.dev}
            command: serve --debug
            ports: ["80:80", "443:443"]
            expose: ["9001"]
            environment: {B: 2, C: 3}
            labels: [y=2]
            volumes: [./dev-data:/data]
            depends_on:
              cache: {condition: service_started}
            networks:
              front: {aliases: [www]}
          cache:
            image: redis
        networks:
          front:
            internal: true
    """, "compose.override.yaml")
    project = load([str(base), str(override)], environ={}, warn=None)
    web = project.service("web")
    assert web.image == "web:2"
    assert web.build == model.Build(context=str(app), dockerfile="Dockerfile.dev")
    assert web.command == ("serve", "--debug")
    assert web.ports == (model.Port(target=80, published="80"),
                         model.Port(target=443, published="443"))
    assert web.expose == ("9000", "9001")
    assert web.environment == (("A", "1"), ("B", "2"), ("C", "3"))
    assert web.labels == (("x", "1"), ("y", "2"))
    assert web.volumes == (
        model.ServiceVolume(type="bind", source=str(app / "conf"), target="/etc/app"),
        model.ServiceVolume(type="bind", source=str(app / "dev-data"), target="/data"))
    assert web.depends_on == (model.Dependency(service="db"), model.Dependency(service="cache"))
    assert web.networks == (model.ServiceNetwork(name="front", aliases=("www",)),)
    assert [svc.name for svc in project.services] == ["web", "db", "cache"]
    assert project.network("front").internal
    assert project.files == (str(base), str(override))


def test_error_in_override_names_the_override(tmp_path: Path) -> None:
    app = tmp_path / "app"
    base = write(app, "services:\n  web:\n    image: a\n", "compose.yaml")
    override = write(app, "services:\n  web:\n    ports: oops\n", "override.yaml")
    with pytest.raises(ComposeError) as err:
        load([str(base), str(override)], environ={}, warn=None)
    assert str(err.value) == f'{override}:3: service "web": ports must be a list'


def test_services_may_come_from_another_file(tmp_path: Path) -> None:
    app = tmp_path / "app"
    base = write(app, "volumes:\n  data:\n", "volumes.yaml")
    other = write(app, "services:\n  web: {image: a, volumes: [data:/d]}\n", "services.yaml")
    project = load([str(base), str(other)], environ={}, warn=None)
    assert project.service("web").volumes[0].source == "data"


# -- profiles ----------------------------------------------------------------------------

PROFILES = """
    services:
      web: {image: a, depends_on: [db]}
      db: {image: b}
      debug: {image: c, profiles: [debug], depends_on: [db, helper]}
      helper: {image: d, profiles: [tools]}
      optional: {image: e, profiles: [extra]}
      client: {image: f, depends_on: {optional: {required: false}}}
"""


def names(project: model.Project) -> list[str]:
    return [svc.name for svc in project.services]


def test_profiles(tmp_path: Path) -> None:
    assert names(load_text(tmp_path, PROFILES)) == ["web", "db", "client"]
    assert load_text(tmp_path, PROFILES).service("client").depends_on == ()
    assert names(load_text(tmp_path, PROFILES, profiles=["debug", "tools"])) == \
        ["web", "db", "debug", "helper", "client"]
    assert names(load_text(tmp_path, PROFILES, environ={"COMPOSE_PROFILES": "extra, tools"})) \
        == ["web", "db", "helper", "optional", "client"]
    assert load_text(tmp_path, PROFILES, profiles=["extra"]).service("client").depends_on == \
        (model.Dependency(service="optional", required=False),)
    assert names(load_text(tmp_path, PROFILES, profiles=["*"])) == \
        ["web", "db", "debug", "helper", "optional", "client"]
    # a service named on the command line comes with what it needs
    assert names(load_text(tmp_path, PROFILES, services=["debug"])) == \
        ["web", "db", "debug", "helper", "client"]


def test_profile_dependency_disabled(tmp_path: Path) -> None:
    with pytest.raises(ComposeError) as err:
        load_text(tmp_path, PROFILES, profiles=["debug"])
    assert str(err.value) == ('service "helper" is required by "debug" but is disabled: '
                              "enable one of its profiles [tools]")


# -- dependency order --------------------------------------------------------------------

ORDER = """
    services:
      front: {image: a, depends_on: [api]}
      api: {image: b, depends_on: [db, cache], links: [auth]}
      cache: {image: c}
      auth: {image: d, network_mode: "service:db"}
      db: {image: e, volumes_from: [data]}
      data: {image: f}
      lone: {image: g}
"""


def test_start_and_stop_order(tmp_path: Path) -> None:
    project = load_text(tmp_path, ORDER)
    assert start_order(project) == ["cache", "data", "db", "auth", "api", "front", "lone"]
    assert stop_order(project) == ["lone", "front", "api", "auth", "db", "data", "cache"]
    assert start_order(project, ["api"]) == ["cache", "data", "db", "auth", "api"]
    assert start_order(project, ["lone", "db"]) == ["data", "db", "lone"]
    with pytest.raises(ComposeError, match="^no such service: nope$"):
        start_order(project, ["nope"])


# -- compose config ----------------------------------------------------------------------

RICH = """
    name: rich
    x-common: &common
      restart: on-failure:3
    services:
      web:
        <<: *common
        build:
          context: ./web
          args: {VERSION: "1.0"}
          target: prod
          labels: [stage=prod]
        command: gunicorn -b 0.0.0.0:8000 'app:create()'
        entrypoint: [/entry.sh]
        environment: {PRICE: "5$$", B: "yes", EMPTY: ""}
        ports: ["127.0.0.1:8000:8000", "9000-9001:9000-9001/udp", "7000-7010:70", 81]
        expose: [8000]
        volumes:
          - data:/data:ro
          - ./static:/static
          - type: tmpfs
            target: /cache
            tmpfs: {size: 1m}
          - type: bind
            source: /var/run
            target: /host-run
          - cache:/nocopy:nocopy
        networks:
          front: {aliases: [www], ipv4_address: 10.5.0.9}
          back:
        depends_on:
          db: {condition: service_healthy, restart: true}
        links: [db:database]
        healthcheck:
          test: [CMD, curl, -f, http://localhost]
          interval: 90s
          timeout: 500ms
          retries: 2
        labels: {b: "2", a: "1"}
        ulimits: {nofile: {soft: 10, hard: 20}, nproc: 30}
        stop_grace_period: 1m30s
        init: true
        user: "1000:1000"
        extra_hosts: [db.local:10.0.0.1]
        tmpfs: [/tmp]
        cap_add: [NET_ADMIN]
        dns: [1.1.1.1]
        mem_limit: 256m
        cpus: 1.5
        pids_limit: 64
        profiles: [web]
        deploy: {replicas: 2}
      db:
        image: postgres:16
        healthcheck: {disable: true}
        volumes_from: ["container:backup:ro"]
        network_mode: none
        stop_signal: SIGINT
    networks:
      front:
        ipam: {config: [{subnet: 10.5.0.0/16, gateway: 10.5.0.1}]}
      back:
        external: true
        name: shared-back
    volumes:
      data:
        labels: {keep: "yes"}
      cache:
        external: true
"""


def test_to_document_shape(tmp_path: Path) -> None:
    project = load_text(tmp_path, RICH, profiles=["web"])
    doc = to_document(project)
    assert list(doc) == ["name", "services", "networks", "volumes"]
    web = doc["services"]["web"]
    assert list(web) == sorted(web)
    assert web["environment"] == {"PRICE": "5$$", "B": "yes", "EMPTY": ""}
    assert web["ports"][0] == {"mode": "ingress", "host_ip": "127.0.0.1", "target": 8000,
                               "published": "8000", "protocol": "tcp"}
    assert web["volumes"][1] == {"type": "bind", "source": str(tmp_path / "app" / "static"),
                                 "target": "/static", "bind": {"create_host_path": True}}
    assert web["healthcheck"] == {"test": ["CMD", "curl", "-f", "http://localhost"],
                                  "interval": "1m30s", "timeout": "500ms", "retries": 2}
    assert web["depends_on"] == {"db": {"condition": "service_healthy", "required": True,
                                        "restart": True}}
    assert web["networks"] == {"front": {"aliases": ["www"], "ipv4_address": "10.5.0.9"},
                               "back": None}
    assert doc["networks"]["back"] == {"name": "shared-back", "external": True}
    assert doc["volumes"]["data"] == {"name": "rich_data", "driver": "local",
                                      "labels": {"keep": "yes"}}


def test_config_round_trip(tmp_path: Path) -> None:
    project = load_text(tmp_path, RICH, profiles=["web"])
    text = dump_yaml(to_document(project))
    again_path = tmp_path / "rendered" / "compose.yaml"
    again_path.parent.mkdir()
    again_path.write_text(text)
    again = load([str(again_path)], project_directory=project.working_dir,
                 environ=dict(project.environment), profiles=["web"], warn=None)
    assert dataclasses.replace(again, files=project.files) == project
    assert dump_yaml(to_document(again)) == text
