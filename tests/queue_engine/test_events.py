"""Events are values: equal when their fields are equal, hashable, and never assigned to (the
type checker refuses it; see ``app.queue_engine.model.event``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

from app.queue_engine import (
    EVENT_TYPES,
    CallReason,
    Priority,
    TicketCalled,
    TicketIssued,
)

ROOT = Path(__file__).resolve().parents[2]


def make_called(**overrides: object) -> TicketCalled:
    fields: dict[str, object] = {
        "at": 1_763_600_000.0,
        "ticket_id": 7,
        "number": "A007",
        "service": "A",
        "counter": 2,
        "counter_name": "2号窗口",
        "priority": Priority.NORMAL,
        "reason": CallReason.TIER,
        "explanation": "按顺序呼叫",
        "explanation_en": "Next in order.",
        "waited_seconds": 42.0,
    }
    fields.update(overrides)
    return TicketCalled(**fields)  # type: ignore[arg-type]


def test_events_with_the_same_fields_are_equal_and_hash_alike() -> None:
    first, second = make_called(), make_called()
    assert first is not second
    assert first == second
    assert hash(first) == hash(second)
    assert len({first, second}) == 1


def test_events_differing_in_any_field_are_not_equal() -> None:
    base = make_called()
    for name, value in [("at", 1.0), ("ticket_id", 8), ("number", "A008"), ("counter", 3)]:
        other = make_called(**{name: value})
        assert other != base
        assert len({base, other}) == 2


def test_events_of_different_types_with_the_same_fields_are_not_equal() -> None:
    issued = TicketIssued(1.0, 1, "A001", "A", Priority.NORMAL, "kiosk", 1.0, 0, 0)
    assert issued != make_called()
    assert issued == TicketIssued(1.0, 1, "A001", "A", Priority.NORMAL, "kiosk", 1.0, 0, 0)


def test_every_event_type_is_hashable_and_has_no_instance_dict() -> None:
    for cls in EVENT_TYPES.values():
        assert cls.__hash__ is not None, cls
        assert "__slots__" in cls.__dict__, cls


def test_an_event_still_turns_into_its_plain_dictionary() -> None:
    assert make_called().to_dict() == {
        "type": "ticket_called",
        "at": 1_763_600_000.0,
        "ticket_id": 7,
        "number": "A007",
        "service": "A",
        "counter": 2,
        "counter_name": "2号窗口",
        "priority": Priority.NORMAL,
        "reason": CallReason.TIER,
        "explanation": "按顺序呼叫",
        "explanation_en": "Next in order.",
        "waited_seconds": 42.0,
    }


@pytest.mark.slow
def test_the_type_checker_refuses_assignment_to_an_event_field(tmp_path: Path) -> None:
    snippet = tmp_path / "assign_to_event.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from app.queue_engine.model import TicketCalled, TicketIssued

            def change(called: TicketCalled, issued: TicketIssued) -> None:
                called.counter = 3
                issued.ahead = 0
            """
        )
    )
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            str(snippet),
        ]
    )
    assert status == 1, stdout + stderr
    assert 'Property "counter" defined in "TicketCalled" is read-only' in stdout, stdout
    assert 'Property "ahead" defined in "TicketIssued" is read-only' in stdout, stdout
    assert stdout.count("error:") == 2, stdout
