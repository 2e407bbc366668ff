"""The ``posenet`` console command: one subcommand per module.

    posenet infer photo.jpg --out out/
    posenet export --format onnx --out posenet.onnx
    posenet benchmark
"""

import click

from posenet.cli import CONTEXT_SETTINGS
from posenet.commands.benchmark import benchmark
from posenet.commands.export import export
from posenet.commands.infer import infer

__all__ = ["benchmark", "export", "infer", "main"]


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="posenet")
def main() -> None:
    """PoseNet multi-person pose estimation: inference, export, benchmark (the DVC pipeline is `dvc repro`)."""


main.add_command(infer)
main.add_command(export)
main.add_command(benchmark)
