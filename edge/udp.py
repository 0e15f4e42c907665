"""UDP input for tracker protocols that send datagrams: one datagram is one frame (or packet).

Each datagram names its device (Teltonika's IMEI header, H02's id, JT/T 808's phone number); a decoder
per remote address keeps any session state a protocol has, and the acknowledgement goes back to the
sender.  The table of decoders is bounded: the least recently heard address is forgotten first.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import cast

from cedetect import protocols
from cedetect.models import utc_now
from cedetect.protocols.base import DecodeError, ProtocolDecoder
from edge.pipeline import Pipeline
from edge.trackers import remote_name

log = logging.getLogger(__name__)

MAX_SESSIONS = 20_000


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: UdpServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            response = self.server.handle(data, addr)
        except Exception:  # one bad datagram never stops the server
            self.server.pipeline.count("handler_error")
            log.exception("%s udp: unexpected error on a datagram from %s", self.server.spec.name, addr)
            return
        if response and self.transport is not None:
            self.transport.sendto(response, addr)


class UdpServer:
    def __init__(self, protocol: str, pipeline: Pipeline, *, host: str, port: int) -> None:
        self.spec = protocols.get(protocol)
        self.pipeline = pipeline
        self.host = host
        self.port = port
        self._factory = self.spec.datagram_decoder_factory or self.spec.decoder_factory
        self._sessions: OrderedDict[str, ProtocolDecoder] = OrderedDict()
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        if self.spec.prepare is not None:
            await loop.run_in_executor(None, self.spec.prepare)
        transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), local_addr=(self.host, self.port))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        log.info("%s: listening on %s:%d (udp)", self.spec.name, self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def handle(self, data: bytes, addr: object) -> bytes:
        remote = remote_name(addr)
        decoder = self._sessions.pop(remote, None) or self._factory()
        self._sessions[remote] = decoder
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        received = utc_now()
        self.pipeline.count("datagrams")
        try:
            messages = decoder.decode(data, received)
        except DecodeError as exc:
            self.pipeline.dead_letter(
                exc.reason,
                exc.raw or data,
                protocol=self.spec.name,
                detail=exc.detail,
                device_id=decoder.device_id,
                remote=remote,
                received_utc=received,
            )
            return b""
        responses = bytearray()
        for message in messages:
            if message.response:
                responses += message.response
            self.pipeline.message(message)
        return bytes(responses)
