"""Capabilities: names and numbers, Docker's default set and flags, and applying them to a thread.

Each thread carries five capability sets (capabilities(7)):

- *bounding*: the ceiling; a capability dropped from it (``PR_CAPBSET_DROP``) can never come
  back, not even through a setuid-root or file-capability execve;
- *permitted*: what the thread may make effective;
- *effective*: what the kernel actually checks (``chown`` needs CAP_CHOWN here);
- *inheritable*: what may survive an execve, for programs with file capabilities;
- *ambient*: what survives an execve of an ordinary program by a non-root user.

On execve by root (uid 0) the kernel recomputes permitted and effective as the bounding set
(the "root is all-powerful" rule), so for root the bounding set is what counts. For any
other uid, permitted and effective become the ambient set (empty here): a non-root user
gets no capability, whatever ``--cap-add`` put in the bounding set. That is Docker's and
runc's behaviour, and what makes the course's ``--cap-add chown -u nobody ... chown`` fail
with "Operation not permitted" (TP Cap01).

Names are the kernel's, with the prefix (``CAP_CHOWN``); Docker's flags accept ``chown``,
``CHOWN`` or ``cap_chown`` too (:func:`normalize`). See capabilities(7), capget(2),
prctl(2) (``PR_CAPBSET_DROP``, ``PR_SET_KEEPCAPS``, ``PR_CAP_AMBIENT``), capsh(1).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyker.errors import UnknownCapability
from pyker.kernel.prctl import CapAmbient, PrctlOption
from pyker.security.syscalls import LinuxSecuritySyscalls, SecuritySyscalls


class Cap(enum.IntEnum):
    """Capability numbers from ``<linux/capability.h>``."""

    CAP_CHOWN = 0
    CAP_DAC_OVERRIDE = 1
    CAP_DAC_READ_SEARCH = 2
    CAP_FOWNER = 3
    CAP_FSETID = 4
    CAP_KILL = 5
    CAP_SETGID = 6
    CAP_SETUID = 7
    CAP_SETPCAP = 8
    CAP_LINUX_IMMUTABLE = 9
    CAP_NET_BIND_SERVICE = 10
    CAP_NET_BROADCAST = 11
    CAP_NET_ADMIN = 12
    CAP_NET_RAW = 13
    CAP_IPC_LOCK = 14
    CAP_IPC_OWNER = 15
    CAP_SYS_MODULE = 16
    CAP_SYS_RAWIO = 17
    CAP_SYS_CHROOT = 18
    CAP_SYS_PTRACE = 19
    CAP_SYS_PACCT = 20
    CAP_SYS_ADMIN = 21
    CAP_SYS_BOOT = 22
    CAP_SYS_NICE = 23
    CAP_SYS_RESOURCE = 24
    CAP_SYS_TIME = 25
    CAP_SYS_TTY_CONFIG = 26
    CAP_MKNOD = 27
    CAP_LEASE = 28
    CAP_AUDIT_WRITE = 29
    CAP_AUDIT_CONTROL = 30
    CAP_SETFCAP = 31
    CAP_MAC_OVERRIDE = 32
    CAP_MAC_ADMIN = 33
    CAP_SYSLOG = 34
    CAP_WAKE_ALARM = 35
    CAP_BLOCK_SUSPEND = 36
    CAP_AUDIT_READ = 37
    CAP_PERFMON = 38
    CAP_BPF = 39
    CAP_CHECKPOINT_RESTORE = 40


NAMES: dict[int, str] = {cap.value: cap.name for cap in Cap}
NUMBERS: dict[str, int] = {cap.name: cap.value for cap in Cap}
ALL = "ALL"

# moby oci/caps/defaults.go (DefaultCapabilities).
DOCKER_DEFAULT: frozenset[str] = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
})

CAP_LAST_CAP_PATH = "/proc/sys/kernel/cap_last_cap"


def last_cap(path: str = CAP_LAST_CAP_PATH) -> int:
    """The highest capability number the running kernel knows (``cap_last_cap``).

    Falls back to the table's maximum when the file cannot be read (no /proc mounted).
    """
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return max(NAMES)


def __getattr__(name: str) -> int:
    # LAST_CAP is read at each access: a module constant would freeze the build host's value.
    if name == "LAST_CAP":
        return last_cap()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def bounding_set(status: str = "/proc/self/status") -> int | None:
    """This process's bounding set (``CapBnd``), or None where it cannot be read."""
    try:
        with open(status) as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except OSError:
        return None
    return None


def all_capabilities() -> frozenset[str]:
    """Docker's "ALL": every capability the table, the running kernel and this process's own
    bounding set have. A capability outside the bounding set cannot be granted by anyone
    (capset(2) answers EPERM), as in a sandbox without CAP_SYS_RESOURCE; moby's
    GetAllCapabilities keeps to the bounding set for the same reason."""
    last = last_cap()
    bounding = bounding_set()
    return frozenset(name for number, name in NAMES.items()
                     if number <= last and (bounding is None or bounding >> number & 1))


def normalize(name: str) -> str:
    """``chown``, ``CHOWN``, ``cap_chown`` → ``CAP_CHOWN``; ``all`` → ``ALL``.

    Raises:
        UnknownCapability: ``unknown capability: "CAP_FOO"``.
    """
    upper = name.strip().upper()
    if upper == ALL:
        return ALL
    canonical = upper if upper.startswith("CAP_") else "CAP_" + upper
    if canonical not in NUMBERS:
        raise UnknownCapability(canonical)
    return canonical


def resolve(cap_add: Iterable[str], cap_drop: Iterable[str], *, privileged: bool = False,
            base: Iterable[str] = DOCKER_DEFAULT) -> frozenset[str]:
    """The container's capabilities from ``--cap-add``/``--cap-drop``, with Docker's rules.

    As moby's ``TweakCapabilities``: privileged gets every capability; ``--cap-add ALL`` gives
    all but the dropped ones; ``--cap-drop ALL`` keeps only the added ones; otherwise the
    drops apply to ``base`` first and the adds after, so a name both added and dropped is kept.

    Raises:
        UnknownCapability: for the first name that is not a capability.
    """
    adds = {normalize(name) for name in cap_add}
    drops = {normalize(name) for name in cap_drop}
    if privileged:
        return all_capabilities()
    if ALL in adds:
        return all_capabilities() - drops
    if ALL in drops:
        return frozenset(adds)
    return frozenset((set(base) - drops) | adds)


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilityPlan:
    """The five capability sets a process gets, as names (``CAP_CHOWN``)."""

    bounding: frozenset[str]
    effective: frozenset[str]
    permitted: frozenset[str]
    inheritable: frozenset[str] = frozenset()
    ambient: frozenset[str] = frozenset()


def plan(caps: Iterable[str], *, uid: int) -> CapabilityPlan:
    """The sets runc gets from Docker for a container with capabilities ``caps``.

    Root gets them bounding, effective and permitted. Any other uid gets them in the bounding
    set only (moby clears effective and permitted for a non-root user); inheritable stays
    empty since CVE-2022-24769, and ambient too, as Docker never fills it.
    """
    names = frozenset(normalize(cap) for cap in caps) - {ALL}
    if uid == 0:
        return CapabilityPlan(bounding=names, effective=names, permitted=names)
    return CapabilityPlan(bounding=names, effective=frozenset(), permitted=frozenset())


def mask(names: Iterable[str]) -> int:
    """The 64-bit mask of capability names (bit N for capability N)."""
    return sum(1 << NUMBERS[normalize(name)] for name in set(names))


def decode_mask(value: str | int) -> list[str]:
    """Names of the bits of a mask such as ``CapEff`` of ``/proc/<pid>/status`` (capsh --decode).

    Bits beyond the table come out as their number (``"41"``), in increasing order.
    """
    bits = int(value, 16) if isinstance(value, str) else value
    return [NAMES.get(n, str(n)) for n in range(bits.bit_length()) if bits >> n & 1]


def apply(plan: CapabilityPlan, *, syscalls: SecuritySyscalls | None = None) -> None:
    """Give the calling thread the sets of ``plan``, without changing its user.

    Order matters: dropping from the bounding set needs CAP_SETPCAP *effective*, so it comes
    before capset(2), which may remove CAP_SETPCAP; ambient capabilities can only be raised
    once they are permitted and inheritable, so they come last.

    Raises:
        OSError: from prctl(2) or capset(2), naming the call.
    """
    sys_ = syscalls or LinuxSecuritySyscalls()
    _drop_bounding(plan, sys_)
    _capset(plan, sys_)
    _set_ambient(plan, sys_)


def apply_with_user(plan: CapabilityPlan, uid: int, gid: int, groups: Sequence[int] = (), *,
                    syscalls: SecuritySyscalls | None = None) -> None:
    """Apply ``plan`` and become ``uid``/``gid``/``groups``, in runc's order.

    Changing the UIDs from 0 to non-zero clears permitted and effective unless
    ``PR_SET_KEEPCAPS`` is set, and setresuid/setresgid/setgroups themselves need
    CAP_SETUID/CAP_SETGID, so the dance is (runc ``finalizeNamespace``):

    1. drop the bounding set (needs CAP_SETPCAP, still there);
    2. ``PR_SET_KEEPCAPS=1`` so that permitted survives the uid change;
    3. setgroups, setresgid, setresuid (groups first: afterwards CAP_SETGID may be gone);
    4. ``PR_SET_KEEPCAPS=0`` so that a later execve does not inherit the flag's effect;
    5. capset with the final effective/permitted/inheritable (for a non-root user of a
       Docker plan: all empty), then raise the ambient set.

    Raises:
        OSError: from the first failing call, naming it.
    """
    sys_ = syscalls or LinuxSecuritySyscalls()
    _drop_bounding(plan, sys_)
    sys_.prctl(PrctlOption.PR_SET_KEEPCAPS, 1)
    sys_.setgroups(list(groups))
    sys_.setresgid(gid, gid, gid)
    sys_.setresuid(uid, uid, uid)
    sys_.prctl(PrctlOption.PR_SET_KEEPCAPS, 0)
    _capset(plan, sys_)
    _set_ambient(plan, sys_)


def _drop_bounding(plan: CapabilityPlan, sys_: SecuritySyscalls) -> None:
    keep = {NUMBERS[name] for name in plan.bounding}
    for number in range(last_cap() + 1):
        if number not in keep:
            sys_.prctl(PrctlOption.PR_CAPBSET_DROP, number)


def _capset(plan: CapabilityPlan, sys_: SecuritySyscalls) -> None:
    sys_.capset(mask(plan.effective), mask(plan.permitted), mask(plan.inheritable))


def _set_ambient(plan: CapabilityPlan, sys_: SecuritySyscalls) -> None:
    # Start from a known empty set: the engine process that forked us may have ambient caps.
    sys_.prctl(PrctlOption.PR_CAP_AMBIENT, CapAmbient.PR_CAP_AMBIENT_CLEAR_ALL)
    for number in sorted(NUMBERS[name] for name in plan.ambient):
        sys_.prctl(PrctlOption.PR_CAP_AMBIENT, CapAmbient.PR_CAP_AMBIENT_RAISE, number)
