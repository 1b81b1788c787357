"""One server for the TF Serving compatibility checks: half_plus_two (TF1, TF2, two versions).

It is shared by every module of the package (package scope): their tests only read from it.
A module whose tests change the server's state (``test_reload``) defines its own ``server``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.server_process import ServerProcess

CONFIG = """
model_config_list {{
  config {{ name: "half_plus_two" base_path: "{testdata}/saved_model_half_plus_two_cpu" model_platform: "tensorflow" }}
  config {{ name: "tf2" base_path: "{testdata}/saved_model_half_plus_two_tf2_cpu" model_platform: "tensorflow" }}
  config {{
    name: "two_versions"
    base_path: "{testdata}/saved_model_half_plus_two_2_versions"
    model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
    version_labels {{ key: "stable" value: 123 }}
    version_labels {{ key: "canary" value: 124 }}
  }}
  config {{ name: "a/b:c" base_path: "{testdata}/saved_model_half_plus_two_cpu" model_platform: "tensorflow" }}
}}
"""


@pytest.fixture(scope="package")
def server(
    start_package_server: Callable[..., ServerProcess],
    testdata: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    config = tmp_path_factory.mktemp("config") / "models.config"
    config.write_text(CONFIG.format(testdata=testdata))
    yield start_package_server(f"--model_config_file={config}")
