"""Every command answers -h: each stage script, the posenet console command and its subcommands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from posenet.commands import COMMANDS, main

STAGES = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "stages").glob("*.py"))


@pytest.mark.parametrize("name", STAGES)
def test_every_stage_answers_dash_h(load_stage, name):
    result = CliRunner().invoke(load_stage(name).main, ["-h"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage:") and "-h, --help" in result.output


@pytest.mark.parametrize("args", [["-h"], *([name, "-h"] for name in sorted(COMMANDS))])
def test_posenet_command_and_subcommands_answer_dash_h(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and "-h, --help" in result.output


def test_subcommands_take_quiet_and_verbose():
    for name in COMMANDS:
        command = main.get_command(None, name)
        options = {opt for param in command.params for opt in param.opts}
        assert {"-q", "-v"} <= options, name


def test_python_dash_m_posenet_is_the_command():
    done = subprocess.run([sys.executable, "-m", "posenet", "-h"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "infer" in done.stdout, done.stderr
