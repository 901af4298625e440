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

MANIFEST = "sweep.json"
LOCK = "writer.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """Append-only columnar store for one sweep."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # --- the manifest: which sweep this directory holds --------------------------------------
    def open(self, spec_hash: str, spec: dict, resume: bool) -> None:
        """Create the directory, or reopen it for ``resume``; refuse to mix two sweeps."""
        manifest = self.path / MANIFEST
        if self.path.exists() and not self.path.is_dir():
            raise SpecError("out", f"{self.path} exists and is not a directory")
        if manifest.exists():
            old = json.loads(manifest.read_text())
            if old.get("spec_hash") != spec_hash:
                raise SpecError("out", f"{self.path} holds results of a different sweep "
                                       f"(spec hash {old.get('spec_hash')} vs {spec_hash}); choose another --out")
            if not resume and self.parts():
                raise SpecError("out", f"{self.path} already holds results of this sweep; "
                                       "pass --resume to continue it, or choose another --out")
        else:
            if self.path.exists() and any(self.path.glob("part-*.parquet")):
                raise SpecError("out", f"{self.path} holds parquet files but no {MANIFEST}; choose another --out")
            self.path.mkdir(parents=True, exist_ok=True)
            self._write_atomic(manifest, json.dumps({"spec_hash": spec_hash, "spec": spec}, indent=2,
                                                    default=str).encode())
        self._lock()
        # Temporary files are leftovers of a write that never finished; their rows are not done.
        for tmp in self.path.glob(".tmp-*"):
            tmp.unlink(missing_ok=True)

    # --- one writer at a time ------------------------------------------------------------------
    def _lock(self) -> None:
        """Take the directory's lock; a lock left by a dead process (kill -9) is taken over."""
        lock = self.path / LOCK
        try:
            pid = int(lock.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            pid = 0
        if pid and pid != os.getpid() and _alive(pid):
            raise SpecError("out", f"{self.path} is being written by another sweep (process {pid})")
        self._write_atomic(lock, str(os.getpid()).encode())

    def close(self) -> None:
        """Release the lock (a crash leaves it; the next open sees its process is gone)."""
        lock = self.path / LOCK
        try:
            if int(lock.read_text().strip() or 0) == os.getpid():
                lock.unlink()
        except (FileNotFoundError, ValueError):
            pass

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
        name = f"part-{len(self.parts()):06d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.path / f".tmp-{name}"
        df.to_parquet(tmp, index=False)
        self._fsync(tmp)
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
        self._fsync(tmp)
        os.replace(tmp, target)
        self._fsync_dir()

    @staticmethod
    def _fsync(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

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
