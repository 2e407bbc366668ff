"""``python -m posenet`` is the ``posenet`` command."""

from posenet.commands import main

main(prog_name="posenet")
