"""Stage convert: models/tfjs/<model.name>/ -> models/pretrained/<model.name>.pt (state_dict + meta)."""

from __future__ import annotations

import time

import click

from posenet.cli import CONTEXT_SETTINGS, logging_options, params_option, user_errors
from posenet.models.checkpoint import save_checkpoint
from posenet.params import load_params
from posenet.project import PRETRAINED_DIR, pretrained_path
from posenet.weights.folder import convert_folder


@click.command(context_settings=CONTEXT_SETTINGS)
@params_option
@click.option("--name", default=None, help="variant (default: params model.name)")
@click.option("--tfjs-dir", default=None, help="TF.js folder (default: models/tfjs/<name>)")
@click.option("--out", default=None, help=f"checkpoint path (default: {PRETRAINED_DIR}/<name>.pt)")
@logging_options
@user_errors
def main(params_path: str | None, name: str | None, tfjs_dir: str | None, out: str | None) -> None:
    """Convert the fetched TF.js weights of a variant into a PyTorch checkpoint (state_dict + meta)."""
    params = load_params(params_path)
    name = name or params.model.name
    start = time.perf_counter()
    state, meta = convert_folder(tfjs_dir or f"models/tfjs/{name}", name)
    out = out or str(pretrained_path(name, root="."))
    save_checkpoint(out, state, meta)
    count = sum(t.numel() for t in state.values())
    click.echo(f"{name}: {count} parameters from {meta['source']} ({meta['format']}) -> {out} "
               f"in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
