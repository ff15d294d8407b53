"""The counting helpers agree with what was written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client

from clearance.audit import (
    AuditWriter,
    count_dead_letters,
    count_decisions,
    dead_letter_row,
    decision_counts_by_effect,
    decision_row,
    duplicate_decision_ids,
    undecodable_letter,
)

DecisionFactory = Callable[..., dict[str, Any]]


def test_counts_by_effect_exact_and_raw(client: Client, make_decision: DecisionFactory) -> None:
    effects = ["allow"] * 5 + ["deny"] * 3 + ["escalate"] * 2
    rows = [decision_row(make_decision(n, effect=e), 0, n) for n, e in enumerate(effects)]
    writer = AuditWriter(client)
    writer.write_decisions(rows, "one")
    writer.write_decisions(rows[:4], "two")  # four allows redelivered
    assert decision_counts_by_effect(client) == {"allow": 5, "deny": 3, "escalate": 2}
    assert decision_counts_by_effect(client, exact=False) == {"allow": 9, "deny": 3, "escalate": 2}
    assert count_decisions(client) == 10
    assert duplicate_decision_ids(client) == 4


def test_an_empty_store_counts_zero(client: Client) -> None:
    assert count_decisions(client) == 0
    assert decision_counts_by_effect(client) == {}
    assert duplicate_decision_ids(client) == 0
    assert count_dead_letters(client) == 0


def test_dead_letters_collapse_by_their_id(client: Client) -> None:
    def row(failed_at: int) -> tuple[Any, ...]:
        letter = undecodable_letter(
            topic="clearance.actions",
            partition=0,
            offset=9,
            key=None,
            value=b"x",
            reason_code="undecodable",
            reason="r",
            failed_at=failed_at,
        )
        return dead_letter_row(letter, "clearance.dead-letter", 0, 1)

    writer = AuditWriter(client)
    writer.write_dead_letters([row(1_767_225_600_000)], "a")
    writer.write_dead_letters([row(1_767_225_900_000)], "b")
    assert count_dead_letters(client, exact=False) == 2
    assert count_dead_letters(client) == 1
