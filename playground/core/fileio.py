"""Atomic file writes: write to a temporary file in the same folder, fsync,
then rename over the target, so readers see the old file or the new one,
never half of one. Only a regular file is ever replaced: a device (/dev/full),
a folder, a link or a pipe at the target is refused, and stays as it was."""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from playground.core import processes
from playground.core.errors import PlaygroundError


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary binary file, then move it to ``path``. A temporary file
    that a killed writer of the same target left is removed first (clean_leftovers)."""
    path = Path(path)
    refuse_special(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(path.parent, path.name)
        fd, tmp = tempfile.mkstemp(prefix=temp_name(path.name), suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise WriteError.of(path, exc) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from others
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, PlaygroundError):
            raise WriteError.of(path, exc) from None
        raise
    return path


def temp_name(name: str) -> str:
    """The start of a temporary entry's name beside ``name``: hidden, and naming this machine and
    process, so that a later process can tell a killed writer's leftover from a live writer's
    (``.checkpoint.pt~host~4242~`` and then a random part and ``.tmp``, or ``.old``)."""
    return f".{name}~{_host()}~{os.getpid()}~"


LEFTOVER = re.compile(r"^\.(?P<name>.+)~(?P<host>[^~/]+)~(?P<pid>\d{1,10})~[^~/]*\.(tmp|old)$")


def clean_leftovers(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove the temporary files and folders (temp_name) in ``folder`` that a process of this
    machine left when it was killed (for target ``name`` only, or all): their process is gone.
    A live process's, another machine's and anything not named so are left alone. Returns what
    was removed."""
    import shutil

    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        found = LEFTOVER.match(entry.name)
        if not found or (name is not None and found["name"] != name) or found["host"] != _host() \
                or not processes.gone(int(found["pid"])):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:   # gone already (another process cleaned it), or not ours to remove
            pass
    return removed


def _host() -> str:   # as a file name may hold it
    return processes.host().replace("~", "-").replace("/", "-") or "host"


class WriteError(PlaygroundError, OSError):
    """A file that could not be written (a full disk, a read-only folder, no permission): the old
    file, if any, is as it was, and no temporary file is left."""

    WHY = {errno.ENOSPC: ("the disk is full", "Free space on it, or write somewhere else (--out)."),
           errno.EDQUOT: ("the disk quota is used up", "Free space in your quota, or write somewhere else."),
           errno.EROFS: ("the folder is on a read-only file system", "Write somewhere else (--out)."),
           errno.EACCES: ("there is no permission to write in the folder", "Write somewhere else (--out), or "
                          "change the folder's permissions."),
           errno.EPERM: ("there is no permission to write in the folder", "Write somewhere else (--out), or "
                         "change the folder's permissions.")}

    @classmethod
    def of(cls, path: Path, exc: OSError) -> WriteError:
        why, fix = cls.WHY.get(exc.errno, (exc.strerror or str(exc), "Write somewhere else (--out)."))
        err = cls(f"cannot write {path}: {why} ({path.parent}); nothing was changed there.\n  {fix}")
        err.errno = exc.errno
        return err


class NotARegularFile(PlaygroundError, OSError):
    """The target of a write exists and is not a regular file."""


def refuse_special(path: Path) -> None:
    """NotARegularFile if ``path`` exists as anything but a regular file (the rename would replace a
    device node, a link or a pipe with a file, and a folder cannot be written at all)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISREG(mode):
        what = ("a folder" if stat.S_ISDIR(mode) else "a symbolic link" if stat.S_ISLNK(mode) else
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise NotARegularFile(f"{path} is {what}; playground writes only regular files and replaces nothing "
                              "else. Choose another file name.")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))
