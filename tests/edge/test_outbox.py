from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.outbox import Outbox


def test_messages_survive_a_restart_until_deleted(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path)
    ids = box.add_many([("a/1", b"one", 1, False), ("a/2", b"two", 1, True)])
    box.close()

    reopened = Outbox(path)
    pending = reopened.pending()
    assert [m.id for m in pending] == ids
    assert [(m.topic, m.payload, m.qos, m.retain) for m in pending] == [
        ("a/1", b"one", 1, False),
        ("a/2", b"two", 1, True),
    ]
    reopened.delete([ids[0]])
    reopened.close()

    again = Outbox(path)
    assert [m.payload for m in again.pending()] == [b"two"]
    assert again.count() == 1
    again.close()


def test_wal_mode_and_paging(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    ids = box.add_many([(f"t/{i}", str(i).encode(), 1, False) for i in range(10)])
    assert [m.id for m in box.pending(after_id=ids[3], limit=3)] == ids[4:7]
    assert [m.id for m in box.pending(limit=3, exclude=ids[:2])] == ids[2:5]
    box.close()
    mode = sqlite3.connect(tmp_path / "o.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_failed_transaction_stores_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    bad: list[tuple[str, bytes, int, bool]] = [("t/1", b"ok", 1, False), ("t/2", None, 1, False)]  # type: ignore[list-item]
    try:
        box.add_many(bad)
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("a NULL payload must be refused")
    assert box.count() == 0
