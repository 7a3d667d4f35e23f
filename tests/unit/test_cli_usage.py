"""``pyker --help``: every command with its one-line summary, as ``docker --help`` lists them."""

from __future__ import annotations

from pyker.cli.main import COMMANDS, main


def test_help_lists_each_command_with_its_summary(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, (_module, summary) in COMMANDS.items():
        assert f"  {name} " in out and summary in out
    assert "('" not in out  # the table's tuples are not printed
