"""Where the command line writes: paths checked before any work, output written whole or not at all.

``folder`` and ``file`` refuse an unusable output path with OutputError (a usage error, exit 2) naming the
option. ``staged`` collects a command's files in a fresh folder beside the target and moves them in only
when the command succeeds, replacing every file of the set at once: a crash or an interruption leaves
the previous output as it was, and no file of an earlier run stays beside the new ones.
"""
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


class OutputError(ValueError):
    """An output path that cannot be written; the message names the option and the path."""


def _writable_ancestor(path: Path) -> Path:
    existing = path
    while not existing.exists():
        existing = existing.parent
    return existing


def folder(path, option: str) -> Path:
    """``path`` as a folder to write into: one that exists or can be created, and can be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path}: is a file; give a folder (it is created if missing)")
    base = _writable_ancestor(path)
    if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: cannot write in {base}")
    return path


def file(path, option: str) -> Path:
    """``path`` as a file to write: its folder exists and can be written, and it is not a folder itself."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise OutputError(f"{option} {path}: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"{option} {path}: cannot write it")
    return path


def write_text(path: Path, text: str) -> None:
    """Write ``path`` whole: into a temporary file beside it, then moved over it, with the mode the file had, or that
    a new file gets (0o666 less the umask; the temporary file's own is 0o600)."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else _new_file_mode()
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(text)
    os.chmod(tmp.name, mode)
    os.replace(tmp.name, path)


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def staged(target: Path, names: list[str]):
    """Yield a staging folder; on success, each of ``names`` (files or folders) in ``target`` is replaced by
    the staged one, or removed when the command did not produce it. On an exception nothing changes."""
    target.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".layerconf-", dir=target))
    try:
        yield stage
        for name in names:
            old, new = target / name, stage / name
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            elif old.exists() or old.is_symlink():
                old.unlink()
            if new.exists():
                os.replace(new, old)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
