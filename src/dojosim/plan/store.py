"""A sweep's results on disk: a directory of Parquet files that only ever grows by whole files.

Rows are buffered in memory and written in chunks: each chunk goes to a hidden temporary file,
is flushed to disk (fsync), and only then renamed to ``part-*.parquet`` — a rename is atomic on
POSIX, so after any interruption (kill -9 included) every part file is complete and every row
in it is done. Rows still in the buffer are simply not there, and a resumed sweep recomputes
them. Every row carries ``key``, a stable hash of its parameters, so resuming skips exactly the
rows that are on disk: none lost, none repeated.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from ..errors import SpecError
from ..outfile import fsync_file

MANIFEST = "sweep.json"
LOCK = "writer.lock"


def _one_type(column):
    """A column Arrow can store: values of mixed types (a grid of [1, "2 GiB", true]) as text."""
    kinds = {type(v) for v in column if v is not None}
    if len(kinds) <= 1 or kinds <= {int, float}:
        return column
    return column.map(lambda v: None if v is None else str(v))


class Store:
    """Append-only columnar store for one sweep."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # --- the manifest: which sweep this directory holds --------------------------------------
    def open(self, spec_hash: str, spec: dict, resume: bool) -> None:
        """Take the directory for this sweep, or reopen it for ``resume``; refuse to mix two
        sweeps or to share the directory with another writer.

        The lock comes first: everything after it (reading and writing the manifest, removing
        temporary files) happens in one process at a time.
        """
        if self.path.exists() and not self.path.is_dir():
            raise SpecError("out", f"{self.path} exists and is not a directory")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpecError("out", f"cannot create {self.path}: {exc.strerror or exc}") from None
        self._lock()
        try:
            self._check_manifest(spec_hash, spec, resume)
            # Temporary files are leftovers of a write that never finished; their rows are not done.
            for tmp in self.path.glob(".tmp-*"):
                tmp.unlink(missing_ok=True)
        except BaseException:
            self.close()
            raise

    def _check_manifest(self, spec_hash: str, spec: dict, resume: bool) -> None:
        manifest = self.path / MANIFEST
        if manifest.exists():
            try:
                old = json.loads(manifest.read_text(encoding="utf-8"))
            except (ValueError, OSError):
                raise SpecError("out", f"{self.path}/{MANIFEST} is not a sweep manifest; choose another --out") from None
            if not isinstance(old, dict) or old.get("spec_hash") != spec_hash:
                got = old.get("spec_hash") if isinstance(old, dict) else None
                raise SpecError("out", f"{self.path} holds results of a different sweep "
                                       f"(spec hash {got} vs {spec_hash}); choose another --out")
            if not resume and self.parts():
                raise SpecError("out", f"{self.path} already holds results of this sweep; "
                                       "pass --resume to continue it, or choose another --out")
        else:
            if any(self.path.glob("part-*.parquet")):
                raise SpecError("out", f"{self.path} holds parquet files but no {MANIFEST}; choose another --out")
            self._write_atomic(manifest, json.dumps({"spec_hash": spec_hash, "spec": spec}, indent=2,
                                                    default=str).encode())

    # --- one writer at a time ------------------------------------------------------------------
    def _lock(self) -> None:
        """Hold an exclusive `flock` on the directory's lock file for the writer's life.

        The kernel grants it to one process only, atomically (no check-then-write race), and
        drops it when the process dies, kill -9 included, so no stale lock is ever left.
        """
        import fcntl

        lock = self.path / LOCK
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            raise SpecError("out", f"cannot lock {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            who = f" (process {holder})" if holder.isdigit() else ""
            raise SpecError("out", f"{self.path} is being written by another sweep{who}; "
                                   "wait for it, or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def close(self) -> None:
        """Release the lock (a crash releases it too: the kernel drops a dead process's locks)."""
        fd = getattr(self, "_lock_fd", None)
        if fd is not None:
            self._lock_fd = None
            os.close(fd)

    def parts(self) -> list[Path]:
        return sorted(self.path.glob("part-*.parquet"))

    def done_keys(self) -> set[str]:
        """Keys of every row on disk."""
        import pyarrow.parquet as pq

        keys: set[str] = set()
        for part in self.parts():
            keys.update(pq.read_table(part, columns=["key"]).column("key").to_pylist())
        return keys

    # --- appending ---------------------------------------------------------------------------
    def append(self, rows: list[dict]) -> Path | None:
        """Write ``rows`` as one new part file, atomically. Returns its path."""
        if not rows:
            return None
        import pandas as pd

        df = pd.DataFrame(rows)
        for col in df.columns:
            if df[col].dtype == object:
                df[col] = _one_type(df[col])
        name = f"part-{len(self.parts()):06d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.path / f".tmp-{name}"
        df.to_parquet(tmp, index=False)
        fsync_file(tmp)
        os.replace(tmp, self.path / name)
        self._fsync_dir()
        return self.path / name

    def load(self):
        """All rows as one pandas DataFrame, in point order."""
        import pandas as pd

        frames = [pd.read_parquet(p) for p in self.parts()]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=["index", "key"])
        df = pd.concat(frames, ignore_index=True)
        if "index" in df.columns:
            df = df.sort_values("index", kind="stable").reset_index(drop=True)
        return df

    # --- durability helpers ------------------------------------------------------------------
    def _write_atomic(self, target: Path, data: bytes) -> None:
        tmp = target.with_name(f".tmp-{target.name}-{uuid.uuid4().hex[:8]}")
        tmp.write_bytes(data)
        fsync_file(tmp)
        os.replace(tmp, target)
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass  # some filesystems do not fsync directories; the rename is still atomic
        finally:
            os.close(fd)
