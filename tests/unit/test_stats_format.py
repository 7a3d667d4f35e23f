"""``docker stats`` arithmetic and formatting, and ``docker top``'s ps parsing, on fixed texts."""

from __future__ import annotations

from types import SimpleNamespace

from pyker.cli.execute import STATS_HEADERS, STATS_TABLE, stats_row, top_rows
from pyker.cli.gotemplate import format_rows
from pyker.runtime.stats import (
    Sample, cpu_percent, host_memory, memory_percent, net_bytes, system_cpu,
    usage_without_cache,
)

PROC_STAT = """cpu  100 0 50 800 10 0 0 0 0 0
cpu0 50 0 25 400 5 0 0 0 0 0
cpu1 50 0 25 400 5 0 0 0 0 0
intr 12345
ctxt 678
"""

NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0:    1500      12    0    0    0     0          0         0      648       8    0    0    0     0       0          0
"""

RECORD = SimpleNamespace(id="242ed7f2c18e6f00a0a63aea7fff7196505a83778cfde615b82e1a12324ebf67",
                         name="c1")


def test_system_cpu_sums_seven_fields_and_counts_cpus():
    # (100+0+50+800+10+0+0) ticks at 100 Hz = 9.6 s
    assert system_cpu(PROC_STAT) == (9_600_000_000, 2)


def test_cpu_percent_is_dockers_formula():
    before = Sample(cpu_ns=1_000_000_000, system_ns=10_000_000_000, online_cpus=2)
    after = Sample(cpu_ns=1_500_000_000, system_ns=12_000_000_000, online_cpus=2)
    assert cpu_percent(before, after) == 50.0  # 0.5 s of 2 s of all CPUs, times 2 CPUs
    assert cpu_percent(after, after) == 0.0


def test_memory_subtracts_inactive_file_only_when_smaller():
    assert usage_without_cache(10_000, 4_000) == 6_000
    assert usage_without_cache(10_000, 20_000) == 10_000
    assert usage_without_cache(10_000, None) == 10_000
    assert memory_percent(Sample(memory=1, memory_limit=4)) == 25.0
    assert memory_percent(Sample(memory=1, memory_limit=0)) == 0.0


def test_net_bytes_skip_loopback():
    assert net_bytes(NET_DEV) == (1500, 648)


def test_host_memory_from_meminfo():
    assert host_memory("MemTotal:       24681236 kB\nMemFree: 1 kB\n") == 24681236 * 1024


def test_stats_row_strings():
    before = Sample(system_ns=10_000_000_000, online_cpus=2)
    after = Sample(cpu_ns=20_000_000, system_ns=12_000_000_000, online_cpus=2,
                   memory=1572864, memory_limit=25_201_004_544, net_rx=1500, net_tx=648,
                   block_read=0, block_write=4096, pids=1)
    row = stats_row(RECORD, before, after, no_trunc=False)
    assert row == {"ID": "242ed7f2c18e", "Name": "c1", "Container": "242ed7f2c18e",
                   "CPUPerc": "2.00%", "MemUsage": "1.5MiB / 23.47GiB", "MemPerc": "0.01%",
                   "NetIO": "1.5kB / 648B", "BlockIO": "0B / 4.1kB", "PIDs": "1"}


def test_stats_table_has_dockers_header():
    row = stats_row(RECORD, Sample(), Sample(), no_trunc=False, given="c1")
    out = format_rows(STATS_TABLE, [row], STATS_HEADERS)
    assert out == (
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   "
        "BLOCK I/O   PIDS\n"
        "242ed7f2c18e   c1        0.00%     0B / 0B             0.00%     0B / 0B   "
        "0B / 0B     0\n")
    assert format_rows("{{.Container}} {{.PIDs}}", [row], STATS_HEADERS) == "c1 0\n"


PS_EF = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root        4242    4241  0 10:01 ?        00:00:00 sleep 1000
root        4250    4242  0 10:01 ?        00:00:00 sh -c while true; do date; done
"""


def test_top_keeps_the_containers_rows_and_joins_the_command():
    titles, rows = top_rows(PS_EF, {4242, 4250})
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert rows == [["root", "4242", "4241", "0", "10:01", "?", "00:00:00", "sleep 1000"],
                    ["root", "4250", "4242", "0", "10:01", "?", "00:00:00",
                     "sh -c while true; do date; done"]]


def test_top_without_pid_column_fails():
    import pytest

    from pyker.errors import UsageError

    with pytest.raises(UsageError, match="Couldn't find PID field"):
        top_rows("USER COMMAND\nroot init\n", {1})
