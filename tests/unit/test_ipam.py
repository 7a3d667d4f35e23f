"""Docker's address management, pure: default pools, checks of network create's flags,
allocation order and reuse, --ip, MAC addresses; each error with its exact message."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from pyker.errors import NetworkError
from pyker.network import ipam
from pyker.network.ipam import (IpamConfig, allocate, bip_config, make_config, mac_for,
                                next_pool, reserve)


def nets(*texts: str) -> list[IPv4Network]:
    return [IPv4Network(t) for t in texts]


def addr(text: str) -> IPv4Address:
    return IPv4Address(text)


# --- pools -------------------------------------------------------------------------------

def test_first_pool_is_the_default_bridges_then_user_networks_follow():
    assert next_pool([]) == IPv4Network("172.17.0.0/16")
    assert next_pool(nets("172.17.0.0/16")) == IPv4Network("172.18.0.0/16")
    assert next_pool(nets("172.17.0.0/16", "172.18.0.0/16")) == IPv4Network("172.19.0.0/16")


def test_a_removed_networks_pool_is_given_again():
    assert next_pool(nets("172.17.0.0/16", "172.19.0.0/16")) == IPv4Network("172.18.0.0/16")


def test_after_172_31_come_the_slash_20s_of_192_168():
    taken = [IPv4Network(f"172.{i}.0.0/16") for i in range(17, 32)]
    assert next_pool(taken) == IPv4Network("192.168.0.0/20")
    assert next_pool(taken + nets("192.168.0.0/20")) == IPv4Network("192.168.16.0/20")


def test_172_16_is_not_a_default_pool():
    pools = [n for base, size in ipam.DEFAULT_POOLS for n in base.subnets(new_prefix=size)]
    assert IPv4Network("172.16.0.0/16") not in pools
    assert len(pools) == 15 + 16  # 172.17-172.31, then sixteen /20s


def test_pools_overlapping_host_routes_are_skipped():
    routes = ["172.17.0.0/16", "10.0.2.0/24", "172.18.5.7/24"]
    assert next_pool([], routes) == IPv4Network("172.19.0.0/16")


def test_a_host_address_counts_as_its_subnet_and_a_bare_address_as_itself():
    assert next_pool([], ["172.17.200.3/8"]) == IPv4Network("192.168.0.0/20")
    assert next_pool([], ["172.17.0.9"]) == IPv4Network("172.18.0.0/16")


def test_default_routes_ipv6_and_unreadable_routes_are_ignored():
    routes = ["0.0.0.0/0", "default", "fe80::/64", "::/0"]
    assert next_pool([], routes) == IPv4Network("172.17.0.0/16")


def test_larger_existing_network_blocks_every_pool_inside_it():
    assert next_pool(nets("172.16.0.0/12")) == IPv4Network("192.168.0.0/20")


def test_no_pool_left():
    every = nets("172.16.0.0/12", "192.168.0.0/16")
    with pytest.raises(NetworkError) as err:
        next_pool(every)
    assert str(err.value) == ("could not find an available, non-overlapping IPv4 address pool "
                              "among the defaults to assign to the network")


def test_make_config_without_subnet_draws_a_pool_with_the_first_host_as_gateway():
    config = make_config(taken=nets("172.17.0.0/16"))
    assert config == IpamConfig(subnet=IPv4Network("172.18.0.0/16"),
                                gateway=addr("172.18.0.1"))
    assert config.ip_range is None and dict(config.aux) == {}


# --- bip ---------------------------------------------------------------------------------

def test_bip_is_gateway_and_prefix():
    config = bip_config("192.168.5.1/24")
    assert config.subnet == IPv4Network("192.168.5.0/24")
    assert config.gateway == addr("192.168.5.1")
    assert bip_config("10.9.0.254/16").gateway == addr("10.9.0.254")


@pytest.mark.parametrize("bip", ["192.168.5.1", "nonsense", "192.168.5.1/33", "fe80::1/64"])
def test_malformed_bip(bip):
    with pytest.raises(NetworkError, match=r"^invalid bip '.*': expected an IPv4 address"):
        bip_config(bip)


@pytest.mark.parametrize("bip", ["192.168.5.0/24", "192.168.5.255/24", "10.0.0.1/31"])
def test_bip_that_is_not_a_host_address(bip):
    with pytest.raises(NetworkError, match=r"the bridge address must be a host address of"):
        bip_config(bip)


# --- network create's flags ------------------------------------------------------------------

def test_user_subnet_with_default_gateway():
    config = make_config(subnet="10.66.0.0/16")
    assert config.subnet == IPv4Network("10.66.0.0/16")
    assert config.gateway == addr("10.66.0.1")


def test_user_subnet_gateway_range_and_aux():
    config = make_config(subnet="172.1.0.0/16", ip_range="172.1.1.0/24",
                         gateway="172.1.1.254", aux={"router": "172.1.0.5"})
    assert config.gateway == addr("172.1.1.254")
    assert config.ip_range == IPv4Network("172.1.1.0/24")
    assert dict(config.aux) == {"router": addr("172.1.0.5")}


def test_user_subnet_is_not_checked_against_host_routes():
    # Docker lets the user choose a subnet the host also routes: it is the user's call.
    config = make_config(subnet="10.0.2.0/24", host_routes=["10.0.2.0/24"])
    assert config.subnet == IPv4Network("10.0.2.0/24")


@pytest.mark.parametrize("subnet", ["172.18.0.0/16", "172.18.4.0/24", "172.0.0.0/8"])
def test_overlapping_subnet(subnet):
    with pytest.raises(NetworkError) as err:
        make_config(subnet=subnet, taken=nets("172.17.0.0/16", "172.18.0.0/16"))
    assert str(err.value) == "Pool overlaps with other one on this address space"


def test_adjacent_subnet_does_not_overlap():
    assert make_config(subnet="172.19.0.0/16", taken=nets("172.18.0.0/16")).subnet == \
        IPv4Network("172.19.0.0/16")


@pytest.mark.parametrize("subnet", ["10.0.0/33", "10.0.0.0/33", "banana", "10.0.0.0", "",
                                    "10.0.0.0/"])
def test_bad_subnet_cidr(subnet):
    with pytest.raises(NetworkError) as err:
        make_config(subnet=subnet)
    assert str(err.value) == f"invalid subnet: invalid CIDR address: {subnet}"


def test_subnet_with_host_bits():
    with pytest.raises(NetworkError) as err:
        make_config(subnet="10.1.0.1/16")
    assert str(err.value) == "invalid subnet 10.1.0.1/16: it should be 10.1.0.0/16"


def test_ipv6_subnet():
    with pytest.raises(NetworkError) as err:
        make_config(subnet="fd00::/64")
    assert str(err.value) == "invalid subnet fd00::/64: IPv6 is not supported by pyker"


def test_subnet_too_small():
    with pytest.raises(NetworkError) as err:
        make_config(subnet="10.0.0.0/31")
    assert str(err.value) == ("invalid subnet 10.0.0.0/31: too small for a bridge network "
                              "(at most a /30)")


def test_gateway_outside_subnet():
    with pytest.raises(NetworkError) as err:
        make_config(subnet="10.1.0.0/24", gateway="10.2.0.1")
    assert str(err.value) == "no matching subnet for gateway 10.2.0.1"


def test_gateway_not_an_address():
    with pytest.raises(NetworkError) as err:
        make_config(subnet="10.1.0.0/24", gateway="10.1.0.300")
    assert str(err.value) == "invalid gateway: invalid IPv4 address: 10.1.0.300"


def test_gateway_on_the_network_address():
    with pytest.raises(NetworkError) as err:
        make_config(subnet="10.1.0.0/24", gateway="10.1.0.0")
    assert str(err.value) == ("invalid gateway 10.1.0.0: it is the network or broadcast "
                              "address of 10.1.0.0/24")


@pytest.mark.parametrize("ip_range", ["10.2.0.0/24", "10.0.0.0/8"])
def test_ip_range_outside_subnet(ip_range):
    with pytest.raises(NetworkError) as err:
        make_config(subnet="10.1.0.0/16", ip_range=ip_range)
    assert str(err.value) == f"no matching subnet for range {ip_range}"


def test_ip_range_bad_cidr():
    with pytest.raises(NetworkError) as err:
        make_config(subnet="10.1.0.0/16", ip_range="10.1.1.0/40")
    assert str(err.value) == "invalid ip-range: invalid CIDR address: 10.1.1.0/40"


def test_aux_outside_subnet():
    with pytest.raises(NetworkError) as err:
        make_config(subnet="10.1.0.0/16", aux={"host1": "10.2.0.5"})
    assert str(err.value) == "no matching subnet for aux-address 10.2.0.5"


def test_gateway_range_or_aux_without_subnet():
    for kwargs in ({"gateway": "10.1.0.1"}, {"ip_range": "10.1.0.0/24"},
                   {"aux": {"a": "10.1.0.3"}}):
        with pytest.raises(NetworkError) as err:
            make_config(**kwargs)
        assert str(err.value) == "every ip-range or gateway must have a corresponding subnet"


# --- allocation --------------------------------------------------------------------------

def test_allocation_is_consecutive_after_the_gateway():
    config = make_config(subnet="172.18.0.0/16")
    used: list[IPv4Address] = []
    for _ in range(3):
        used.append(allocate(config, used))
    assert used == [addr("172.18.0.2"), addr("172.18.0.3"), addr("172.18.0.4")]


def test_released_address_is_given_again_lowest_first():
    config = make_config(subnet="172.18.0.0/16")
    assert allocate(config, ["172.18.0.2", "172.18.0.4"]) == addr("172.18.0.3")
    assert allocate(config, ["172.18.0.3", "172.18.0.4"]) == addr("172.18.0.2")


def test_allocation_skips_gateway_and_aux_anywhere():
    config = make_config(subnet="10.0.0.0/24", gateway="10.0.0.3",
                         aux={"a": "10.0.0.1", "b": "10.0.0.4"})
    used: list[IPv4Address] = []
    for _ in range(3):
        used.append(allocate(config, used))
    assert used == [addr("10.0.0.2"), addr("10.0.0.5"), addr("10.0.0.6")]


def test_allocation_stays_inside_the_ip_range():
    config = make_config(subnet="172.1.0.0/16", ip_range="172.1.1.0/30",
                         gateway="172.1.1.254")
    used: list[IPv4Address] = []
    for _ in range(4):
        used.append(allocate(config, used))
    # The range's own first and last addresses are hosts of the /16: given out too.
    assert used == [addr(f"172.1.1.{i}") for i in range(4)]
    with pytest.raises(NetworkError) as err:
        allocate(config, used, where="r (abc)")
    assert str(err.value) == ("no available IPv4 addresses on this network's address pools: "
                              "r (abc)")


def test_allocation_never_gives_network_or_broadcast():
    config = make_config(subnet="10.0.0.0/30")  # .0 network, .1 gateway, .3 broadcast
    assert allocate(config, []) == addr("10.0.0.2")
    with pytest.raises(NetworkError, match=r"pools: 10\.0\.0\.0/30$"):
        allocate(config, ["10.0.0.2"])


def test_ip_range_at_the_end_of_the_subnet_keeps_the_broadcast():
    config = make_config(subnet="10.0.0.0/24", ip_range="10.0.0.252/30")
    assert allocate(config, ["10.0.0.252", "10.0.0.253"]) == addr("10.0.0.254")
    with pytest.raises(NetworkError, match="no available IPv4 addresses"):
        allocate(config, ["10.0.0.252", "10.0.0.253", "10.0.0.254"])


# --- --ip --------------------------------------------------------------------------------

def test_requested_address_is_granted_when_free():
    config = make_config(subnet="10.5.0.0/16")
    assert reserve(config, ["10.5.0.2"], "10.5.0.9") == addr("10.5.0.9")


def test_requested_address_outside_the_subnet():
    config = make_config(subnet="10.5.0.0/16")
    with pytest.raises(NetworkError) as err:
        reserve(config, [], "10.6.0.9")
    assert str(err.value) == ("Invalid address 10.6.0.9: It does not belong to any of this "
                              "network's subnets")


def test_requested_address_outside_the_ip_range():
    config = make_config(subnet="10.5.0.0/16", ip_range="10.5.1.0/24")
    with pytest.raises(NetworkError) as err:
        reserve(config, [], "10.5.2.9")
    assert str(err.value) == ("requested address is out of range: 10.5.2.9 is not in "
                              "ip-range 10.5.1.0/24")


@pytest.mark.parametrize("taken", ["10.5.0.7", "10.5.0.1", "10.5.0.3"])
def test_requested_address_in_use_gateway_or_aux(taken):
    config = make_config(subnet="10.5.0.0/16", aux={"printer": "10.5.0.3"})
    with pytest.raises(NetworkError) as err:
        reserve(config, ["10.5.0.7"], taken)
    assert str(err.value) == f"Address already in use: {taken}"


@pytest.mark.parametrize("ip", ["10.5.0.0", "10.5.255.255"])
def test_requested_network_or_broadcast_address(ip):
    config = make_config(subnet="10.5.0.0/16")
    with pytest.raises(NetworkError) as err:
        reserve(config, [], ip)
    assert str(err.value) == (f"requested address is out of range: {ip} is the network or "
                              "broadcast address of 10.5.0.0/16")


def test_requested_address_malformed():
    with pytest.raises(NetworkError) as err:
        reserve(make_config(subnet="10.5.0.0/16"), [], "10.5.0.256")
    assert str(err.value) == "invalid --ip: invalid IPv4 address: 10.5.0.256"


# --- MAC ---------------------------------------------------------------------------------

def test_mac_is_02_42_and_the_ipv4_bytes():
    assert mac_for("172.17.0.2") == "02:42:ac:11:00:02"
    assert mac_for(addr("172.17.0.3")) == "02:42:ac:11:00:03"
    assert mac_for("192.168.5.255") == "02:42:c0:a8:05:ff"
