"""The ``posenet`` console command: one subcommand per module, imported only when it is asked for.

    posenet infer photo.jpg --out out/
    posenet export --format onnx --out posenet.onnx
    posenet benchmark

``posenet --help`` and argument errors stay fast: a subcommand's module is imported when that subcommand runs (or
its ``--help`` is shown), and the modules import torch, OpenCV and the SDKs inside the command bodies.
"""

from __future__ import annotations

import importlib

import click

from posenet.cli import CONTEXT_SETTINGS

__all__ = ["COMMANDS", "LazyGroup", "main"]

# name -> (module defining it, one-line help shown by `posenet --help` without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "infer": ("posenet.commands.infer", "Find poses in images, folders, globs, videos or a webcam."),
    "export": ("posenet.commands.export", "Export a model: ONNX, a TF.js graph model or a browser page."),
    "benchmark": ("posenet.commands.benchmark", "Time forward, decode and end to end per variant, size, backend."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands (``COMMANDS``) are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        command = getattr(importlib.import_module(COMMANDS[cmd_name][0]), cmd_name)
        assert isinstance(command, click.Command), f"{COMMANDS[cmd_name][0]}.{cmd_name} is not a click command"
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from ``COMMANDS``' one-line help: listing imports no subcommand."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="posenet")
def main() -> None:
    """PoseNet multi-person pose estimation: inference, export, benchmark (the DVC pipeline is `dvc repro`)."""
