"""Wheels as a release builds them, for the self-tests of what is installed: layerconf's own from a copy of the
tracked files (links kept), and a small package's from its folder. ``python -m build --no-isolation``: the dev
extra's setuptools, no network."""
import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2]


def tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=SOURCE, capture_output=True, text=True, check=True).stdout
    return [name for name in out.split("\0") if name and (SOURCE / name).exists()]


def build(project: Path, out: Path) -> Path:
    """The wheel of the project in ``project`` (a pyproject.toml), written into ``out``."""
    done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(project)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    return wheel


def layerconf(copy: Path, out: Path) -> Path:
    """layerconf's wheel, built from a copy of the tracked files in ``copy``."""
    for name in tracked():
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (SOURCE / name).is_symlink():
            target.symlink_to((SOURCE / name).readlink())
        else:
            shutil.copy2(SOURCE / name, target)
    return build(copy, out)
