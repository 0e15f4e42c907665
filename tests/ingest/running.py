"""An ingest service run in a thread for the length of a ``with`` block."""

from __future__ import annotations

import threading

from ingest.service import IngestService


class Running:
    def __init__(self, service: IngestService) -> None:
        self.service = service
        self.stop = threading.Event()
        self.thread = threading.Thread(target=service.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> IngestService:
        self.thread.start()
        assert self.service.subscribed.wait(20), "ingest did not subscribe"
        return self.service

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(20)
        assert not self.thread.is_alive()
