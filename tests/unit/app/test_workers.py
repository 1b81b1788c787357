"""reserve_port: the parent's hold on the shared ports; thread_budget: each worker's share."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.workers import THREAD_ENVIRONMENT, cpu_slices, reserve_port, thread_budget
from config.flags import ServerOptions, parse_flags


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


def _options(*flags: str) -> ServerOptions:
    return parse_flags(["--model_base_path=/models/m", "--workers=2", *flags])


def test_each_worker_gets_its_share_of_the_cpus_for_tensorflow_and_openmp() -> None:
    budget = thread_budget(_options(), cpus=8, environment={})
    assert budget.threads_per_worker == 4
    assert budget.flags == (
        "--tensorflow_intra_op_parallelism=4",
        "--tensorflow_inter_op_parallelism=4",
    )
    assert budget.environment == dict.fromkeys(THREAD_ENVIRONMENT, "4")


def test_more_workers_than_cpus_still_get_one_thread_each() -> None:
    budget = thread_budget(_options("--workers=3"), cpus=2, environment={})
    assert budget.threads_per_worker == 1
    assert "--tensorflow_intra_op_parallelism=1" in budget.flags


def test_a_pool_the_operator_sized_is_left_alone() -> None:
    budget = thread_budget(_options("--tensorflow_intra_op_parallelism=3"), 8, {})
    assert budget.flags == ("--tensorflow_inter_op_parallelism=4",)
    assert thread_budget(_options("--tensorflow_session_parallelism=2"), 8, {}).flags == ()
    assert thread_budget(_options("--tensorflow_inter_op_parallelism=1"), 8, {}).flags == (
        "--tensorflow_intra_op_parallelism=4",
    )


def test_session_or_platform_config_files_keep_their_thread_settings(tmp_path: Path) -> None:
    session = tmp_path / "session.pbtxt"
    session.write_text("intra_op_parallelism_threads: 2\n")
    flags = f"--tensorflow_session_config_file={session}"
    assert thread_budget(_options(flags), 8, {}).flags == ()
    platform = tmp_path / "platform.pbtxt"
    platform.write_text("")
    assert thread_budget(_options(f"--platform_config_file={platform}"), 8, {}).flags == ()


def test_a_thread_variable_in_the_environment_keeps_all_three_unset() -> None:
    budget = thread_budget(_options(), cpus=8, environment={"OMP_NUM_THREADS": "6"})
    assert budget.environment == {}
    assert budget.flags  # TensorFlow's pools are still sized


def test_cpu_slices_are_contiguous_and_the_last_takes_the_remainder() -> None:
    assert cpu_slices([1, 0], 2) == [(0,), (1,)]
    assert cpu_slices([0, 1, 2, 3, 4], 2) == [(0, 1), (2, 3, 4)]
    assert cpu_slices([4, 5, 6, 7], 1) == [(4, 5, 6, 7)]


def test_more_workers_than_cpus_take_one_cpu_each_in_turn() -> None:
    assert cpu_slices([2, 3], 3) == [(2,), (3,), (2,)]
