"""TensorFlow session ConfigProto files, parsed without TensorFlow (config.session_config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.session_config import load_session_config, session_config_from_text


def test_load(tmp_path: Path) -> None:
    path = tmp_path / "session.txt"
    path.write_text("intra_op_parallelism_threads: 4\ngpu_options { allow_growth: true }\n")
    config = load_session_config(path)
    assert config.intra_op_parallelism_threads == 4
    assert config.gpu_options.allow_growth is True


def test_unknown_field() -> None:
    with pytest.raises(ConfigError) as caught:
        session_config_from_text("\nintra_op_threads: 4", "session.txt")
    assert (caught.value.field, caught.value.line) == ("intra_op_threads", 2)


def test_the_message_is_our_pools_config_proto() -> None:
    from config.protos import ConfigProto

    config = session_config_from_text("inter_op_parallelism_threads: 2", "session.txt")
    assert type(config) is ConfigProto
    assert config.DESCRIPTOR.full_name == "tensorflow.ConfigProto"


def test_options_that_would_fail_every_load_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        session_config_from_text("\nexperimental { use_tfrt: true }", "session.txt")
    assert (caught.value.field, caught.value.line) == ("experimental.use_tfrt", 2)
