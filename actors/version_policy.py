"""Which versions of a model should be served: a pure function of what is on disk.

``aspired_versions(policy, present)`` takes the version numbers found under a model's
base path (already filtered to complete folders) and returns the ones the model's
``model_version_policy`` wants, newest first. It has no state and no I/O, which is what
lets the path poller send the FULL desired set on every poll.

- ``Latest(n)``: the ``n`` highest version numbers.
- ``All()``: every version.
- ``Specific(versions)``: the listed versions that are present; a listed version that is
  absent is simply not aspired (the poller logs it).

``version_number(folder_name)`` is how a folder name (on disk or in an object store)
becomes a version number, shared by both sources.
"""

from __future__ import annotations

from collections.abc import Iterable

from config.model_config import All, Latest, Specific, VersionPolicy


def aspired_versions(policy: VersionPolicy, present: Iterable[int]) -> tuple[int, ...]:
    newest_first = sorted(set(present), reverse=True)
    if isinstance(policy, Latest):
        return tuple(newest_first[: policy.num_versions])
    if isinstance(policy, All):
        return tuple(newest_first)
    if isinstance(policy, Specific):
        wanted = set(policy.versions)
        return tuple(v for v in newest_first if v in wanted)
    raise TypeError(f"unknown version policy {policy!r}")


MAX_VERSION = 2**63 - 1


def version_number(folder_name: str) -> int | None:
    """``"00000123"`` -> 123; anything that is not a plain integer in int64 -> None.

    TF Serving parses folder names with ``safe_strto64`` and skips those that do not fit;
    a larger number would become "latest" and break every request that names it.
    """
    if not folder_name.isdigit() or not folder_name.isascii():
        return None
    number = int(folder_name)
    return number if number <= MAX_VERSION else None
