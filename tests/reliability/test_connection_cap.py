"""``--rest_max_connections``: connections past the cap are closed on accept, and the cap
frees up as soon as clients close theirs (its own server: the suite's has no cap)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.integration import server_process
from tests.integration.server_process import ServerProcess

MAX_CONNECTIONS = 8
_GET = b"GET /v1/models/hpt HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        [
            f"--model_base_path={server_process.testdata_dir() / 'saved_model_half_plus_two_cpu'}",
            "--model_name=hpt",
            f"--rest_max_connections={MAX_CONNECTIONS}",
        ],
        tmp_path_factory.mktemp("connection_cap"),
    )
    yield process
    assert process.stop() == 0, process.log()[-3000:]


def _answer(sock: socket.socket) -> bytes:
    """One whole answer to ``_GET`` on a keep-alive connection ("" once the server closed it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return data


def _refused(sock: socket.socket) -> bool:
    """True when the server closed ``sock`` without answering."""
    try:
        sock.sendall(_GET)
        return sock.recv(65536) == b""
    except ConnectionError:
        return True


def test_connections_past_the_cap_are_closed_on_accept_until_others_close(
    capped: ServerProcess,
) -> None:
    held = [
        socket.create_connection(("127.0.0.1", capped.rest_port), 5) for _ in range(MAX_CONNECTIONS)
    ]
    try:
        for sock in held:  # each is open and served: the server counts them all
            sock.sendall(_GET)
            assert _answer(sock).startswith(b"HTTP/1.1 200"), "a connection under the cap"
        with socket.create_connection(("127.0.0.1", capped.rest_port), 5) as ninth:
            assert _refused(ninth), "the 9th connection was not closed"
        for sock in held:  # the held ones are untouched by the refusal
            sock.sendall(_GET)
            assert _answer(sock).startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while True:  # the server learns of the closes a moment later
        with socket.create_connection(("127.0.0.1", capped.rest_port), 5) as again:
            again.sendall(_GET)
            try:
                answer = _answer(again)
            except ConnectionError:
                answer = b""
        if answer or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert answer.startswith(b"HTTP/1.1 200"), "no connection was accepted after the others closed"
    assert capped.log().count("--rest_max_connections") == 1, "one log line for the refusals"
