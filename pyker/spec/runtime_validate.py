"""What a runtime checks before it runs a spec: runc's ``configs/validate``, as data and checks.

Each check is a small generator that looks at one concern and yields ``(field, message)``
for what is wrong; :func:`validate` raises the first as a :class:`SpecError` naming the
field, e.g. ``config.json: linux.namespaces[2].type: unknown namespace "foo"``. Parsing
(``Spec.from_dict``) has already checked the types; these check the meaning, and nothing
here touches the system (whether the kernel has a user namespace is the runtime's question).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from pyker.errors import SpecError

if TYPE_CHECKING:
    from pyker.spec.runtime import Spec
    from pyker.spec.runtime_linux import Namespace

Problem = tuple[str, str]
Check = Callable[["Spec"], Iterator[Problem]]

NAMESPACE_TYPES = frozenset({"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"})
# getrlimit(2): every resource setrlimit knows, by its C name.
RLIMIT_TYPES = frozenset({
    "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
    "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
})
# The spec names four; runc also takes the recursive forms (mount_namespaces(7)).
ROOTFS_PROPAGATIONS = frozenset({"shared", "rshared", "slave", "rslave", "private", "rprivate",
                                 "unbindable", "runbindable"})
# libseccomp's names (seccomp(2) SECCOMP_RET_*), as the spec takes them.
SECCOMP_ACTIONS = frozenset({
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
})
SECCOMP_OPERATORS = frozenset({"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                               "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"})
DEVICE_TYPES = frozenset({"c", "b", "u", "p"})
DEVICE_CGROUP_TYPES = frozenset({"a", "c", "b"})
# The IPC sysctls the kernel keeps per ipc namespace (ipc_namespaces(7)), besides fs.mqueue.*.
IPC_SYSCTLS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                         "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                         "kernel.shm_rmid_forced"})
_CAPABILITY = re.compile(r"CAP_[A-Z_]+\Z")


def _q(value: object) -> str:
    """Quote as Go's ``%q`` does, so odd characters show."""
    return json.dumps(value)


def _namespace(spec: Spec, kind: str) -> Namespace | None:
    return next((ns for ns in spec.linux.namespaces if ns.type == kind), None)


def _version(spec: Spec) -> Iterator[Problem]:
    if not spec.oci_version.startswith("1."):
        yield "ociVersion", f"unsupported version {_q(spec.oci_version)}: want 1.x"


def _process_args(spec: Spec) -> Iterator[Problem]:
    if not spec.process.args:
        yield "process.args", "must not be empty: there is nothing to run"


def _process_cwd(spec: Spec) -> Iterator[Problem]:
    if not spec.process.cwd.startswith("/"):
        yield "process.cwd", f"must be an absolute path, got {_q(spec.process.cwd)}"


def _process_env(spec: Spec) -> Iterator[Problem]:
    for i, entry in enumerate(spec.process.env):
        if entry.find("=") < 1:
            yield f"process.env[{i}]", f"{_q(entry)} is not of the form KEY=value"


def _oom_score_adj(spec: Spec) -> Iterator[Problem]:
    adj = spec.process.oom_score_adj
    if adj is not None and not -1000 <= adj <= 1000:
        yield "process.oomScoreAdj", f"must be between -1000 and 1000, got {adj}"


def _rlimits(spec: Spec) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, rlimit in enumerate(spec.process.rlimits):
        at = f"process.rlimits[{i}]"
        if rlimit.type not in RLIMIT_TYPES:
            yield f"{at}.type", f"unknown rlimit {_q(rlimit.type)}"
        if rlimit.type in seen:
            yield f"{at}.type", f"duplicate rlimit {_q(rlimit.type)}"
        seen.add(rlimit.type)
        if rlimit.soft > rlimit.hard:
            yield f"{at}.soft", f"soft limit {rlimit.soft} is above the hard limit {rlimit.hard}"


def _capabilities(spec: Spec) -> Iterator[Problem]:
    caps = spec.process.capabilities
    if caps is None:
        return
    for name in ("bounding", "effective", "inheritable", "permitted", "ambient"):
        for i, cap in enumerate(getattr(caps, name)):
            if not _CAPABILITY.match(cap):
                yield (f"process.capabilities.{name}[{i}]",
                       f"{_q(cap)} is not a capability name like \"CAP_CHOWN\"")


def _root(spec: Spec) -> Iterator[Problem]:
    if not spec.root.path:
        yield "root.path", "must not be empty"


def _mounts(spec: Spec) -> Iterator[Problem]:
    for i, mount in enumerate(spec.mounts):
        if not mount.destination.startswith("/"):
            yield (f"mounts[{i}].destination",
                   f"must be an absolute path, got {_q(mount.destination)}")


def _namespaces(spec: Spec) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, ns in enumerate(spec.linux.namespaces):
        at = f"linux.namespaces[{i}]"
        if ns.type not in NAMESPACE_TYPES:
            yield f"{at}.type", f"unknown namespace {_q(ns.type)}"
        elif ns.type in seen:
            yield f"{at}.type", f"duplicate namespace {_q(ns.type)}"
        seen.add(ns.type)
        if ns.path and not ns.path.startswith("/"):
            yield f"{at}.path", f"must be an absolute path, got {_q(ns.path)}"


def _joined_namespaces(spec: Spec) -> Iterator[Problem]:
    """A namespace joined by path is set up already: the spec must not configure it again."""
    user, uts = _namespace(spec, "user"), _namespace(spec, "uts")
    if user is not None and user.path:
        for key, maps in (("uidMappings", spec.linux.uid_mappings),
                          ("gidMappings", spec.linux.gid_mappings)):
            if maps:
                yield f"linux.{key}", f"not allowed with a joined user namespace ({user.path})"
    if uts is not None and uts.path:
        for key, value in (("hostname", spec.hostname), ("domainname", spec.domainname)):
            if value:
                yield key, f"not allowed with a joined UTS namespace ({uts.path})"


def _id_mappings(spec: Spec) -> Iterator[Problem]:
    user = _namespace(spec, "user")
    for key, maps in (("uidMappings", spec.linux.uid_mappings),
                      ("gidMappings", spec.linux.gid_mappings)):
        if user is None and maps:
            yield f"linux.{key}", "needs a user namespace (linux.namespaces has no \"user\")"
        if user is not None and not user.path and not maps:
            yield f"linux.{key}", "required by a new user namespace"
        for i, mapping in enumerate(maps):
            if mapping.size == 0:
                yield f"linux.{key}[{i}].size", "must be greater than 0"


def _hostname(spec: Spec) -> Iterator[Problem]:
    if _namespace(spec, "uts") is None:
        for key, value in (("hostname", spec.hostname), ("domainname", spec.domainname)):
            if value:
                yield key, "needs a private UTS namespace (linux.namespaces has no \"uts\")"


def _sysctl(spec: Spec) -> Iterator[Problem]:
    """Only sysctls the kernel keeps per namespace, and only in a namespace of the container's
    own: anything else would change the host (runc's validator, ``sysctl``)."""
    for key in spec.linux.sysctl:
        at, name = f"linux.sysctl[{_q(key)}]", key.replace("/", ".")
        if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
            if _namespace(spec, "ipc") is None:
                yield at, "not allowed in the host's IPC namespace"
        elif name.startswith("net."):
            if _namespace(spec, "network") is None:
                yield at, "not allowed in the host's network namespace"
        elif name == "kernel.hostname":
            yield at, "not allowed: set the \"hostname\" field instead"
        elif name == "kernel.domainname":
            if _namespace(spec, "uts") is None:
                yield at, "not allowed in the host's UTS namespace"
        else:
            yield at, "not in a separate kernel namespace: it would change the host"


def _rootfs_propagation(spec: Spec) -> Iterator[Problem]:
    value = spec.linux.rootfs_propagation
    if value and value not in ROOTFS_PROPAGATIONS:
        choices = ", ".join(sorted(ROOTFS_PROPAGATIONS))
        yield "linux.rootfsPropagation", f"unknown propagation {_q(value)}: want one of {choices}"


def _seccomp(spec: Spec) -> Iterator[Problem]:
    seccomp = spec.linux.seccomp
    if seccomp is None:
        return
    if seccomp.default_action not in SECCOMP_ACTIONS:
        yield "linux.seccomp.defaultAction", f"unknown action {_q(seccomp.default_action)}"
    for i, rule in enumerate(seccomp.syscalls):
        at = f"linux.seccomp.syscalls[{i}]"
        if not rule.names:
            yield f"{at}.names", "must not be empty"
        if rule.action not in SECCOMP_ACTIONS:
            yield f"{at}.action", f"unknown action {_q(rule.action)}"
        for j, arg in enumerate(rule.args):
            if arg.index > 5:
                yield f"{at}.args[{j}].index", f"a syscall has 6 arguments (0-5), got {arg.index}"
            if arg.op not in SECCOMP_OPERATORS:
                yield f"{at}.args[{j}].op", f"unknown operator {_q(arg.op)}"


def _masked_readonly_paths(spec: Spec) -> Iterator[Problem]:
    for key, paths in (("maskedPaths", spec.linux.masked_paths),
                       ("readonlyPaths", spec.linux.readonly_paths)):
        if paths and _namespace(spec, "mount") is None:
            yield f"linux.{key}", "needs a mount namespace: it would change the host's mounts"
        for i, path in enumerate(paths):
            if not path.startswith("/"):
                yield f"linux.{key}[{i}]", f"must be an absolute path, got {_q(path)}"


def _devices(spec: Spec) -> Iterator[Problem]:
    for i, dev in enumerate(spec.linux.devices):
        at = f"linux.devices[{i}]"
        if dev.type not in DEVICE_TYPES:
            yield f"{at}.type", f"unknown device type {_q(dev.type)}: want c, b, u or p"
        if not dev.path.startswith("/"):
            yield f"{at}.path", f"must be an absolute path, got {_q(dev.path)}"
    rules = spec.linux.resources.devices if spec.linux.resources else ()
    for i, rule in enumerate(rules):
        at = f"linux.resources.devices[{i}]"
        if rule.type is not None and rule.type not in DEVICE_CGROUP_TYPES:
            yield f"{at}.type", f"unknown device type {_q(rule.type)}: want a, c or b"
        if rule.access is not None and not set(rule.access) <= set("rwm"):
            yield f"{at}.access", f"{_q(rule.access)} is not made of r, w and m"


CHECKS: tuple[Check, ...] = (
    _version, _process_args, _process_cwd, _process_env, _oom_score_adj, _rlimits,
    _capabilities, _root, _mounts, _namespaces, _joined_namespaces, _id_mappings, _hostname,
    _sysctl, _rootfs_propagation, _seccomp, _masked_readonly_paths, _devices,
)


def validate(spec: Spec, what: str = "config.json") -> None:
    """Run every check in :data:`CHECKS`, in order.

    Raises:
        SpecError: for the first problem found, naming the field
            (``config.json: process.cwd: must be an absolute path, got "tmp"``).
    """
    for check in CHECKS:
        for path, message in check(spec):
            raise SpecError(f"{what}: {path}: {message}")
