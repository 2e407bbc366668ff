import logging
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from posenet.cli import user_errors
from posenet.errors import ImageError


def _command(exc: BaseException) -> click.Command:
    @click.command()
    @user_errors
    def main() -> None:
        raise exc

    return main


def test_posenet_error_is_one_line_exit_2():
    result = CliRunner().invoke(_command(ImageError("photo.jpg: not an image")))
    assert result.exit_code == 2
    assert result.output == "error: photo.jpg: not an image\n"


def test_file_system_error_is_one_line_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")

    @click.command()
    @user_errors
    def main() -> None:
        (blocker / "out.json").write_text("{}")  # a file where a folder should be

    result = CliRunner().invoke(main)
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "Not a directory" in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_other_exceptions_are_not_swallowed():
    result = CliRunner().invoke(_command(ValueError("a bug")))
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)


def test_verbose_logs_the_cause_before_the_one_line(caplog):
    try:
        raise OSError(5, "Input/output error")
    except OSError as cause:
        err = ImageError("photo.jpg: cannot read")
        err.__cause__ = cause
    with caplog.at_level(logging.DEBUG, logger="posenet.cli"):
        result = CliRunner().invoke(_command(err))
    assert result.exit_code == 2 and result.output == "error: photo.jpg: cannot read\n"
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1 and logged[0].exc_info[1].__cause__ is err.__cause__


def test_copy_error_names_source_and_target():
    import errno

    result = CliRunner().invoke(_command(OSError(errno.EFBIG, "File too large", "src.bin", None, "out/w.bin")))
    assert result.exit_code == 2 and result.output == "error: src.bin -> out/w.bin: File too large\n"


HEAVY_MODULES = ("torch", "cv2", "streamlit", "dvc")


@pytest.mark.parametrize("args", [["--help"], ["infer", "--help"], ["export", "--help"], ["benchmark", "--help"],
                                  ["infer", "--no-such-option"], ["export", "--opset", "1"], ["no-such-command"]])
def test_help_and_argument_errors_import_no_heavy_module(args):
    """`posenet --help` and argument errors answer at once: torch, OpenCV, streamlit and dvc are not imported."""
    script = ("import sys\nfrom posenet.commands import main\ntry:\n    main(args=sys.argv[1:], prog_name='posenet')\n"
              "except SystemExit as done:\n    print('EXIT', done.code)\n"
              f"print('HEAVY', [m for m in {HEAVY_MODULES!r} if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr
    assert ("EXIT 0" if "--help" in args else "EXIT 2") in done.stdout
