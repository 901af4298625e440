"""The one safe writer of every file dojosim produces (reports, traces, plots, results).

Rules, checked by `check_output` before any long computation and again when writing:

- the target is never written through a symlink unless the user passes ``--force`` (then the
  link's target is written);
- an existing file is never overwritten unless ``--force``, or it sits in one of dojosim's own
  output directories (a directory dojosim created, marked by a `MARKER` file inside);
- the target's directory must be writable (checked up front, so a report that took minutes to
  compute is not lost to a typo);
- bytes go to a temporary file in the same directory, are flushed to disk, and are then renamed
  over the target: a reader sees the old file or the new one, never half of one (a full disk
  leaves the old file, or none, and a one-line error).

Each writer returns the path it wrote; the CLI prints it. Failures are `SpecError`s naming the
option (``what``) and the reason.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import SpecError

# Inside a directory dojosim created for its output: files there may be overwritten by reruns.
MARKER = ".dojosim-output"


def _err(what: str, path: Path, reason: str) -> SpecError:
    return SpecError(what, f"{str(path)!r} {reason}")


def _as_path(path, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise SpecError(what, f"expected a file path, got {type(path).__name__}")
    p = Path(path)
    if "\x00" in str(p):
        raise SpecError(what, "a path cannot contain a NUL byte")
    return p


def is_own_dir(directory: Path) -> bool:
    """True when ``directory`` is one dojosim created for its output (it holds `MARKER`)."""
    return (directory / MARKER).is_file()


def _nearest_existing(p: Path) -> Path:
    q = p
    while not q.exists() and q != q.parent:
        q = q.parent
    return q


def check_output(path, *, force: bool = False, what: str = "output", suffixes: tuple[str, ...] = ()) -> Path:
    """The path to write, after checking it can and may be written; a `SpecError` otherwise.

    Nothing is created. With ``force`` a symlink resolves to its target and an existing file
    may be replaced. ``suffixes`` (e.g. ``(".png", ".svg")``) restricts the file type.
    """
    try:
        return _check_output(path, force, what, suffixes)
    except OSError as exc:  # a name too long, a loop of links, a directory we may not search
        raise _err(what, Path(str(path)), f"cannot be used: {exc.strerror or exc}") from None


def _check_output(path, force: bool, what: str, suffixes: tuple[str, ...]) -> Path:
    p = _as_path(path, what)
    if suffixes and p.suffix.lower() not in suffixes:
        raise _err(what, p, f"must end in {' or '.join(suffixes)}")
    if p.is_symlink():
        if not force:
            raise _err(what, p, "is a symbolic link; dojosim does not write through links "
                                "(pass --force to write its target)")
        p = p.resolve()
    if p.exists():
        if p.is_dir():
            raise _err(what, p, "is a directory; give a file name")
        if not p.is_file():
            raise _err(what, p, "is not a regular file")
        if not force and not is_own_dir(p.parent):
            raise _err(what, p, "exists; pass --force to overwrite it")
    base = _nearest_existing(p.parent)
    if not base.is_dir():
        raise _err(what, p.parent, "is not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise _err(what, base, "is not writable")
    return p


def check_output_dir(path, *, force: bool = False, what: str = "output directory") -> Path:
    """The directory to write files into, checked like `check_output` (nothing is created)."""
    try:
        return _check_output_dir(path, force, what)
    except OSError as exc:
        raise _err(what, Path(str(path)), f"cannot be used: {exc.strerror or exc}") from None


def _check_output_dir(path, force: bool, what: str) -> Path:
    p = _as_path(path, what)
    if p.is_symlink() and not force:
        raise _err(what, p, "is a symbolic link; dojosim does not write through links "
                            "(pass --force to write its target)")
    if p.exists() and not p.is_dir():
        raise _err(what, p, "exists and is not a directory")
    base = _nearest_existing(p)
    if not base.is_dir():
        raise _err(what, base, "is not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise _err(what, base, "is not writable")
    return p


def make_output_dir(path, *, force: bool = False, what: str = "output directory") -> Path:
    """Create (or reuse) an output directory; one dojosim creates is marked as its own."""
    p = check_output_dir(path, force=force, what=what)
    try:
        if not p.exists():
            p.mkdir(parents=True)
            (p / MARKER).write_text("files here were written by dojosim and may be overwritten by it\n")
    except FileExistsError:
        if not p.is_dir():
            raise _err(what, p, "exists and is not a directory") from None
    except OSError as exc:
        raise _err(what, p, f"cannot be created: {exc.strerror or exc}") from None
    return p


@contextlib.contextmanager
def atomic_path(path, *, force: bool = False, what: str = "output", suffixes: tuple[str, ...] = ()):
    """Yield a temporary path beside ``path`` to write to; on success it replaces ``path``.

    For writers that want a file name (matplotlib's ``savefig``): the temporary path has the
    same suffix. On any error the temporary file is removed and ``path`` is left as it was.
    """
    p = check_output(path, force=force, what=what, suffixes=suffixes)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{p.stem[:40]}-", suffix=p.suffix, dir=p.parent)
        os.close(fd)
    except OSError as exc:
        raise _err(what, p, f"cannot be written: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _err(what, p, f"cannot be written: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path, data: bytes, *, force: bool = False, what: str = "output",
                suffixes: tuple[str, ...] = ()) -> Path:
    """Write ``data`` to ``path`` atomically (see the module rules); returns the path written."""
    with atomic_path(path, force=force, what=what, suffixes=suffixes) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return _written(path, force)


def write_text(path, text: str, *, force: bool = False, what: str = "output",
               suffixes: tuple[str, ...] = ()) -> Path:
    """`write_bytes` of ``text`` encoded as UTF-8."""
    return write_bytes(path, text.encode("utf-8"), force=force, what=what, suffixes=suffixes)


def _written(path, force: bool) -> Path:
    p = Path(path)
    return p.resolve() if force and p.is_symlink() else p


def fsync_file(path: Path) -> None:
    """Flush ``path``'s bytes to disk (before the rename that publishes it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
