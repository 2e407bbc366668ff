import json
import os
import stat

import pytest

from posenet.io.atomic import UniqueNames, atomic_dir, atomic_path, write_json_atomic


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_dir_replaces_whole_folder_only_on_success(tmp_path):
    target = tmp_path / "folder"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "b.txt").write_text("second")
            raise RuntimeError
    assert [p.name for p in target.iterdir()] == ["a.txt"]
    with atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("third")
    assert [p.name for p in target.iterdir()] == ["c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_outputs_get_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "f.json", {})
        with atomic_dir(tmp_path / "d"):
            pass
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_unique_names_number_repeats_case_insensitively():
    names = UniqueNames()
    assert [names(n) for n in ("a.jpg", "A.JPG", "a.jpg", "a_1.jpg", "b")] == [
        "a.jpg", "A_1.JPG", "a_2.jpg", "a_1_1.jpg", "b"]


def test_errors_name_the_users_path_not_the_hidden_temp_file(tmp_path):
    """An OSError about the temp file, or a file in the temp folder, and a PosenetError quoting the temp path name
    the target instead."""
    import errno

    from posenet.errors import WeightsError

    target = tmp_path / "out.bin"
    with pytest.raises(OSError) as info, atomic_path(target) as tmp:
        raise OSError(errno.EIO, "Input/output error", str(tmp))
    assert info.value.filename == str(target)
    folder = tmp_path / "models"
    with pytest.raises(OSError) as info, atomic_dir(folder) as tmp:
        raise OSError(errno.EIO, "Input/output error", "source.bin", None, str(tmp / "sub" / "w.bin"))
    assert (info.value.filename, info.value.filename2) == ("source.bin", str(folder / "sub" / "w.bin"))
    with pytest.raises(WeightsError, match=rf"^{folder}/manifest.json: bad shape$"), atomic_dir(folder) as tmp:
        raise WeightsError(f"{tmp}/manifest.json: bad shape")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_write_past_the_file_size_limit_names_the_target(tmp_path, what):
    """A real write failure (RLIMIT_FSIZE, as a full disk: the OS error carries no file name) names the target."""
    import subprocess
    import sys

    code = f"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))
from posenet.io.atomic import atomic_dir, write_bytes_atomic
try:
    if {what!r} == "file":
        write_bytes_atomic("out/x.bin", bytes(5000))
    else:
        with atomic_dir("out") as tmp:
            (tmp / "y.bin").write_bytes(bytes(5000))
except OSError as err:
    sys.exit(f"{{err.filename}}: {{err.strerror}}")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.stderr.strip() == f"{'out/x.bin' if what == 'file' else 'out'}: File too large"  # no tmp name
    assert [p.name for p in tmp_path.rglob("*") if p.name.startswith(".")] == []


def test_folder_lock_refuses_a_second_writer_in_another_process(tmp_path):
    import subprocess
    import sys

    from posenet.errors import OutputInUseError
    from posenet.io.atomic import LOCK_FILE, folder_lock

    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from posenet.io.atomic import folder_lock\nwith folder_lock({str(out)!r}, 'run'):\n"
                               "    print('locked', flush=True)\n    input()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(OutputInUseError, match=rf"^{out}: another posenet infer is writing to this folder "
                                                   rf"\(pid {holder.pid}\); wait for it"):
            with folder_lock(out, "posenet infer"):
                pass
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    with folder_lock(out, "posenet infer"):                              # released: the next run goes ahead
        assert (out / LOCK_FILE).read_text() == f"pid {os.getpid()}"
    assert list(out.iterdir()) == []                                    # and leaves no lock file behind
