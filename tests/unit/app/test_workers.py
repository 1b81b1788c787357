"""reserve_port: the parent's hold on the shared ports."""

from __future__ import annotations

import socket

import pytest

from app.workers import reserve_port


def test_port_zero_becomes_a_concrete_port_that_a_worker_can_share() -> None:
    with reserve_port(0) as reserved:
        port = reserved.getsockname()[1]
        assert port > 0
        with socket.socket() as worker:  # a worker binds the same port with SO_REUSEPORT
            worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            worker.bind(("0.0.0.0", port))
            worker.listen()


def test_a_port_held_by_another_program_fails_even_if_it_shares() -> None:
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("0.0.0.0", 0))
        other.listen()
        with pytest.raises(OSError):
            reserve_port(other.getsockname()[1])
