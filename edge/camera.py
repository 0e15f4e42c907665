"""Camera input of the edge agent: frames -> plate and container-code reads -> one Detection per passage.

Sources (:class:`~cedetect.config.CameraSettings`):

* JPEG frames that cameras or the simulator publish on ``cedetect/v1/{site}/{camera_id}/frame``
  (:mod:`cedetect.frames`), taken by :class:`MqttFrameSource` from the site's broker;
* image files and folders, read once in name order (:class:`FileSource`);
* a video file or an ``rtsp://`` (``http://``...) stream through OpenCV (:class:`VideoSource`), every
  ``sample_every``-th frame and at most ``max_fps`` frames per second.

Every source hands frames to one bounded queue.  ``readers`` worker threads (default: one per CPU core),
each with its own :class:`vision.reader.Reader` (not thread-safe; slow: it never runs on the MQTT network
thread or the asyncio loop, and ONNX Runtime releases the GIL, so the workers use the cores), take frames
from the queue, decode and read them in parallel.  With several readers each gets ``cores // readers`` ONNX
Runtime threads (unless ``CEDETECT_VISION_THREADS`` says otherwise), so they do not oversubscribe the cores.
Items are numbered as they leave the queue, and a reorder stage merges the outcomes strictly in that order,
one at a time, whichever worker finished first: the :class:`~vision.passage.PassageMerger` sees each
camera's frames in the order they were queued, a source's end is handled after all of its earlier frames,
and closing passages and publishing (detections and dead letters) stay in queue order.  ``ready`` is set once
every worker has tried to load its reader; when none could, ``failed`` holds the error and frames are
counted as unread (``frames_unread_reader_unavailable``).

A live source (MQTT, a stream) never waits for the workers: when the queue is full the frame is dropped and
counted (``frames_dropped_overload``).  A file or a video file waits, since nothing is lost by reading it
later.  Frames skipped by sampling are counted too (``frames_skipped_sampling``).

When a passage closes (its text not seen for ``passage_quiet_s``; a file source's end; the agent's stop)
its best read becomes one :class:`~cedetect.models.Detection`: id from :func:`~cedetect.models.detection_id_for`,
the crop saved as ``{sha256}.jpg`` in ``evidence_dir`` and sent along as ``crop_jpeg_b64``, published
through the agent's durable outbox.  A frame that cannot be read (a corrupt JPEG, an empty file, a frame
without the header, ...) is counted under its named reason and sent on as a
:class:`~cedetect.models.DeadLetter` (its first ``DEAD_LETTER_MAX_BYTES`` bytes), and the workers go on.

Frames from MQTT are acknowledged when taken: a frame is a sample, not evidence, until it is read; what
is read is made durable by the outbox.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import paho.mqtt.client as mqtt
from pydantic import BaseModel

from cedetect.config import CameraSettings, MqttSettings, VisionSettings
from cedetect.frames import FrameError, decode_frame
from cedetect.models import DeadLetter, Detection, DetectionKind, detection_id_for, utc_now
from cedetect.mqtt import make_client
from cedetect.topics import TopicError, TopicKind, parse, subscription
from vision.passage import Passage, PassageMerger
from vision.passage import ReadLike as MergeableRead

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

#: publish(kind, device_id, payload): puts one message in the agent's outbox (called on the asyncio loop).
Publish = Callable[[TopicKind, str, BaseModel], None]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
DEAD_LETTER_MAX_BYTES = 64 * 1024
PROTOCOL = "camera"  # the ``protocol`` of the camera input's dead letters


class ReadLike(MergeableRead, Protocol):
    """What the camera publishes of a read, beyond what the passage merger needs (``vision.reader.Read``)."""

    @property
    def raw_text(self) -> str: ...
    @property
    def box_xyxy(self) -> tuple[int, int, int, int]: ...
    @property
    def grammar(self) -> str | None: ...
    @property
    def check_digit_ok(self) -> bool | None: ...
    @property
    def repaired(self) -> bool: ...
    @property
    def crop_jpeg(self) -> bytes: ...


class ReaderLike(Protocol):
    def read(self, image_bgr: np.ndarray) -> Sequence[ReadLike]: ...


#: decode(bytes) -> BGR image; raises an exception with a ``reason`` attribute for a bad image.
Decode = Callable[[bytes], "np.ndarray"]


def default_reader(threads: int = 0) -> tuple[ReaderLike, Decode]:
    """A :class:`vision.reader.Reader` (``CEDETECT_VISION_*``) and its image decoder.

    ``threads`` > 0 sets the reader's ONNX Runtime intra-op threads, unless ``CEDETECT_VISION_THREADS`` does.
    """
    from vision.reader import Reader, decode_image  # ONNX Runtime and OCR models load here, in the worker

    settings = VisionSettings()
    if threads > 0 and settings.threads == 0:
        settings = settings.model_copy(update={"threads": threads})
    return Reader(settings), decode_image


def reader_count(settings: CameraSettings) -> int:
    """Reader workers: ``settings.readers``, or one per CPU core when it is 0."""
    return settings.readers or os.cpu_count() or 1


def threads_per_reader(readers: int) -> int:
    """ONNX Runtime intra-op threads for each of ``readers`` readers (0: ONNX Runtime decides, for one reader)."""
    return max(1, (os.cpu_count() or 1) // readers) if readers > 1 else 0


@dataclass(frozen=True, slots=True)
class CameraFrame:
    camera_id: str
    time_utc: datetime
    source: str  # where it came from: a topic, a path, a URL
    data: bytes | None = None  # encoded image (JPEG/PNG), or
    image: np.ndarray | None = None  # an already decoded BGR image (OpenCV video)
    live: bool = True  # from a live source: passages close on the wall clock too
    enqueued: float = 0.0  # time.monotonic() when queued


@dataclass(frozen=True, slots=True)
class EndOfSource:
    camera_id: str


@dataclass(frozen=True, slots=True)
class _Rejection:
    """A frame the reader stage refused: sent on as a dead letter, in the frame's turn."""

    reason: str
    detail: str = ""


class CameraInput:
    """The camera sources, the bounded queue, the reading workers and the passage merger (see the module).

    ``reader_factory()`` is called once in each worker thread (a reader is not thread-safe); by default it is
    :func:`default_reader` with :func:`threads_per_reader` ONNX Runtime threads.
    """

    def __init__(
        self,
        settings: CameraSettings,
        mqtt_settings: MqttSettings | None,
        *,
        site: str,
        agent_id: str,
        publish: Publish,
        reader_factory: Callable[[], tuple[ReaderLike, Decode]] | None = None,
    ) -> None:
        self.settings = settings
        self.site = site
        self.agent_id = agent_id
        self.publish = publish
        #: Reader worker threads, each with its own reader.
        self.readers = reader_count(settings)
        self.reader_factory: Callable[[], tuple[ReaderLike, Decode]] = reader_factory or functools.partial(
            default_reader, threads_per_reader(self.readers)
        )
        self.evidence_dir = settings.evidence_dir
        self.counters: Counter[str] = Counter()
        #: Set once every worker has tried to load its reader (see ``readers_loaded`` and ``failed``).
        self.ready = threading.Event()
        self.readers_loaded = 0
        #: The load error when no worker could load a reader (frames are then counted as unread).
        self.failed: BaseException | None = None
        self._load_error: BaseException | None = None
        self._load_attempts = 0
        self.merger: PassageMerger[ReadLike] = PassageMerger(
            quiet_s=settings.passage_quiet_s, max_passage_s=settings.passage_max_s
        )
        self._queue: queue.Queue[CameraFrame | EndOfSource] = queue.Queue(maxsize=settings.queue_size)
        self._lock = threading.Lock()
        self._pending: Counter[str] = Counter()  # frames queued per camera, not yet merged
        self._last_frame: dict[str, tuple[datetime, float]] = {}  # live camera -> (frame time, monotonic)
        # reorder stage: items are numbered as they leave the queue and merged in that order
        self._take_lock = threading.Lock()
        self._taken = 0  # the next item's sequence number
        self._deliver_lock = threading.Lock()  # the merger, closing and publishing: one thread at a time
        self._delivered = 0  # the sequence number to merge next
        self._done: dict[int, tuple[CameraFrame | EndOfSource, list[ReadLike] | _Rejection | None]] = {}
        self._workers: list[threading.Thread] = []
        self._workers_alive = 0
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sources: list[FileSource | VideoSource] = []
        for source in settings.sources:
            if source.lower().startswith(VIDEO_SCHEMES) or _is_video_file(source):
                self.sources.append(VideoSource(self, source))
            else:
                self.sources.append(FileSource(self, Path(source)))
        self.mqtt_source: MqttFrameSource | None = None
        if settings.mqtt_frames and mqtt_settings is not None:
            self.mqtt_source = MqttFrameSource(self, mqtt_settings)

    # --- counters (several threads) ---------------------------------------------------------------
    def count(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.counters[reason] += n

    # --- the queue --------------------------------------------------------------------------------
    def offer(self, frame: CameraFrame, *, block: bool = False) -> bool:
        """Queue a frame; a live one is dropped (and counted) when the reader is behind, never waited for."""
        frame = CameraFrame(
            frame.camera_id, frame.time_utc, frame.source, frame.data, frame.image, frame.live, time.monotonic()
        )
        with self._lock:
            self._pending[frame.camera_id] += 1
        try:
            if block:
                while not self._stop.is_set():
                    try:
                        self._queue.put(frame, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                else:
                    raise queue.Full
            else:
                self._queue.put_nowait(frame)
        except queue.Full:
            with self._lock:
                self._pending[frame.camera_id] -= 1
                self.counters["frames_dropped_overload"] += 1
            return False
        self.count("frames_queued")
        return True

    def end_of_source(self, camera_id: str) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(EndOfSource(camera_id), timeout=0.2)
                return
            except queue.Full:
                continue

    # --- messages out (worker threads -> asyncio loop) --------------------------------------------
    def _emit(self, kind: TopicKind, device_id: str, payload: BaseModel) -> None:
        loop = self._loop
        try:
            if loop is None:
                raise RuntimeError("no loop")
            loop.call_soon_threadsafe(self.publish, kind, device_id, payload)
        except RuntimeError:  # the agent stopped (its loop closed) before this could reach the outbox
            log.error("camera: %s for %s lost: the agent is not running", kind.value, device_id)
            self.count("messages_lost")

    def reject(
        self,
        reason: str,
        raw: bytes,
        *,
        camera_id: str | None,
        source: str,
        detail: str = "",
        received_utc: datetime | None = None,
    ) -> None:
        """Count a frame that cannot be read and send it on as a dead letter."""
        self.count(f"rejected_{reason}")
        log.info("camera %s %s: rejected %d byte(s): %s %s", camera_id or "-", source, len(raw), reason, detail)
        kept = raw[:DEAD_LETTER_MAX_BYTES]
        if len(raw) > len(kept):
            detail = f"{detail} (first {len(kept)} of {len(raw)} bytes kept)".strip()
        letter = DeadLetter(
            source=self.agent_id,
            site=self.site,
            received_utc=received_utc or utc_now(),
            reason=reason[:64],
            detail=detail[:2000],
            protocol=PROTOCOL,
            device_id=camera_id,
            remote=source[:500],
            raw_hex=kept.hex(),
        )
        self._emit(TopicKind.DEADLETTER, camera_id or self.agent_id, letter)

    # --- workers ----------------------------------------------------------------------------------
    def _run_worker(self, index: int) -> None:
        try:
            reader, decode = self.reader_factory()
        except Exception as exc:  # the agent keeps its other inputs; the failure is logged and counted
            log.exception("camera: reader %d of %d could not be loaded", index + 1, self.readers)
            self.count("reader_load_failed")
            self._loaded(None, exc)
        else:
            self._loaded(reader, None)
            self._read_loop(reader, decode)
            self._worker_done()
            return
        self.ready.wait()
        if self.readers_loaded == 0:  # no worker has a reader: frames are counted as unread, not read
            self._drain_unread()
        self._worker_done()

    def _loaded(self, reader: ReaderLike | None, exc: BaseException | None) -> None:
        """Count one worker's load attempt; ``ready`` is set once every worker has tried."""
        with self._lock:
            self._load_attempts += 1
            if reader is not None:
                self.readers_loaded += 1
            elif self._load_error is None:
                self._load_error = exc
            done = self._load_attempts == self.readers
            if done and self.readers_loaded == 0:
                self.failed = self._load_error
        if done:
            if self.readers_loaded:
                log.info("camera: reader loaded in %d of %d worker(s)", self.readers_loaded, self.readers)
            else:
                log.error("camera: no reader could be loaded; frames are counted, not read")
            self.ready.set()

    def _worker_done(self) -> None:
        """The last worker out closes every passage still open (the agent stops)."""
        with self._lock:
            self._workers_alive -= 1
            last = self._workers_alive == 0
        if last:
            with self._deliver_lock:
                self._close(self.merger.flush())

    def _take(self) -> tuple[int, CameraFrame | EndOfSource] | None:
        """The next queued item and its sequence number (the queue's order), or None after a quiet 0.25 s."""
        if not self._take_lock.acquire(timeout=0.25):  # another worker is waiting for the next item
            return None
        try:
            item = self._queue.get(timeout=0.25)
        except queue.Empty:
            return None
        else:
            sequence = self._taken
            self._taken += 1
            return sequence, item
        finally:
            self._take_lock.release()

    def _read_loop(self, reader: ReaderLike, decode: Decode) -> None:
        while True:
            taken = self._take()
            if taken is None:
                if self._stop.is_set():
                    break
            else:
                sequence, item = taken
                result: list[ReadLike] | _Rejection | None = None
                if isinstance(item, CameraFrame):
                    try:
                        result = self._read(item, reader, decode)
                    except Exception as exc:  # a bug here must not leave a hole in the sequence
                        log.exception("camera %s: a frame could not be processed", item.camera_id)
                        result = _Rejection("read_error", repr(exc))
                self._deliver(sequence, item, result)
            with self._deliver_lock:
                self._close_quiet()

    def _deliver(
        self, sequence: int, item: CameraFrame | EndOfSource, result: list[ReadLike] | _Rejection | None
    ) -> None:
        """Hand one item's outcome to the reorder stage: merged in queue order, whichever worker finished first."""
        with self._deliver_lock:
            self._done[sequence] = (item, result)
            while self._delivered in self._done:
                item, result = self._done.pop(self._delivered)
                self._delivered += 1
                try:
                    self._merge(item, result)
                except Exception:  # never stop the reorder stage: later items would wait for ever
                    log.exception("camera %s: merging failed", item.camera_id)
                    self.count("merge_failed")

    def _merge(self, item: CameraFrame | EndOfSource, result: list[ReadLike] | _Rejection | None) -> None:
        """In queue order, under ``_deliver_lock``: one frame's reads to the merger, or a source's end."""
        if isinstance(item, EndOfSource):
            self._close(self.merger.flush(item.camera_id))
            return
        with self._lock:
            self._pending[item.camera_id] -= 1
            if item.live:
                self._last_frame[item.camera_id] = (item.time_utc, item.enqueued)
        if isinstance(result, _Rejection):
            raw = item.data if item.data is not None else b""
            self.reject(result.reason, raw, camera_id=item.camera_id, source=item.source, detail=result.detail)
        elif result is not None:
            self._close(self.merger.add(item.camera_id, item.time_utc, result))

    def _drain_unread(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                item = self._queue.get(timeout=0.25)
            except queue.Empty:
                continue
            if isinstance(item, CameraFrame):
                with self._lock:
                    self._pending[item.camera_id] -= 1
                self.count("frames_unread_reader_unavailable")

    def _read(self, frame: CameraFrame, reader: ReaderLike, decode: Decode) -> list[ReadLike] | _Rejection:
        """Decode and read one frame (in parallel, any worker): the reads to merge, or why it is refused."""
        self.count("frames_read")
        image = frame.image
        if image is None:
            assert frame.data is not None
            try:
                image = decode(frame.data)
            except Exception as exc:
                return _Rejection(getattr(exc, "reason", None) or "bad_image", str(exc))
        try:
            reads = list(reader.read(image))
        except Exception as exc:  # a reader bug on one frame must not stop the camera
            log.exception("camera %s: reading a frame failed", frame.camera_id)
            return _Rejection("read_error", repr(exc))
        kept = []
        for read in reads:
            if read.confidence < self.settings.min_confidence:
                self.count("reads_below_min_confidence")
            elif not read.crop_jpeg or not _text_ok(read.text) or read.kind not in _KINDS:
                self.count("reads_unusable")
            else:
                kept.append(read)
        self.count("reads", len(kept))
        return kept

    def _close_quiet(self) -> None:
        """Close the passages of live cameras that have sent nothing for ``passage_quiet_s`` (wall clock).

        Under ``_deliver_lock``; a camera with frames queued or being read (not merged yet) is not quiet.
        """
        now = time.monotonic()
        with self._lock:
            idle = [
                (camera_id, frame_utc + timedelta(seconds=now - seen))
                for camera_id, (frame_utc, seen) in self._last_frame.items()
                if self._pending[camera_id] <= 0
            ]
        for camera_id, now_utc in idle:
            self._close(self.merger.close_due(now_utc, camera_id))

    def _close(self, passages: list[Passage[ReadLike]]) -> None:
        for passage in passages:
            try:
                detection = self.detection_for(passage)
            except Exception:
                log.exception("camera %s: passage %r could not be published", passage.camera_id, passage.text)
                self.count("passages_failed")
                continue
            self.count("detections")
            log.info(
                "camera %s: %s %s (%.2f, %d frame(s))",
                passage.camera_id,
                detection.kind.value,
                detection.text,
                detection.confidence,
                detection.frames,
            )
            self._emit(TopicKind.DETECTION, passage.camera_id, detection)

    def detection_for(self, passage: Passage[ReadLike]) -> Detection:
        read = passage.best
        crop = bytes(read.crop_jpeg)
        sha256 = save_evidence(self.evidence_dir, crop)
        x1, y1, x2, y2 = (int(v) for v in read.box_xyxy)
        return Detection(
            detection_id=detection_id_for(passage.camera_id, read.kind, read.text, passage.best_utc),
            camera_id=passage.camera_id,
            site=self.site,
            kind=DetectionKind(read.kind),
            time_utc=passage.best_utc,
            text=read.text,
            raw_text=read.raw_text[:128],
            confidence=min(max(float(read.confidence), 0.0), 1.0),
            box_xyxy=(x1, y1, x2, y2),
            valid=bool(read.valid),
            grammar=read.grammar,
            check_digit_ok=read.check_digit_ok,
            repaired=bool(read.repaired),
            frames=passage.frames,
            crop_sha256=sha256,
            crop_jpeg_b64=base64.b64encode(crop).decode() if self.settings.send_crops else None,
            attributes={
                "first_utc": passage.first_utc.isoformat(),
                "last_utc": passage.last_utc.isoformat(),
                "texts_seen": len(passage.texts),
                "agent_id": self.agent_id,
            },
        )

    # --- life cycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        self._stop.clear()
        self.ready.clear()
        self.readers_loaded = self._load_attempts = 0
        self.failed = self._load_error = None
        self._workers = [
            threading.Thread(target=self._run_worker, args=(i,), name=f"camera-reader-{i + 1}", daemon=True)
            for i in range(self.readers)
        ]
        self._workers_alive = len(self._workers)
        for worker in self._workers:
            worker.start()
        if self.mqtt_source is not None:
            self.mqtt_source.start()
        for source in self.sources:
            source.start()

    async def stop(self) -> None:
        """Stop the sources, let the workers finish what is queued, close every open passage."""
        if self.mqtt_source is not None:
            self.mqtt_source.stop()
        for source in self.sources:
            source.stop()
        self._stop.set()
        for worker in self._workers:
            await asyncio.to_thread(worker.join)
        await asyncio.sleep(0)  # let the last call_soon_threadsafe publications run
        self._loop = None

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)


_KINDS = frozenset(k.value for k in DetectionKind)


def _text_ok(text: str) -> bool:
    return 0 < len(text) <= 32 and text.isascii() and text.isalnum() and text == text.upper()


def save_evidence(directory: Path, data: bytes) -> str:
    """Store ``data`` as ``{sha256}.jpg`` in ``directory`` (atomically, once); returns the SHA-256."""
    sha256 = hashlib.sha256(data).hexdigest()
    path = directory / f"{sha256}.jpg"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{sha256}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return sha256


def _is_video_file(source: str) -> bool:
    return Path(source).suffix.lower() in {".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".ts"}


# --- sources ---------------------------------------------------------------------------------------


class MqttFrameSource:
    """Frames published on ``cedetect/v1/{site}/+/frame``; the camera id is the topic's device id."""

    def __init__(self, camera: CameraInput, settings: MqttSettings) -> None:
        self.camera = camera
        self.settings = settings
        self.topic_filter = subscription(TopicKind.FRAME, camera.site)
        self.subscribed = threading.Event()
        self._client = make_client(settings, client_id=f"cedetect-edge-{camera.site}-{camera.agent_id}-frames")
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        if not getattr(rc, "is_failure", False):
            client.subscribe(self.topic_filter, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, rcs: object, props: object) -> None:
        log.info("camera: subscribed to %s", self.topic_filter)
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        # paho's network thread: only the 16-byte header is looked at here, the rest is the workers'
        received = utc_now()
        payload = bytes(message.payload)
        self.camera.count("frames_received")
        try:
            camera_id = parse(message.topic).device_id
            frame = decode_frame(payload, received, max_bytes=self.camera.settings.max_frame_bytes)
        except (TopicError, FrameError) as exc:
            self.camera.reject(
                exc.reason, payload, camera_id=None, source=message.topic, detail=str(exc), received_utc=received
            )
            return
        self.camera.offer(CameraFrame(camera_id, frame.time_utc, message.topic, data=frame.image, live=True))

    def start(self) -> None:
        self._client.connect_async(self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class _ThreadSource:
    name = "source"

    def __init__(self, camera: CameraInput, source: str) -> None:
        self.camera = camera
        self.source = source
        self.camera_id = camera.settings.camera_id
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._guarded, name=f"camera-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _guarded(self) -> None:
        try:
            self.run()
        except Exception as exc:
            log.exception("camera source %s failed", self.source)
            self.camera.reject("source_error", b"", camera_id=self.camera_id, source=self.source, detail=repr(exc))
        finally:
            self.camera.end_of_source(self.camera_id)
            self.done.set()

    def run(self) -> None:
        raise NotImplementedError


class FileSource(_ThreadSource):
    """Image files, or the image files of a folder (recursively, in name order), read once."""

    name = "files"

    def __init__(self, camera: CameraInput, path: Path) -> None:
        super().__init__(camera, str(path))
        self.path = path

    def files(self) -> Iterator[Path]:
        if self.path.is_dir():
            yield from sorted(p for p in self.path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield self.path

    def run(self) -> None:
        for file in self.files():
            if self._stop.is_set():
                return
            try:
                size = file.stat().st_size
                if size > self.camera.settings.max_frame_bytes:
                    raise FrameError("frame_too_large", f"{size} bytes > {self.camera.settings.max_frame_bytes}")
                data = file.read_bytes()
            except FrameError as exc:
                self.camera.reject(exc.reason, b"", camera_id=self.camera_id, source=str(file), detail=str(exc))
                continue
            except OSError as exc:
                self.camera.reject("unreadable_file", b"", camera_id=self.camera_id, source=str(file), detail=str(exc))
                continue
            self.camera.count("frames_received")
            frame = CameraFrame(self.camera_id, utc_now(), str(file), data=data, live=False)
            self.camera.offer(frame, block=True)


class VideoSource(_ThreadSource):
    """A video file (read at its own pace, every frame waited for) or a live stream (frames dropped when behind).

    Sampling: every ``sample_every``-th frame, and no more than ``max_fps`` frames per second of video time.
    Skipped frames are only grabbed, not decoded.  A stream that breaks is reopened (backoff up to 30 s).
    """

    name = "video"

    def __init__(self, camera: CameraInput, source: str) -> None:
        super().__init__(camera, source)
        self.live = source.lower().startswith(VIDEO_SCHEMES)

    def run(self) -> None:
        import cv2

        settings = self.camera.settings
        min_interval_s = 1.0 / settings.max_fps if settings.max_fps > 0 else 0.0
        delay = 1.0
        while not self._stop.is_set():
            capture = cv2.VideoCapture(self.source)
            if not capture.isOpened():
                capture.release()
                if not self.live:
                    self.camera.reject("unreadable_video", b"", camera_id=self.camera_id, source=self.source)
                    return
                self.camera.count("stream_open_failed")
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 1.0
            try:
                self._read(capture, min_interval_s)
            finally:
                capture.release()
            if not self.live:
                return
            self.camera.count("stream_reconnects")

    def _read(self, capture: Any, min_interval_s: float) -> None:
        import cv2

        settings = self.camera.settings
        opened_utc = utc_now()
        index = -1
        last_kept_s: float | None = None
        while not self._stop.is_set():
            if not capture.grab():
                return  # end of the file, or a broken stream (reopened by run)
            index += 1
            self.camera.count("frames_received")
            if self.live:
                time_utc = utc_now()
                video_s = (time_utc - opened_utc).total_seconds()
            else:
                video_s = float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
                time_utc = opened_utc + timedelta(seconds=video_s)
            if index % settings.sample_every or (
                last_kept_s is not None and video_s - last_kept_s < min_interval_s - 1e-6
            ):
                self.camera.count("frames_skipped_sampling")
                continue
            ok, image = capture.retrieve()
            if not ok or image is None:
                self.camera.reject("bad_video_frame", b"", camera_id=self.camera_id, source=self.source)
                continue
            last_kept_s = video_s
            frame = CameraFrame(self.camera_id, time_utc.astimezone(UTC), self.source, image=image, live=self.live)
            self.camera.offer(frame, block=not self.live)
