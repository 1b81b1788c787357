"""Connection caps derived from the open-file limit (issue 18, item 20).

Source: the reliability finding behind item 20: under ``RLIMIT_NOFILE=1024``, 1,100 idle
REST connections exhausted the descriptors and stopped both APIs. Each API now gets an
equal share of what the limit leaves after a reserve, unless ``--rest_max_connections``
says otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from config.connection_limits import (
    MIN_CONNECTION_CAP,
    RESERVED_DESCRIPTORS,
    connection_caps,
    default_connection_cap,
)
from config.flags import parse_flags
from config.server_config import load_server_config


def test_each_api_gets_half_of_what_the_reserve_leaves() -> None:
    caps = connection_caps(parse_flags([]), 1024)
    assert caps.rest == caps.grpc == (1024 - RESERVED_DESCRIPTORS) // 2
    assert caps.rest + caps.grpc + RESERVED_DESCRIPTORS <= 1024  # 1,100 idle clients: refused
    assert caps.derived
    assert "REST 448, gRPC 448" in caps.describe()
    assert "RLIMIT_NOFILE 1024" in caps.describe()


def test_one_api_alone_gets_the_whole_share() -> None:
    caps = connection_caps(parse_flags(["--port=-1"]), 1024)
    assert caps.rest == 1024 - RESERVED_DESCRIPTORS


@pytest.mark.parametrize(
    ("flag", "rest"), [("--rest_max_connections=0", 0), ("--rest_max_connections=50", 50)]
)
def test_the_flag_overrides_the_derived_rest_cap(flag: str, rest: int) -> None:
    caps = connection_caps(parse_flags([flag]), 1024)
    assert (caps.rest, caps.derived) == (rest, False)
    assert caps.grpc == (1024 - RESERVED_DESCRIPTORS) // 2


def test_an_unlimited_or_tiny_limit() -> None:
    assert default_connection_cap(None, 2) == 0  # unlimited descriptors: no cap
    assert default_connection_cap(100, 2) == MIN_CONNECTION_CAP


def test_the_server_config_carries_the_caps(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    config = load_server_config(
        parse_flags([f"--model_base_path={tmp_path}"]), descriptor_limit=4096
    )
    assert config.connections.rest == (4096 - RESERVED_DESCRIPTORS) // 2
