"""The ``ace-neuro`` command: --version, and a described --help for every subcommand and argument."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

import ace_neuro
from ace_neuro.cli import build_parser, main


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"ace-neuro {ace_neuro.__version__}"


def test_top_level_help_lists_every_subcommand():
    result = subprocess.run([sys.executable, "-m", "ace_neuro.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Snakemake workflow" in result.stdout
    for name in _subcommands():
        assert name in result.stdout


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_subcommand_help(name, capsys):
    # Through main, as the command runs it (in this process: the top-level test above starts the real entry point):
    # a bare % in any help string makes argparse fail here.
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: ace-neuro {name}")
    sub = _subcommands()[name]
    assert sub.description and len(sub.description) > 40, f"{name}: no real description"
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help.strip(), f"{name}: argument {action.dest} has no help text"
