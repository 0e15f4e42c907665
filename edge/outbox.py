"""Durable outbox between the decoders and MQTT: SQLite in WAL mode.

A message is written here before anything else happens to it, and leaves only after the broker's
PUBACK for it arrives (:meth:`Outbox.delete`).  What is still here when the agent stops is sent again
when it starts; ingest writes idempotently, so a message sent twice is stored once.

``synchronous=NORMAL`` in WAL mode keeps every committed message across a crash or kill of the agent
process; only a power loss can take the last transactions (``CEDETECT_EDGE_OUTBOX_SYNC=FULL`` closes
that at the cost of one fsync per commit).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        sync = os.environ.get("CEDETECT_EDGE_OUTBOX_SYNC", "NORMAL").upper()
        if sync not in ("NORMAL", "FULL"):
            raise ValueError(f"CEDETECT_EDGE_OUTBOX_SYNC must be NORMAL or FULL, not {sync!r}")
        self._db.execute(f"PRAGMA synchronous={sync}")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " topic TEXT NOT NULL,"
            " payload BLOB NOT NULL,"
            " qos INTEGER NOT NULL,"
            " retain INTEGER NOT NULL,"
            " created_utc TEXT NOT NULL)"
        )

    def add(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        return self.add_many([(topic, payload, qos, retain)])[0]

    def add_many(self, items: Iterable[tuple[str, bytes, int, bool]]) -> list[int]:
        """Store several messages in one transaction; returns their ids in order."""
        now = datetime.now(UTC).isoformat()
        ids: list[int] = []
        with self._transaction():
            for topic, payload, qos, retain in items:
                cur = self._db.execute(
                    "INSERT INTO outbox (topic, payload, qos, retain, created_utc) VALUES (?, ?, ?, ?, ?)",
                    (topic, payload, qos, int(retain), now),
                )
                assert cur.lastrowid is not None
                ids.append(cur.lastrowid)
        return ids

    def pending(self, after_id: int = 0, limit: int = 100, exclude: Iterable[int] = ()) -> list[OutboxMessage]:
        """Messages not yet acknowledged, oldest first, with id > ``after_id`` and not in ``exclude``."""
        skip = set(exclude)
        rows = self._db.execute(
            "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit + len(skip)),
        ).fetchall()
        out = [OutboxMessage(r[0], r[1], bytes(r[2]), r[3], bool(r[4])) for r in rows if r[0] not in skip]
        return out[:limit]

    def delete(self, ids: Iterable[int]) -> None:
        batch = [(i,) for i in ids]
        if batch:
            with self._transaction():
                self._db.executemany("DELETE FROM outbox WHERE id = ?", batch)

    def count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM outbox").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
