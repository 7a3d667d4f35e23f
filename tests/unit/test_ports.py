"""Published ports: Docker's -p/--expose/-P syntax and messages (go-connections nat, docker/cli
opts), host port choice, and the docker port / ps / inspect renderings, as exact values.
port_in_use binds real sockets on 127.0.0.1 only."""

from __future__ import annotations

import errno
import os
import socket

import pytest

from pyker.errors import NetworkError, SpecError, UsageError
from pyker.network.ports import (DEFAULT_PORT_RANGE, PortBinding, allocate, exposed_ports,
                                 local_port_range, parse_publish, port_in_use, publish_all)
from pyker.network.ports_display import (PortSummary, bindings_from_map, displayable_ports,
                                         format_port_lines, format_ps_ports, inspect_ports,
                                         port_bindings_config)


def pb(container_port: int, proto: str = "tcp", host_ip: str = "", host_port: int = 0,
       host_port_end: int = 0) -> PortBinding:
    return PortBinding(container_port=container_port, proto=proto, host_ip=host_ip,
                       host_port=host_port, host_port_end=host_port_end)


# --- parse_publish ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("80", [pb(80)]),
    ("8080:80", [pb(80, host_port=8080)]),
    ("0:80", [pb(80)]),
    ("127.0.0.1:8080:80", [pb(80, host_ip="127.0.0.1", host_port=8080)]),
    ("127.0.0.1::80", [pb(80, host_ip="127.0.0.1")]),
    ("0.0.0.0:8080:80", [pb(80, host_ip="0.0.0.0", host_port=8080)]),
    ("[::ffff:10.0.0.1]:8080:80", [pb(80, host_ip="10.0.0.1", host_port=8080)]),
    ("53:53/udp", [pb(53, "udp", host_port=53)]),
    ("53/UDP", [pb(53, "udp")]),
    ("9000/sctp", [pb(9000, "sctp")]),
    ("80/", [pb(80)]),
    ("8000-8002:80-82", [pb(80, host_port=8000), pb(81, host_port=8001),
                         pb(82, host_port=8002)]),
    ("80-82", [pb(80), pb(81), pb(82)]),
    ("10.0.0.1:8000-8002:80-82/udp", [pb(80, "udp", "10.0.0.1", 8000),
                                      pb(81, "udp", "10.0.0.1", 8001),
                                      pb(82, "udp", "10.0.0.1", 8002)]),
    # a host range for one container port: any one free port of the range
    ("8000-8010:80", [pb(80, host_port=8000, host_port_end=8010)]),
    ("8000-8000:80", [pb(80, host_port=8000)]),
    # docker/cli's long syntax
    ("target=80,published=8080,protocol=udp", [pb(80, "udp", host_port=8080)]),
    ("target=80", [pb(80)]),
    ("published=8080,target=80,mode=host", [pb(80, host_port=8080)]),
])
def test_parse_publish(text, expected):
    assert parse_publish(text) == expected


@pytest.mark.parametrize("text, message", [
    ("abc", "invalid containerPort: abc"),
    ("8080:abc", "invalid containerPort: abc"),
    ("8080:70000", "invalid containerPort: 70000"),
    ("8080:-1", "invalid containerPort: -1"),
    ("90-80", "invalid containerPort: 90-80"),
    ("0", "invalid containerPort: 0"),
    ("70000:80", "invalid hostPort: 70000"),
    ("x:80", "invalid hostPort: x"),
    ("8010-8000:80", "invalid hostPort: 8010-8000"),
    ("80/xyz", "invalid proto: xyz"),
    ("80/TCP/x", "invalid proto: tcp/x"),
    ("8080:", "no port specified: 8080:<empty>"),
    ("", "no port specified: <empty>"),
    ("/udp", "no port specified: /udp<empty>"),
    ("8000-8001:80-82", "invalid ranges specified for container and host Ports: 80-82 and "
                        "8000-8001"),
    ("localhost:80:80", "invalid IP address: localhost"),
    ("1.2.3:80:80", "invalid IP address: 1.2.3"),
    ("[::1]:80:80", "IPv6 host address not supported: ::1 (pyker publishes ports on IPv4 "
                    "only)"),
    ("::1:8080:80", "IPv6 host address not supported: ::1 (pyker publishes ports on IPv4 "
                    "only)"),
    ("::::80", "IPv6 host address not supported: :: (pyker publishes ports on IPv4 only)"),
    ("published=8080", "missing required field 'target' in publish opts: published=8080"),
    ("target=80,udp", "invalid publish opts format (should be name=value but got 'udp')"),
])
def test_parse_publish_errors_are_dockers(text, message):
    with pytest.raises(UsageError) as err:
        parse_publish(text)
    assert str(err.value) == message
    assert err.value.exit_code == 125


# --- exposed ports and -P --------------------------------------------------------------------

def test_exposed_ports_merge_image_and_flags_in_port_order():
    image = {"80/tcp": {}, "443/tcp": {}, "53/udp": {}}
    assert exposed_ports(image, ["8000-8002", "53/udp", "80", "5353/UDP"]) == [
        (53, "udp"), (80, "tcp"), (443, "tcp"), (5353, "udp"),
        (8000, "tcp"), (8001, "tcp"), (8002, "tcp")]


def test_exposed_ports_take_the_image_spec_list_form():
    assert exposed_ports(("8080/tcp", "9090"), ()) == [(8080, "tcp"), (9090, "tcp")]


@pytest.mark.parametrize("flag, message", [
    ("80:80", "invalid port format for --expose: 80:80"),
    ("abc", 'invalid range format for --expose: abc, error: strconv.ParseUint: parsing "abc": '
            "invalid syntax"),
    ("70000", 'invalid range format for --expose: 70000, error: strconv.ParseUint: parsing '
              '"70000": value out of range'),
    ("90-80", "invalid range format for --expose: 90-80, error: invalid range specified for "
              "port: 90-80"),
    ("/udp", "invalid range format for --expose: /udp, error: empty string specified for ports"),
    ("80/xyz", "invalid proto: xyz"),
])
def test_expose_flag_errors_are_dockers(flag, message):
    with pytest.raises(UsageError) as err:
        exposed_ports({}, [flag])
    assert str(err.value) == message


def test_a_bad_image_exposed_port_is_a_spec_error():
    with pytest.raises(SpecError) as err:
        exposed_ports({"http/tcp": {}})
    assert str(err.value) == ('image config: ExposedPorts: invalid port "http/tcp": '
                              'strconv.ParseUint: parsing "http": invalid syntax')


def test_publish_all_skips_ports_that_p_already_binds():
    exposed = [(80, "tcp"), (443, "tcp"), (53, "udp")]
    assert publish_all(exposed) == [pb(80), pb(443), pb(53, "udp")]
    assert publish_all(exposed, parse_publish("8080:80")) == [pb(443), pb(53, "udp")]


# --- the ephemeral range ---------------------------------------------------------------------

def test_local_port_range_reads_the_kernel_file(tmp_path):
    f = tmp_path / "ip_local_port_range"
    f.write_text("40000\t50000\n")
    assert local_port_range(str(f)) == (40000, 50000)
    f.write_text("nonsense\n")
    assert local_port_range(str(f)) == DEFAULT_PORT_RANGE == (32768, 60999)
    f.write_text("50000\t40000\n")
    assert local_port_range(str(f)) == DEFAULT_PORT_RANGE
    assert local_port_range(str(tmp_path / "missing")) == DEFAULT_PORT_RANGE


def test_local_port_range_of_this_host():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        expected = tuple(int(x) for x in f.read().split())
    assert local_port_range() == expected


# --- allocate --------------------------------------------------------------------------------

def never(ip: str, port: int, proto: str) -> bool:
    return False


def test_allocate_picks_free_ports_from_the_range_in_container_port_order():
    calls = []

    def in_use(ip, port, proto):
        calls.append((ip, port, proto))
        return (port, proto) == (32768, "tcp")  # the host holds 32768/tcp, not 32768/udp

    got = allocate([pb(81), pb(80), pb(53, "udp")], in_use=in_use, port_range=(32768, 60999))
    # Sorted by (container port, proto) as Docker sorts them; returned in the order given.
    assert got == [pb(81, host_port=32770), pb(80, host_port=32769),
                   pb(53, "udp", host_port=32768)]
    assert calls == [("", 32768, "udp"), ("", 32768, "tcp"), ("", 32769, "tcp"),
                     ("", 32770, "tcp")]


def test_allocate_reserves_fixed_ports_before_choosing_others():
    got = allocate([pb(80), pb(81, host_port=32768)], in_use=never, port_range=(32768, 32770))
    assert got == [pb(80, host_port=32769), pb(81, host_port=32768)]


def test_allocate_keeps_ips_and_protocols_apart():
    bindings = [pb(53, "tcp", host_port=53), pb(53, "udp", host_port=53),
                pb(80, host_ip="127.0.0.1", host_port=8080),
                pb(81, host_ip="10.0.0.1", host_port=8080)]
    assert allocate(bindings, in_use=never, port_range=(32768, 60999)) == bindings


@pytest.mark.parametrize("bindings, message", [
    ([pb(80, host_port=8080), pb(81, host_port=8080)],
     "Bind for 0.0.0.0:8080 failed: port is already allocated"),
    ([pb(80, host_ip="127.0.0.1", host_port=8080), pb(81, host_port=8080)],
     "Bind for 0.0.0.0:8080 failed: port is already allocated"),
    ([pb(80, host_port=8080), pb(81, host_ip="127.0.0.1", host_port=8080)],
     "Bind for 127.0.0.1:8080 failed: port is already allocated"),
])
def test_allocate_refuses_one_port_twice(bindings, message):
    with pytest.raises(NetworkError) as err:
        allocate(bindings, in_use=never, port_range=(32768, 60999))
    assert str(err.value) == message


def test_allocate_refuses_a_port_the_host_uses():
    with pytest.raises(NetworkError) as err:
        allocate([pb(80, host_ip="127.0.0.1", host_port=8080)],
                 in_use=lambda ip, port, proto: (ip, port, proto) == ("127.0.0.1", 8080, "tcp"),
                 port_range=(32768, 60999))
    assert str(err.value) == "Bind for 127.0.0.1:8080 failed: port is already allocated"


def test_allocate_takes_one_free_port_of_a_host_range():
    got = allocate([pb(80, host_port=8000, host_port_end=8002), pb(81, host_port=8000)],
                   in_use=lambda ip, port, proto: port == 8001, port_range=(32768, 60999))
    assert got == [pb(80, host_port=8002), pb(81, host_port=8000)]


def test_allocate_reports_an_exhausted_range():
    with pytest.raises(NetworkError) as err:
        allocate([pb(80, host_port=8000, host_port_end=8002)],
                 in_use=lambda *a: True, port_range=(32768, 60999))
    assert str(err.value) == "Bind for 0.0.0.0:8000-8002 failed: all ports are allocated"
    with pytest.raises(NetworkError) as err:
        allocate([pb(80), pb(81), pb(82)], in_use=never, port_range=(32768, 32769))
    assert str(err.value) == ("no free host port in 32768-32769 for 0.0.0.0/tcp: "
                              "all ports are allocated")


# --- port_in_use, with real sockets on 127.0.0.1 ---------------------------------------------

def test_port_in_use_sees_a_listening_tcp_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_in_use("127.0.0.1", port, "tcp") is True
        assert port_in_use("", port, "tcp") is True  # 0.0.0.0 overlaps 127.0.0.1
        assert port_in_use("127.0.0.1", port, "udp") is False
    assert port_in_use("127.0.0.1", port, "tcp") is False


def test_port_in_use_sees_a_bound_udp_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert port_in_use("127.0.0.1", port, "udp") is True
        assert port_in_use("", port, "udp") is True
    assert port_in_use("127.0.0.1", port, "udp") is False


def test_port_in_use_of_sctp_answers_without_failing():
    assert port_in_use("127.0.0.1", free_tcp_port(), "sctp") is False


def test_port_in_use_names_an_address_that_is_not_the_hosts():
    with open("/proc/sys/net/ipv4/ip_nonlocal_bind") as f:
        if f.read().strip() != "0":
            pytest.skip("net.ipv4.ip_nonlocal_bind is set: any address can be bound")
    with pytest.raises(NetworkError) as err:
        port_in_use("192.0.2.1", 8080, "tcp")  # TEST-NET-1: bind(2) only, nothing is sent
    assert str(err.value) == ("listen tcp4 192.0.2.1:8080: bind: "
                              f"{os.strerror(errno.EADDRNOTAVAIL)}")


def test_allocate_with_the_real_check_refuses_a_bound_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(NetworkError) as err:
            allocate([pb(80, host_ip="127.0.0.1", host_port=port)], in_use=port_in_use,
                     port_range=DEFAULT_PORT_RANGE)
        assert str(err.value) == f"Bind for 127.0.0.1:{port} failed: port is already allocated"
        with pytest.raises(NetworkError):
            allocate([pb(80, host_ip="127.0.0.1")], in_use=port_in_use, port_range=(port, port))


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- inspect, docker port, docker ps ---------------------------------------------------------

WEB = [pb(80, host_port=8080), pb(80, host_ip="127.0.0.1", host_port=8081),
       pb(8443, host_port=8443)]


def test_inspect_ports_is_dockers_network_settings_shape():
    assert inspect_ports(WEB, [(443, "tcp"), (80, "tcp")]) == {
        "443/tcp": None,
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                   {"HostIp": "127.0.0.1", "HostPort": "8081"}],
        "8443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8443"}],
    }
    assert list(inspect_ports(WEB, [(443, "tcp")])) == ["443/tcp", "80/tcp", "8443/tcp"]
    with pytest.raises(ValueError):
        inspect_ports([pb(80)])


def test_port_bindings_config_keeps_what_was_asked_and_reads_back():
    asked = [pb(80), pb(81, host_ip="127.0.0.1", host_port=8081),
             pb(82, "udp", host_port=8000, host_port_end=8010)]
    config = port_bindings_config(asked)
    assert config == {"80/tcp": [{"HostIp": "", "HostPort": ""}],
                      "81/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8081"}],
                      "82/udp": [{"HostIp": "", "HostPort": "8000-8010"}]}
    assert bindings_from_map(config) == asked
    assert bindings_from_map(inspect_ports(WEB, [(443, "tcp")])) == [
        pb(80, host_ip="0.0.0.0", host_port=8080), pb(80, host_ip="127.0.0.1", host_port=8081),
        pb(8443, host_ip="0.0.0.0", host_port=8443)]


def test_docker_port_lines_in_natural_order():
    ports = inspect_ports(WEB + [pb(9, "udp", host_port=9999)], [(443, "tcp")])
    assert format_port_lines(ports) == [
        "9/udp -> 0.0.0.0:9999",
        "80/tcp -> 0.0.0.0:8080",
        "80/tcp -> 127.0.0.1:8081",
        "8443/tcp -> 0.0.0.0:8443",
    ]
    assert format_port_lines(ports, "80") == ["0.0.0.0:8080", "127.0.0.1:8081"]
    assert format_port_lines(ports, "80/tcp") == ["0.0.0.0:8080", "127.0.0.1:8081"]
    assert format_port_lines(ports, "9/udp") == ["0.0.0.0:9999"]
    assert format_port_lines({}) == []


@pytest.mark.parametrize("port, message", [
    ("81", "Error: No public port '81' published for web"),
    ("443", "Error: No public port '443' published for web"),  # exposed, not published
    ("80/udp", "Error: No public port '80/udp' published for web"),
    ("abc", 'Error: invalid port (abc): strconv.ParseUint: parsing "abc": invalid syntax'),
    ("70000/tcp", 'Error: invalid port (70000): strconv.ParseUint: parsing "70000": '
                  "value out of range"),
])
def test_docker_port_errors(port, message):
    with pytest.raises(UsageError) as err:
        format_port_lines(inspect_ports(WEB, [(443, "tcp")]), port, container="web")
    assert str(err.value) == message
    assert err.value.exit_code == 1


def test_ps_ports_column():
    ports = inspect_ports(parse_ports(["8080:80"]), [(443, "tcp")])
    assert format_ps_ports(ports) == "443/tcp, 0.0.0.0:8080->80/tcp"
    same = inspect_ports(parse_ports(["8000-8002:8000-8002", "53:53/udp"]))
    assert format_ps_ports(same) == "0.0.0.0:53->53/udp, 0.0.0.0:8000-8002->8000-8002/tcp"
    # Docker compacts only where host and container ports are equal
    shifted = inspect_ports(parse_ports(["8000-8002:80-82"]))
    assert format_ps_ports(shifted) == ("0.0.0.0:8000->80/tcp, 0.0.0.0:8001->81/tcp, "
                                        "0.0.0.0:8002->82/tcp")
    assert format_ps_ports(inspect_ports([], [(80, "tcp"), (81, "tcp"), (82, "tcp")])) == \
        "80-82/tcp"
    assert format_ps_ports({}) == ""


def parse_ports(specs: list[str]) -> list[PortBinding]:
    return [b for spec in specs for b in parse_publish(spec)]


# docker/cli cli/command/formatter/container_test.go TestDisplayablePorts (its IPv4 cases)
@pytest.mark.parametrize("ports, expected", [
    ([PortSummary(9988, "tcp")], "9988/tcp"),
    ([PortSummary(9988, "udp")], "9988/udp"),
    ([PortSummary(9988, "tcp", "0.0.0.0")], "0.0.0.0:0->9988/tcp"),
    ([PortSummary(9988, "tcp", "", 8899)], "9988/tcp"),
    ([PortSummary(9988, "tcp", "4.3.2.1", 8899)], "4.3.2.1:8899->9988/tcp"),
    ([PortSummary(9988, "tcp", "4.3.2.1", 9988)], "4.3.2.1:9988->9988/tcp"),
    ([PortSummary(9988, "udp"), PortSummary(9988, "udp")], "9988/udp, 9988/udp"),
    ([PortSummary(9998, "udp", "1.2.3.4", 9998), PortSummary(9999, "udp", "1.2.3.4", 9999)],
     "1.2.3.4:9998-9999->9998-9999/udp"),
    ([PortSummary(9998, "udp", "1.2.3.4", 8887), PortSummary(9999, "udp", "1.2.3.4", 8888)],
     "1.2.3.4:8887->9998/udp, 1.2.3.4:8888->9999/udp"),
    ([PortSummary(9998, "udp"), PortSummary(9999, "udp")], "9998-9999/udp"),
    ([PortSummary(6677, "tcp", "1.2.3.4", 7766), PortSummary(9988, "udp", "", 8899)],
     "9988/udp, 1.2.3.4:7766->6677/tcp"),
    ([PortSummary(9988, "udp", "1.2.3.4", 8899), PortSummary(9988, "tcp", "1.2.3.4", 8899),
      PortSummary(2233, "tcp", "4.3.2.1", 3322)],
     "4.3.2.1:3322->2233/tcp, 1.2.3.4:8899->9988/tcp, 1.2.3.4:8899->9988/udp"),
    ([PortSummary(9988, "udp", "", 8899), PortSummary(6677, "tcp", "1.2.3.4", 7766),
      PortSummary(2233, "tcp", "4.3.2.1", 3322)],
     "9988/udp, 4.3.2.1:3322->2233/tcp, 1.2.3.4:7766->6677/tcp"),
    ([PortSummary(80, "tcp"), PortSummary(1024, "tcp"), PortSummary(80, "udp"),
      PortSummary(1024, "udp"),
      PortSummary(1024, "tcp", "1.1.1.1", 80), PortSummary(1024, "udp", "1.1.1.1", 80),
      PortSummary(80, "tcp", "1.1.1.1", 1024), PortSummary(80, "udp", "1.1.1.1", 1024),
      PortSummary(1024, "tcp", "2.1.1.1", 80), PortSummary(1024, "udp", "2.1.1.1", 80),
      PortSummary(80, "tcp", "2.1.1.1", 1024), PortSummary(80, "udp", "2.1.1.1", 1024),
      PortSummary(12345, "sctp")],
     "80/tcp, 80/udp, 1024/tcp, 1024/udp, 12345/sctp, 1.1.1.1:1024->80/tcp, "
     "1.1.1.1:1024->80/udp, 2.1.1.1:1024->80/tcp, 2.1.1.1:1024->80/udp, 1.1.1.1:80->1024/tcp, "
     "1.1.1.1:80->1024/udp, 2.1.1.1:80->1024/tcp, 2.1.1.1:80->1024/udp"),
])
def test_displayable_ports_as_docker_cli(ports, expected):
    assert displayable_ports(ports) == expected
