"""Shadow versions: which share of a model's requests is mirrored to which other version.

TF Serving's ``models.config`` has no field for this, and adding one would make the file
unreadable to TF Serving's own parser (and to every tool built on it). So the rules live
in their own small file, ``--shadow_config_file``, beside ``models.config``; the model
config stays TF Serving's, unchanged. One rule per line::

    # model     primary   shadow   sampling_rate
    resnet      *         canary   0.05
    ranker      stable    4        0.5

- ``model``: a model name from ``models.config``.
- ``primary``: the requests to mirror: ``*`` (every request of the model), a version
  number (requests that version answered) or a version label (requests the label's
  version answered).
- ``shadow``: the version that also runs them: a version number or a label.
- ``sampling_rate``: the share of matching requests mirrored, in (0, 1].

Fields are separated by whitespace; blank lines and lines starting with ``#`` are
skipped. A model may have several rules with different primaries. Whether a label or
version exists is decided when a request is mirrored (labels move on reload), not
here; a shadow that resolves to the version that answered is not run.

Every malformed line is a ``ConfigError`` naming the file, the line and the field: a
wrong number of fields, an empty or negative version, a rate outside (0, 1], a primary
equal to its shadow, or a second rule for the same model and primary.
"""

from __future__ import annotations

import dataclasses
import math
import os

from config.errors import ConfigError
from config.textproto import read_config_file

ANY_VERSION = "*"


@dataclasses.dataclass(frozen=True, slots=True)
class VersionRef:
    """A version named by number or by label (exactly one is set)."""

    version: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        return str(self.version) if self.version is not None else str(self.label)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ShadowRule:
    """Mirror ``sampling_rate`` of ``model_name``'s requests answered by ``primary``."""

    model_name: str
    primary: VersionRef | None  # None: every request of the model
    shadow: VersionRef
    sampling_rate: float


def load_shadow_config(path: str | os.PathLike[str]) -> tuple[ShadowRule, ...]:
    """Read and validate a ``--shadow_config_file``."""
    return shadow_config_from_text(read_config_file(path), os.fspath(path))


def shadow_config_from_text(text: str, source: str) -> tuple[ShadowRule, ...]:
    """Parse shadow rules; errors name ``source`` and the line."""
    rules: list[ShadowRule] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        rule = _rule(line, source, number)
        if any(
            seen.model_name == rule.model_name and seen.primary == rule.primary for seen in rules
        ):
            raise ConfigError(
                source,
                f"a second rule for model '{rule.model_name}' and primary "
                f"'{rule.primary or ANY_VERSION}'",
                line=number,
                field="primary",
            )
        rules.append(rule)
    return tuple(rules)


def _rule(line: str, source: str, number: int) -> ShadowRule:
    fields = line.split()
    if len(fields) != 4:
        raise ConfigError(
            source,
            f"expected 4 fields 'model primary shadow sampling_rate', got {len(fields)}",
            line=number,
        )
    model_name, primary_text, shadow_text, rate_text = fields
    primary = None if primary_text == ANY_VERSION else _ref(primary_text, "primary", source, number)
    shadow = _ref(shadow_text, "shadow", source, number)
    if primary == shadow:
        raise ConfigError(
            source,
            f"model '{model_name}': primary and shadow are both '{shadow}'",
            line=number,
            field="shadow",
        )
    try:
        rate = float(rate_text)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and 0.0 < rate <= 1.0):
        raise ConfigError(
            source,
            f"sampling_rate must be a number in (0, 1], got '{rate_text}'",
            line=number,
            field="sampling_rate",
        )
    return ShadowRule(model_name=model_name, primary=primary, shadow=shadow, sampling_rate=rate)


def _ref(text: str, field: str, source: str, number: int) -> VersionRef:
    if text.lstrip("-").isdigit():
        version = int(text)
        if version < 0:
            raise ConfigError(
                source,
                f"{field} version must be non-negative, got {version}",
                line=number,
                field=field,
            )
        return VersionRef(version=version)
    return VersionRef(label=text)
