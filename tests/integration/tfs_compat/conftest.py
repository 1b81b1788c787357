"""The TF Serving compatibility checks share the session's ``tf_serving_models_server``
(half_plus_two in TF1 and TF2, two versions with labels, the name ``a/b:c``): their tests
only read from it. A module whose tests change the server's state (``test_reload``)
defines its own ``server``.
"""

from __future__ import annotations

import pytest

from tests.integration.server_process import ServerProcess


@pytest.fixture(scope="package")
def server(tf_serving_models_server: ServerProcess) -> ServerProcess:
    return tf_serving_models_server
