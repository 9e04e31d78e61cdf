"""The telemetry link over real TCP on loopback (``TcpServer`` + ``TcpTransport``)."""

from __future__ import annotations

import socket
import threading
from collections import Counter

import pytest

from itb.telemetry.faults import FaultInjector, FaultSpec
from itb.telemetry.session import ClientSession, ServerEndpoint, UncertainOutcome
from itb.telemetry.transport import TcpServer, TcpTransport


class CountingHandler:
    def __init__(self) -> None:
        self.calls: Counter[tuple[int, int]] = Counter()
        self.lock = threading.Lock()

    def __call__(self, session: int, request: dict) -> dict:
        with self.lock:
            self.calls[session, request["n"]] += 1
        return {"n": request["n"], "square": request["n"] ** 2}


@pytest.fixture
def pump():
    handler = CountingHandler()
    ended: list[int] = []
    endpoint = ServerEndpoint(handler, ended.append)
    server = TcpServer(endpoint.on_frame)
    server.start()
    try:
        yield server, endpoint, handler, ended
    finally:
        server.stop()


def test_200_requests_round_trip(pump):
    server, _, handler, ended = pump
    with TcpTransport("127.0.0.1", server.port) as transport, ClientSession(transport, timeout_s=0.5) as client:
        sid = client.session_id
        for n in range(200):
            assert client.request({"n": n}) == {"n": n, "square": n * n}
        assert client.stats["retransmitted"] == 0
    assert ended == [sid]
    assert handler.calls == {(sid, n): 1 for n in range(200)}


def test_requests_succeed_through_drops_and_corruption():
    handler = CountingHandler()
    endpoint = ServerEndpoint(handler)
    injector = FaultInjector(FaultSpec.parse("drop=0.1,corrupt=0.1,seed=11"))
    with TcpServer(endpoint.on_frame, faults=injector) as server, TcpTransport("127.0.0.1", server.port) as transport:
        client = ClientSession(transport, timeout_s=0.05, max_attempts=10)
        sid = client.open()
        for n in range(40):
            assert client.request({"n": n})["square"] == n * n
        client.close()
    assert injector.counts["drop"] > 0 and injector.counts["corrupt"] > 0
    assert client.stats["retransmitted"] > 0
    assert handler.calls == {(sid, n): 1 for n in range(40)}


def test_two_programmers_at_once(pump):
    server, _, handler, _ = pump
    errors: list[BaseException] = []

    def programmer() -> None:
        try:
            with TcpTransport("127.0.0.1", server.port) as t, ClientSession(t, timeout_s=0.5) as client:
                for n in range(50):
                    assert client.request({"n": n})["square"] == n * n
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=programmer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert not errors
    assert sum(handler.calls.values()) == 100 and set(handler.calls.values()) == {1}


def test_connection_refused_message():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: refused
        with pytest.raises(ConnectionError) as info:
            TcpTransport("127.0.0.1", port)
    assert str(info.value) == f"pump at 127.0.0.1:{port}: connection refused — is `itb pump serve` running?"


def test_pump_going_away_mid_session_is_uncertain():
    endpoint = ServerEndpoint(CountingHandler())
    server = TcpServer(endpoint.on_frame).start()
    transport = TcpTransport("127.0.0.1", server.port)
    client = ClientSession(transport, timeout_s=0.2)
    client.open()
    assert client.request({"n": 1})["square"] == 1
    server.stop()
    with pytest.raises(UncertainOutcome, match="read its log"):
        client.request({"n": 2})
    client.close()  # best effort, no exception
    transport.close()
