"""The transports of the device client against small loopback servers with scripted answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

import pytest

from firmware_sim.links import HttpLink, Outcome, UdpLink, Verdict
from tests.firmware_sim.gt06_server import wait_until

T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(30):
            return await main()

    return asyncio.run(bounded())


@dataclass
class HttpRequest:
    method: str
    target: str
    body: bytes
    connection: int


@dataclass
class ScriptedHttpServer:
    """Answers each request with the next (status, body) of ``script``; closes the connection after every
    response when ``close_after_each`` (without saying so, as an idle keep-alive timeout does)."""

    script: list[tuple[int, dict[str, str]]]
    close_after_each: bool = False
    requests: list[HttpRequest] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while request_line := await reader.readline():
                method, target, _ = request_line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) != b"\r\n":
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(HttpRequest(method, target, body, number))
                status, answer = self.script.pop(0)
                payload = json.dumps(answer).encode()
                head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n"
                writer.write(head.encode() + b"\r\n" + payload)
                await writer.drain()
                if self.close_after_each:
                    break
        finally:
            writer.close()


def test_http_get_post_rejection_and_retryable_errors() -> None:
    server = ScriptedHttpServer(
        [(200, {"status": "ok"}), (200, {"status": "ok"}), (400, {"error": "bad_checksum"}), (503, {})]
    )

    async def main() -> list[Outcome]:
        await server.start()
        link = HttpLink("127.0.0.1", server.port, asyncio.Event())
        try:
            await link.open(5.0)
            outcomes = [
                await link.send(b"/?id=1&lat=41.5", await_answer=False, timeout_s=5.0),
                await link.send(b'{"location": {}}', await_answer=False, timeout_s=5.0),
                await link.send(b"id=1&lat=4x.5", await_answer=False, timeout_s=5.0),
            ]
            with pytest.raises(ConnectionError, match="HTTP 503"):
                await link.send(b"/?id=1", await_answer=False, timeout_s=5.0)
            return outcomes
        finally:
            await link.close()
            await server.stop()

    outcomes = run(main)
    assert outcomes == [Outcome(Verdict.ANSWERED), Outcome(Verdict.ANSWERED), Outcome(Verdict.REJECTED, "bad_checksum")]
    assert [(r.method, r.target, r.body) for r in server.requests] == [
        ("GET", "/?id=1&lat=41.5", b""),
        ("POST", "/", b'{"location": {}}'),
        ("GET", "/?id=1&lat=4x.5", b""),
        ("GET", "/?id=1", b""),
    ]
    assert {r.connection for r in server.requests} == {1}  # keep-alive


def test_http_reopens_a_connection_the_server_closed_while_idle() -> None:
    server = ScriptedHttpServer([(200, {"status": "ok"})] * 3, close_after_each=True)

    async def main() -> list[Outcome]:
        await server.start()
        link = HttpLink("127.0.0.1", server.port, asyncio.Event())
        outcomes = []
        try:
            await link.open(5.0)
            for i in range(3):
                outcomes.append(await link.send(f"/?n={i}".encode(), await_answer=False, timeout_s=5.0))
                await wait_until(lambda: link.server_closed)
            return outcomes
        finally:
            await link.close()
            await server.stop()

    assert run(main) == [Outcome(Verdict.ANSWERED)] * 3
    assert [(r.target, r.connection) for r in server.requests] == [("/?n=0", 1), ("/?n=1", 2), ("/?n=2", 3)]


class _AnswerOnAttempt(asyncio.DatagramProtocol):
    def __init__(self, answer_on: int | None) -> None:
        self.answer_on = answer_on
        self.received: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.received.append(data)
        if self.answer_on is not None and len(self.received) >= self.answer_on and self.transport is not None:
            self.transport.sendto(b"ack", addr)


@pytest.mark.parametrize(("answer_on", "verdict", "sent"), [(3, Verdict.ANSWERED, 3), (None, Verdict.UNANSWERED, 3)])
def test_udp_retransmits_an_unanswered_datagram(answer_on: int | None, verdict: Verdict, sent: int) -> None:
    async def main() -> tuple[Outcome, UdpLink, _AnswerOnAttempt]:
        loop = asyncio.get_running_loop()
        server = _AnswerOnAttempt(answer_on)
        transport, _ = await loop.create_datagram_endpoint(lambda: server, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        link = UdpLink("127.0.0.1", port, asyncio.Event(), retries=2)
        try:
            await link.open(5.0)
            outcome = await link.send(b"frame", await_answer=True, timeout_s=0.2)
            assert await link.send(b"no answer awaited", await_answer=False, timeout_s=0.2) == Outcome(Verdict.WRITTEN)
            return outcome, link, server
        finally:
            await link.close()
            transport.close()

    outcome, link, server = run(main)
    assert outcome.verdict is verdict
    assert server.received[:sent] == [b"frame"] * sent
    assert link.retransmissions == sent - 1
