"""Security policy a container runs under: its capabilities and its seccomp filter.

Two kernel mechanisms cut root down to size. *Capabilities* (capabilities(7)) split root's
power into ~41 units; Docker keeps 14 of them (:data:`capabilities.DOCKER_DEFAULT`), which is
why ``chown`` works in a container but ``mount`` does not. *seccomp* (seccomp(2)) is a firewall
for system calls: a classic BPF program the kernel runs on every syscall, built here from
Docker's JSON profile format (:mod:`pyker.security.seccomp`).

This layer holds the policy (names, Docker's defaults and semantics, the BPF compiler); it
reaches the kernel only through :mod:`pyker.kernel`, injected as ``syscalls=`` so that the
exact sequence of calls is testable without root. The container's init process calls
:func:`capabilities.apply_with_user` then :func:`seccomp.install` after fork, just before
execve.
"""
