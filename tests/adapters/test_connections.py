"""Connection limits of the real `modelport serve` process on 127.0.0.1: silent and
slowloris connections are closed within the header timeout, a stalled body within the
idle timeout, and a connection past the cap gets a 503 while the server keeps serving."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import ServerProcess

HEADER_TIMEOUT = 1.5
IDLE_TIMEOUT = 1.5
MAX_CONNECTIONS = 40


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("connections")
    config = tmp / "plugins.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp / "data"}"\nheader_timeout = "{HEADER_TIMEOUT}s"\n'
        f'idle_timeout = "{IDLE_TIMEOUT}s"\nmax_connections = {MAX_CONNECTIONS}\n'
    )
    with ServerProcess(Path(config)) as proc:
        yield proc


def _connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.settimeout(10)
    return sock


def _closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes ``sock`` (reads until EOF)."""
    start = time.monotonic()
    with contextlib.suppress(ConnectionResetError):
        while sock.recv(65536):
            pass
    return time.monotonic() - start


def _healthy(server: ServerProcess) -> bool:
    return httpx.get(server.base_url + "/health", timeout=5).status_code == 200


def test_silent_connections_are_closed_within_the_header_timeout(server: ServerProcess) -> None:
    socks = [_connect(server) for _ in range(20)]
    try:
        start = time.monotonic()
        for sock in socks:
            _closed_after(sock)
        waited = time.monotonic() - start
    finally:
        for sock in socks:
            sock.close()
    assert HEADER_TIMEOUT - 0.5 < waited < HEADER_TIMEOUT + 3, waited
    assert _healthy(server)


def test_a_slowloris_client_is_closed_within_the_header_timeout(server: ServerProcess) -> None:
    sock = _connect(server)
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    start, sent, closed = time.monotonic(), 0, False
    try:
        while time.monotonic() - start < HEADER_TIMEOUT + 5:
            try:
                sock.sendall(request[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sent += 1
            sock.settimeout(0.2)
            try:
                if sock.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
    finally:
        sock.close()
    assert closed, "the server still held a connection that never finished its headers"
    assert time.monotonic() - start < HEADER_TIMEOUT + 3
    assert _healthy(server)


def test_a_kept_alive_connection_gets_the_header_timeout_for_its_next_request(
    server: ServerProcess,
) -> None:
    sock = _connect(server)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /health HTTP/1.1\r\nHost")  # and then nothing more
        assert _closed_after(sock) < HEADER_TIMEOUT + 3
    finally:
        sock.close()


def test_a_stalled_body_is_closed_within_the_idle_timeout(server: ServerProcess) -> None:
    sock = _connect(server)
    try:
        sock.sendall(
            b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"model": '
        )
        assert _closed_after(sock) < IDLE_TIMEOUT + 3
    finally:
        sock.close()


def test_a_connection_past_the_cap_gets_a_503_and_the_server_keeps_serving(
    server: ServerProcess,
) -> None:
    held = [_connect(server) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.3)  # every one accepted
        extra = _connect(server)
        extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := extra.recv(65536):
                answer += chunk
        extra.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), answer
        assert b"retry-after: 1" in head.lower()
        assert b'"code":"too_many_connections"' in body
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert _healthy(server)
    assert "connection limit reached" in server.log.read_text()
