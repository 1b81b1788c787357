"""The batch cost model's two rules, on plain values."""

from __future__ import annotations

import pytest

from actors.batching_policy import batch_may_wait, cost_model_close_time
from actors.call_costs import CostLine


def test_only_a_batch_opening_under_load_may_wait() -> None:
    assert not batch_may_wait(running_batches=0, waiting_rows=0, last_batch_requests=1)
    assert not batch_may_wait(running_batches=0, waiting_rows=0, last_batch_requests=0)
    assert batch_may_wait(running_batches=1, waiting_rows=0, last_batch_requests=1)
    assert batch_may_wait(running_batches=0, waiting_rows=1, last_batch_requests=1)
    assert batch_may_wait(running_batches=0, waiting_rows=0, last_batch_requests=2)


def test_a_batch_closes_when_one_more_request_would_finish_past_the_budget() -> None:
    line = CostLine(per_row_seconds=100e-6, fixed_seconds=200e-6)
    close = cost_model_close_time(
        opened_at=10.0, budget_seconds=1e-3, line=line, rows=3, next_rows=2
    )
    assert close == pytest.approx(10.001 - (5 * 100e-6 + 200e-6))
    # The more rows it holds, the sooner it closes.
    later = cost_model_close_time(
        opened_at=10.0, budget_seconds=1e-3, line=line, rows=1, next_rows=1
    )
    assert later > close


def test_the_close_is_never_after_the_budget_and_without_a_line_it_is_the_budget() -> None:
    assert cost_model_close_time(
        opened_at=10.0, budget_seconds=1e-3, line=None, rows=3, next_rows=1
    ) == pytest.approx(10.001)
    free = CostLine(per_row_seconds=0.0, fixed_seconds=0.0)
    assert cost_model_close_time(
        opened_at=10.0, budget_seconds=1e-3, line=free, rows=3, next_rows=1
    ) == pytest.approx(10.001)
    slow = CostLine(per_row_seconds=1e-3, fixed_seconds=0.0)
    assert (
        cost_model_close_time(opened_at=10.0, budget_seconds=1e-3, line=slow, rows=1, next_rows=1)
        < 10.0
    )  # over budget already: closes at once
