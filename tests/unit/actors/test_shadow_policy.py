"""The shadow decision, checked on plain rules, labels and fixed draws."""

from __future__ import annotations

from actors.shadow_policy import Mirror, Skip, shadow_decision
from config.shadow_config import ShadowRule, VersionRef

LABELS = {"stable": 3, "canary": 4}


def rule(primary: VersionRef | None, shadow: VersionRef, rate: float = 1.0) -> ShadowRule:
    return ShadowRule(model_name="m", primary=primary, shadow=shadow, sampling_rate=rate)


def decide(
    rules: list[ShadowRule], version: int, *, busy: bool = False, draw: float = 0.0
) -> Mirror | Skip:
    return shadow_decision(
        rules, answered_version=version, labels=LABELS, busy=busy, draw=lambda: draw
    )


def test_any_primary_mirrors_to_the_labelled_shadow() -> None:
    assert decide([rule(None, VersionRef(label="canary"))], 3) == Mirror(4)


def test_the_first_matching_primary_applies() -> None:
    rules = [
        rule(VersionRef(label="stable"), VersionRef(version=5)),
        rule(None, VersionRef(version=6)),
    ]
    assert decide(rules, 3) == Mirror(5)  # "stable" points to 3
    assert decide(rules, 2) == Mirror(6)
    assert decide(rules[:1], 2) == Skip("no_rule")


def test_sampling_is_decided_per_request() -> None:
    rules = [rule(None, VersionRef(label="canary"), rate=0.05)]
    assert decide(rules, 3, draw=0.04) == Mirror(4)
    assert decide(rules, 3, draw=0.05) == Skip("not_sampled")


def test_unknown_label_same_version_and_load_skip() -> None:
    assert decide([rule(None, VersionRef(label="gone"))], 3) == Skip("unresolved")
    assert decide([rule(None, VersionRef(label="canary"))], 4) == Skip("same_version")
    assert decide([rule(None, VersionRef(label="canary"))], 3, busy=True) == Skip("busy")
    # Not sampled comes first: an unsampled request under load is not counted as dropped.
    assert decide([rule(None, VersionRef(label="canary"), 0.5)], 3, busy=True, draw=0.9) == Skip(
        "not_sampled"
    )
