"""How the suite is spread over processes (pytest-xdist, ``-n auto`` in ``pytest.ini``).

The suite mostly waits on servers that start in other processes, so on a 2-core machine
two pytest workers keep both cores busy where one left the second idle. Tests go to
workers a group at a time, a group being what must run in one process (``group_of``):
- a module's tests stay together, so its module-scoped servers start once;
- tests sharing a session-scoped resource that is costly or global stay together:
  everything under ``tests/deploy`` (one Docker daemon, one image tag, one KServe
  virtualenv) and ``tests/reliability`` (its session server), the files that use the
  session's shared TF Serving servers (``shared_servers``) and those that use the
  exported digits model (``digits_model``).
Groups are sent in collection order (``--no-loadscope-reorder``): the long container and
server tests first, the short unit modules last, where they fill the gaps.

The controller schedules from node ids alone, before any fixture is known, so the
fixture groups are lists of files; collection fails, naming the file, if a test uses one
of those fixtures from a file outside its group. Without xdist (``-n 0``) nothing here
changes how tests run.
"""

from __future__ import annotations

from typing import Any

import pytest

_PREFIX_GROUPS = {
    "tests/deploy/": "deploy",
    "tests/reliability/": "reliability",
    "tests/integration/tfs_compat/": "shared_servers",
    "tests/integration/test_predict_api.py": "shared_servers",
    "tests/integration/test_example_api.py": "shared_servers",
    "tests/integration/test_health_and_drain.py": "shared_servers",
    "tests/integration/v2/test_v2_not_ready.py": "shared_servers",
    "tests/integration/platforms/test_model_repository.py": "digits_model",
    "tests/integration/platforms/test_platforms_side_by_side.py": "digits_model",
    "tests/integration/test_dashboard_browser.py": "digits_model",
    "tests/integration/test_digits_tutorial.py": "digits_model",
    "tests/integration/test_generated_clients_and_images.py": "digits_model",
}
"""Node id prefix -> group; any other test's group is its file."""
_FIXTURE_GROUPS = ("shared_servers", "digits_model")
"""Session fixtures whose users must be in the group of the same name."""


def group_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    for prefix, group in _PREFIX_GROUPS.items():
        if path.startswith(prefix):
            return group
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = getattr(item, "fixturenames", ())
        for fixture in _FIXTURE_GROUPS:
            if fixture in used and group_of(item.nodeid) != fixture:
                raise pytest.UsageError(
                    f"{item.nodeid} uses the session fixture {fixture!r}: add its file to "
                    f"_PREFIX_GROUPS in tests/conftest.py under {fixture!r}, so that it runs "
                    "in the process that holds that fixture"
                )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """xdist's module-at-a-time scheduling, with ``group_of`` as the unit."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)
