"""Thin ctypes wrappers of the Linux syscalls Python's ``os`` module lacks.

One module per concern (``mount``, ``fsmount``, ``namespaces``, ``prctl``, ``caps``), flag
enums named exactly as in the C headers, and errors raised as ``OSError`` whose message names
the syscall, the path(s) and the flags. No policy, no defaults: upper layers take a
:class:`~pyker.kernel.syscalls.Syscalls` injected (``syscalls=``) so that they can be unit
tested with :class:`~pyker.kernel.fake.RecordingSyscalls` instead of root.
"""
