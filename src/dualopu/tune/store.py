"""A result store that survives interruption: SQLite (WAL), one row per evaluated
configuration, written chunk by chunk in transactions, keyed by a run signature so that a
resumed run can only continue the same search."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from dualopu.errors import TuneError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    config TEXT PRIMARY KEY, chunk INTEGER NOT NULL, idx TEXT NOT NULL,
    period_cycles REAL NOT NULL, area REAL NOT NULL, macs_per_cycle REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (chunk INTEGER PRIMARY KEY);
"""


class ResultStore:
    """Open (or create) the store at ``path`` for the run ``signature``."""

    def __init__(self, path: str | Path, signature: dict[str, object], resume: bool, overwrite: bool = False) -> None:
        self.path = Path(path)
        sig = json.dumps(signature, sort_keys=True)
        if self.path.exists() and overwrite:
            self.path.unlink()
            for extra in (self.path.with_name(self.path.name + "-wal"), self.path.with_name(self.path.name + "-shm")):
                extra.unlink(missing_ok=True)
        existed = self.path.exists()
        if existed and not resume:
            raise TuneError(f"{self.path} already holds results: pass --resume to continue that run, or --overwrite")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            if existed:
                tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not {"meta", "points", "chunks"} <= tables:
                    raise TuneError(f"{self.path}: not a dualopu result store (tables {sorted(tables)}); refusing "
                                    "to overwrite it")
                row = self.db.execute("SELECT value FROM meta WHERE key='signature'").fetchone()
                if row is None or row[0] != sig:
                    raise TuneError(f"{self.path}: the stored run differs from this one (models, space, budget or "
                                    "seed); refusing to mix results")
            else:
                self.db.executescript(_SCHEMA)
                self.db.execute("INSERT INTO meta VALUES ('signature', ?)", (sig,))
                self.db.commit()
        except sqlite3.DatabaseError as exc:
            raise TuneError(f"{self.path}: corrupt or not an SQLite result store ({exc}); refusing to overwrite "
                            "it") from None

    def done_chunks(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT chunk FROM chunks")}

    def add_chunk(self, chunk: int, rows: Iterable[tuple[str, str, float, float, float]]) -> None:
        """Write one chunk's rows and mark it done, atomically."""
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO points (config, chunk, idx, period_cycles, area, macs_per_cycle) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(c, chunk, i, p, a, m) for c, i, p, a, m in rows],
            )
            self.db.execute("INSERT OR IGNORE INTO chunks VALUES (?)", (chunk,))

    def frame(self) -> pd.DataFrame:
        frame = pd.read_sql_query("SELECT config, idx, period_cycles, area, macs_per_cycle FROM points ORDER BY rowid",
                                  self.db)
        frame["period_cycles"] = frame["period_cycles"].replace(np.float64(1e300), np.inf)
        return frame

    def close(self) -> None:
        self.db.close()
