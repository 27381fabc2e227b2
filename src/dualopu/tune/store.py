"""The tuner's resumable store: SQLite, numeric columns only, small.

It holds what a resumed run needs and nothing else: the run signature (models, space,
budget, method, cost-model version), the ranked top candidates (the ones to confirm) with
their scheduled throughput once confirmed, and the Pareto front. A killed run resumes
without searching again and without re-scheduling the candidates already confirmed.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from dualopu.errors import TuneError
from dualopu.plan import MODEL_VERSION as PLAN_MODEL_VERSION
from dualopu.tune.space import COLUMNS

#: Version of the mapping/cost model the stored bounds come from (`dualopu.plan.MODEL_VERSION`),
#: recorded in the signature so a store written by another model is never resumed.
MODEL_VERSION = PLAN_MODEL_VERSION

#: Layout and meaning of the stored rows: 2 = ranked by the placement, with energy per image
#: (a store of another format is refused on resume, never mixed).
STORE_FORMAT = 2
#: Columns of a ranked row besides the per-core values.
ROW_COLUMNS = ("period_cycles", "area", "bound_ips", "energy_uj_per_image")


def core_columns(n_cores: int) -> list[str]:
    """Wide numeric column names of one design: ``c0_pe_count``, ..., ``c{K-1}_output_buffer_kib``."""
    return [f"c{k}_{c}" for k in range(n_cores) for c in COLUMNS]


class ResultStore:
    """Open (or create) the store at ``path`` for the run ``signature`` with ``n_cores`` cores."""

    def __init__(
        self,
        path: str | Path,
        signature: dict[str, object],
        n_cores: int,
        resume: bool,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        self.n_cores = n_cores
        sig = json.dumps(
            {**signature, "model_version": MODEL_VERSION, "store_format": STORE_FORMAT}, sort_keys=True
        )
        if self.path.exists() and overwrite:
            self.path.unlink()
            for extra in (
                self.path.with_name(self.path.name + "-wal"),
                self.path.with_name(self.path.name + "-shm"),
            ):
                extra.unlink(missing_ok=True)
        existed = self.path.exists()
        if existed and not resume:
            raise TuneError(
                f"{self.path} already holds results: pass --resume to continue that run, or --overwrite"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        cols = ", ".join(
            f"{c} REAL NOT NULL"
            for c in (*ROW_COLUMNS, "dram_bytes_per_cycle", "clock_mhz", *core_columns(n_cores))
        )
        try:
            self.db = sqlite3.connect(self.path)
            self.db.execute("PRAGMA journal_mode=WAL")
            if existed:
                tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not {"meta", "candidates", "pareto"} <= tables:
                    raise TuneError(
                        f"{self.path}: not a dualopu result store of this version (tables "
                        f"{sorted(tables)}); refusing to overwrite it"
                    )
                row = self.db.execute("SELECT value FROM meta WHERE key='signature'").fetchone()
                stored = json.loads(row[0]) if row else {}
                if stored.get("model_version") != MODEL_VERSION:
                    raise TuneError(
                        f"{self.path}: written by cost model {stored.get('model_version')!r}, this is "
                        f"{MODEL_VERSION!r}; refusing to resume (use --overwrite)"
                    )
                if stored.get("store_format") != STORE_FORMAT:
                    raise TuneError(
                        f"{self.path}: tune store format {stored.get('store_format', 1)!r}, this is "
                        f"{STORE_FORMAT}; refusing to resume (use --overwrite)"
                    )
                if row[0] != sig:
                    raise TuneError(
                        f"{self.path}: the stored run differs from this one (models, space, budget or "
                        "method); refusing to mix results"
                    )
            else:
                self.db.executescript(
                    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                    f"CREATE TABLE candidates (rank INTEGER PRIMARY KEY, preset INTEGER NOT NULL, {cols}, "
                    "scheduled_ips REAL, busy_json TEXT);"
                    f"CREATE TABLE pareto (i INTEGER PRIMARY KEY, {cols});"
                )
                self.db.execute("INSERT INTO meta VALUES ('signature', ?)", (sig,))
                self.db.commit()
        except sqlite3.DatabaseError as exc:
            raise TuneError(
                f"{self.path}: corrupt or not an SQLite result store ({exc}); refusing to overwrite it"
            ) from None

    def ranked(self) -> bool:
        return self.db.execute("SELECT value FROM meta WHERE key='stage'").fetchone() is not None

    def put_ranked(
        self, candidates: np.ndarray, preset: np.ndarray, pareto: np.ndarray, info: dict[str, object]
    ) -> None:
        """Store the ranked candidates and the front (rows: ROW_COLUMNS, dram, clock, core values), atomically."""
        n = len(ROW_COLUMNS) + 2 + len(core_columns(self.n_cores))
        with self.db:
            self.db.executemany(
                f"INSERT INTO candidates VALUES (?, ?, {', '.join('?' * n)}, NULL, NULL)",
                [(i, int(p), *map(float, r)) for i, (r, p) in enumerate(zip(candidates, preset))],
            )
            self.db.executemany(
                f"INSERT INTO pareto VALUES (?, {', '.join('?' * n)})",
                [(i, *map(float, r)) for i, r in enumerate(pareto)],
            )
            self.db.execute("INSERT INTO meta VALUES ('stage', ?)", (json.dumps(info),))

    def load_ranked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM candidates ORDER BY rank").fetchall()
        cand = np.array([r[2:-2] for r in rows], dtype=float)
        preset = np.array([r[1] for r in rows], dtype=bool)
        pareto = np.array([r[1:] for r in self.db.execute("SELECT * FROM pareto ORDER BY i")], dtype=float)
        info = json.loads(self.db.execute("SELECT value FROM meta WHERE key='stage'").fetchone()[0])
        return cand, preset, pareto.reshape(-1, cand.shape[1] if len(cand) else 0), info

    def confirmed(self) -> dict[int, tuple[float, list[float]]]:
        rows = self.db.execute(
            "SELECT rank, scheduled_ips, busy_json FROM candidates WHERE scheduled_ips IS NOT NULL"
        )
        return {int(r[0]): (float(r[1]), json.loads(r[2])) for r in rows}

    def put_confirmed(self, rank: int, ips: float, busy: list[float]) -> None:
        with self.db:
            self.db.execute(
                "UPDATE candidates SET scheduled_ips=?, busy_json=? WHERE rank=?",
                (ips, json.dumps(busy), rank),
            )

    def close(self) -> None:
        self.db.close()
