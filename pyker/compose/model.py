"""The compose project after loading: one normalised, interpolated, validated value.

Every syntax a compose file allows (short and long forms, lists and maps, version 2.x, 3.x
and the compose specification) is normalised by :mod:`pyker.compose.normalize` into these
frozen dataclasses, so that the rest of pyker (``up``, ``config``, the configuration hash
that decides what ``up`` recreates) reads one shape only. Paths are absolute, durations in
nanoseconds and sizes in bytes, as Docker's API takes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Build:
    context: str                                 # absolute directory
    dockerfile: str = "Dockerfile"               # as written: relative to the context
    args: tuple[tuple[str, str], ...] = ()       # build args with a value, in file order
    target: str = ""
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Port:
    target: int                  # the container's port
    published: str = ""          # host port or range ("8080", "8000-8010"); "" = random
    host_ip: str = ""
    protocol: str = "tcp"

    def publish_flag(self) -> str:
        """The same binding as ``run -p`` takes it."""
        host = f"{self.host_ip}:" if self.host_ip else ""
        if self.published:
            return f"{host}{self.published}:{self.target}/{self.protocol}"
        return f"{host}:{self.target}/{self.protocol}" if host else f"{self.target}/{self.protocol}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceVolume:
    type: str                    # volume, bind or tmpfs
    target: str                  # absolute path in the container
    source: str = ""             # a key of Project.volumes, an absolute host path, or ""
    read_only: bool = False
    create_host_path: bool = True  # bind: short syntax creates a missing source (Docker's -v)
    nocopy: bool = False
    tmpfs_size: int = 0          # bytes; 0 = tmpfs's default


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceNetwork:
    name: str                    # a key of Project.networks
    aliases: tuple[str, ...] = ()
    ipv4_address: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dependency:
    service: str
    condition: str = "service_started"  # or service_healthy, service_completed_successfully
    restart: bool = False
    required: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Healthcheck:
    test: tuple[str, ...] = ()   # ("CMD", ...), ("CMD-SHELL", "..."), ("NONE",); () = image's
    interval: int = 0            # nanoseconds; 0 = Docker's default
    timeout: int = 0
    start_period: int = 0
    retries: int = 0
    disable: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    name: str
    image: str = ""                          # "" only with build: then <project>-<service>
    build: Build | None = None
    command: tuple[str, ...] | None = None   # None: the image's CMD
    entrypoint: tuple[str, ...] | None = None
    environment: tuple[tuple[str, str], ...] = ()  # env_file then environment, resolved
    ports: tuple[Port, ...] = ()
    expose: tuple[str, ...] = ()             # "80", "80/udp"
    volumes: tuple[ServiceVolume, ...] = ()
    volumes_from: tuple[str, ...] = ()       # "service", "container:name", with ":ro"
    networks: tuple[ServiceNetwork, ...] = ()  # () only with network_mode
    network_mode: str = ""                   # none, host, service:NAME, container:NAME
    depends_on: tuple[Dependency, ...] = ()
    links: tuple[str, ...] = ()              # "service[:alias]"
    healthcheck: Healthcheck | None = None
    restart: str = "no"
    init: bool = False
    user: str = ""
    working_dir: str = ""
    hostname: str = ""
    container_name: str = ""
    tmpfs: tuple[str, ...] = ()              # as --tmpfs takes them
    labels: tuple[tuple[str, str], ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    privileged: bool = False
    read_only: bool = False
    tty: bool = False
    stdin_open: bool = False
    dns: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()        # "name:ip"
    cpuset: str = ""
    cpu_shares: int = 0
    cpus: float = 0.0
    mem_limit: int = 0                       # bytes (deploy.resources.limits.memory too)
    mem_reservation: int = 0
    memswap_limit: int = 0
    pids_limit: int = 0
    ulimits: tuple[str, ...] = ()            # as --ulimit takes them: "nofile=1024:2048"
    stop_signal: str = ""
    stop_grace_period: int = 0               # nanoseconds; 0 = 10 s
    replicas: int = 1                        # deploy.replicas (scale)
    profiles: tuple[str, ...] = ()
    log_driver: str = ""                     # logging.driver; "" = the daemon's default
    log_opts: tuple[tuple[str, str], ...] = ()  # logging.options, values as text


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    key: str                     # the name under top-level networks:
    name: str                    # the engine's name: <project>_<key>, or as given/external
    external: bool = False
    driver: str = "bridge"
    internal: bool = False
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume:
    key: str
    name: str                    # <project>_<key>, or as given/external
    external: bool = False
    driver: str = "local"
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    name: str                          # lower-case [a-z0-9_-], as Compose v2 requires
    working_dir: str                   # absolute: the project directory
    files: tuple[str, ...]             # the compose files read, absolute
    services: tuple[Service, ...]      # in file order
    networks: tuple[Network, ...] = ()  # "default" included when a service uses it
    volumes: tuple[Volume, ...] = ()
    environment: dict[str, str] = field(default_factory=dict, hash=False)  # for interpolation

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)

    def network(self, key: str) -> Network:
        for net in self.networks:
            if net.key == key:
                return net
        raise KeyError(key)

    def volume(self, key: str) -> Volume:
        for vol in self.volumes:
            if vol.key == key:
                return vol
        raise KeyError(key)
