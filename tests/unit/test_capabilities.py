"""Capability names, Docker's flag semantics, and the exact syscalls of applying a plan."""

from __future__ import annotations

import pytest

from pyker.errors import UnknownCapability, UsageError
from pyker.kernel.fake import Call
from pyker.kernel.prctl import CapAmbient, PrctlOption
from pyker.security import capabilities as caps
from pyker.security.capabilities import CapabilityPlan
from pyker.security.syscalls import RecordingSecuritySyscalls

DROP, KEEP = PrctlOption.PR_CAPBSET_DROP, PrctlOption.PR_SET_KEEPCAPS
AMBIENT, CLEAR = PrctlOption.PR_CAP_AMBIENT, CapAmbient.PR_CAP_AMBIENT_CLEAR_ALL


def test_table_covers_0_to_40() -> None:
    assert caps.NAMES[0] == "CAP_CHOWN"
    assert caps.NAMES[21] == "CAP_SYS_ADMIN"
    assert caps.NAMES[40] == "CAP_CHECKPOINT_RESTORE"
    assert sorted(caps.NAMES) == list(range(41))
    assert caps.NUMBERS["CAP_SETFCAP"] == 31


def test_last_cap_reads_the_kernel_file(tmp_path) -> None:
    path = tmp_path / "cap_last_cap"
    path.write_text("37\n")
    assert caps.last_cap(str(path)) == 37
    assert caps.last_cap(str(tmp_path / "missing")) == 40
    assert isinstance(caps.LAST_CAP, int)


def test_docker_default_is_the_14() -> None:
    assert len(caps.DOCKER_DEFAULT) == 14
    assert caps.mask(caps.DOCKER_DEFAULT) == 0xA80425FB  # CapEff of a default container


@pytest.mark.parametrize("spelling", ["chown", "CHOWN", "cap_chown", "CAP_CHOWN", " Chown "])
def test_normalize_accepts_docker_spellings(spelling: str) -> None:
    assert caps.normalize(spelling) == "CAP_CHOWN"


def test_normalize_all_and_unknown() -> None:
    assert caps.normalize("all") == "ALL"
    with pytest.raises(UnknownCapability) as err:
        caps.normalize("foo")
    assert str(err.value) == 'unknown capability: "CAP_FOO"'
    assert err.value.value == "CAP_FOO"
    assert isinstance(err.value, UsageError)


def test_resolve_follows_docker() -> None:
    assert caps.resolve([], []) == caps.DOCKER_DEFAULT
    assert caps.resolve([], ["chown"]) == caps.DOCKER_DEFAULT - {"CAP_CHOWN"}
    assert caps.resolve(["CHOWN"], ["ALL"]) == {"CAP_CHOWN"}
    assert caps.resolve(["NET_ADMIN"], []) == caps.DOCKER_DEFAULT | {"CAP_NET_ADMIN"}
    # Drops apply to the default set first, adds after: a name in both is kept.
    assert "CAP_CHOWN" in caps.resolve(["chown"], ["chown"])
    assert caps.resolve(["ALL"], ["chown"]) == caps.all_capabilities() - {"CAP_CHOWN"}
    assert caps.resolve(["ALL"], ["ALL"]) == caps.all_capabilities()
    assert caps.resolve([], ["ALL"], privileged=True) == caps.all_capabilities()
    with pytest.raises(UnknownCapability, match='"CAP_NOPE"'):
        caps.resolve(["nope"], [])


def test_plan_root_and_non_root() -> None:
    root = caps.plan(["chown", "kill"], uid=0)
    both = frozenset({"CAP_CHOWN", "CAP_KILL"})
    assert root == CapabilityPlan(bounding=both, effective=both, permitted=both)
    nobody = caps.plan(["chown", "kill"], uid=65534)
    assert nobody == CapabilityPlan(bounding=both, effective=frozenset(),
                                    permitted=frozenset())
    assert nobody.inheritable == nobody.ambient == frozenset()


def test_decode_mask_like_capsh() -> None:
    assert caps.decode_mask("0000000000000001") == ["CAP_CHOWN"]
    assert caps.decode_mask("00000000a80425fb") == [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT",
        "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"]
    assert caps.decode_mask(0) == []
    assert caps.decode_mask(1 << 41 | 1 << 21) == ["CAP_SYS_ADMIN", "41"]


def _drops(keep: set[int], last: int = 40) -> list[Call]:
    return [Call("prctl", (DROP, n, 0, 0, 0)) for n in range(last + 1) if n not in keep]


def test_apply_drops_bounding_then_capset_then_ambient(monkeypatch) -> None:
    monkeypatch.setattr(caps, "last_cap", lambda: 40)
    fake = RecordingSecuritySyscalls()
    plan = CapabilityPlan(bounding=frozenset({"CAP_CHOWN", "CAP_KILL"}),
                          effective=frozenset({"CAP_CHOWN"}),
                          permitted=frozenset({"CAP_CHOWN", "CAP_KILL"}),
                          inheritable=frozenset({"CAP_KILL"}),
                          ambient=frozenset({"CAP_KILL"}))
    caps.apply(plan, syscalls=fake)
    assert fake.calls == [
        *_drops({0, 5}),
        Call("capset", (0x1, 0x21, 0x20)),
        Call("prctl", (AMBIENT, CLEAR, 0, 0, 0)),
        Call("prctl", (AMBIENT, CapAmbient.PR_CAP_AMBIENT_RAISE, 5, 0, 0)),
    ]


def test_apply_stops_at_the_kernels_last_cap(monkeypatch) -> None:
    monkeypatch.setattr(caps, "last_cap", lambda: 37)
    fake = RecordingSecuritySyscalls()
    caps.apply(caps.plan(caps.DOCKER_DEFAULT, uid=0), syscalls=fake)
    drops = [call.args[1] for call in fake.named("prctl") if call.args[0] is DROP]
    assert max(drops) == 37 and len(drops) == 38 - 14


def test_apply_with_user_is_runcs_dance(monkeypatch) -> None:
    monkeypatch.setattr(caps, "last_cap", lambda: 40)
    fake = RecordingSecuritySyscalls()
    plan = caps.plan(["chown"], uid=65534)
    caps.apply_with_user(plan, 65534, 65533, [100, 101], syscalls=fake)
    assert fake.calls == [
        *_drops({0}),
        Call("prctl", (KEEP, 1, 0, 0, 0)),
        Call("setgroups", ([100, 101],)),
        Call("setresgid", (65533, 65533, 65533)),
        Call("setresuid", (65534, 65534, 65534)),
        Call("prctl", (KEEP, 0, 0, 0, 0)),
        Call("capset", (0, 0, 0)),
        Call("prctl", (AMBIENT, CLEAR, 0, 0, 0)),
    ]


def test_apply_stops_at_the_first_failure(monkeypatch) -> None:
    monkeypatch.setattr(caps, "last_cap", lambda: 40)
    fake = RecordingSecuritySyscalls()
    fake.fail("capset", 1, path="effective=0x1")
    with pytest.raises(PermissionError, match="capset effective=0x1"):
        caps.apply(caps.plan(["chown"], uid=0), syscalls=fake)
    assert fake.names[-1] == "capset"
