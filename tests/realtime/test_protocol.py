"""The protocol's rules without sockets: client messages, resume plans, the seq cursor, the
heartbeat, what a customer is told, and what displays may see."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.queue_engine.model import EVENT_TYPES
from app.realtime import (
    CloseCode,
    Cursor,
    Heartbeat,
    Hello,
    Ping,
    Pong,
    ProtocolError,
    Replay,
    Snapshot,
    SnapshotReason,
    TicketWatch,
    Verdict,
    parse_client_message,
    plan_resume,
    public_data,
)
from app.realtime.views import PUBLIC_FIELDS


def parse(message: Any, max_bytes: int = 65536) -> object:
    return parse_client_message(json.dumps(message), max_bytes=max_bytes)


class TestClientMessages:
    def test_a_hello_names_a_token_and_the_last_seq_seen(self) -> None:
        assert parse({"type": "hello", "token": "t", "since": 7}) == Hello("t", 7)
        assert parse({"type": "hello", "since": None}) == Hello(None, None)

    def test_pings_and_pongs(self) -> None:
        assert parse({"type": "pong"}) == Pong()
        assert parse({"type": "ping"}) == Ping()

    @pytest.mark.parametrize(
        "message",
        [
            [1, 2],
            {"type": "subscribe"},
            {"type": "hello", "since": -1},
            {"type": "hello", "since": True},
            {"type": "hello", "since": "3"},
            {"type": "hello", "since": 2**31},
            {"type": "hello", "token": 5},
        ],
    )
    def test_anything_else_is_a_bad_message(self, message: Any) -> None:
        with pytest.raises(ProtocolError) as error:
            parse(message)
        assert error.value.code == CloseCode.BAD_MESSAGE

    def test_text_that_is_not_json_is_a_bad_message(self) -> None:
        with pytest.raises(ProtocolError) as error:
            parse_client_message("{nope", max_bytes=100)
        assert error.value.code == CloseCode.BAD_MESSAGE

    def test_a_message_over_the_limit_is_too_big_counting_bytes_not_characters(self) -> None:
        with pytest.raises(ProtocolError) as error:
            parse({"type": "pong", "x": "号" * 30}, max_bytes=80)  # 30 characters, 90 bytes
        assert error.value.code == CloseCode.MESSAGE_TOO_BIG


class TestResumePlan:
    def plan(self, since: int | None, latest: int = 100, day_start: int = 10) -> object:
        return plan_resume(since, latest_seq=latest, day_start_seq=day_start, max_replay=50)

    def test_a_client_that_saw_something_of_today_gets_a_replay(self) -> None:
        assert self.plan(60) == Replay(60)
        assert self.plan(100) == Replay(100)  # up to date: nothing to replay
        assert self.plan(10, latest=40) == Replay(10)  # saw the day start itself

    def test_a_new_client_gets_a_snapshot(self) -> None:
        assert self.plan(None) == Snapshot(SnapshotReason.NEW)

    def test_a_client_too_far_behind_gets_a_snapshot(self) -> None:
        assert self.plan(49) == Snapshot(SnapshotReason.TOO_FAR_BEHIND)
        assert self.plan(50) == Replay(50)

    def test_a_client_from_before_the_day_started_gets_a_snapshot(self) -> None:
        assert self.plan(9) == Snapshot(SnapshotReason.DAY_CHANGED)
        assert self.plan(0, latest=5, day_start=0) == Replay(0)  # no day change logged yet

    def test_a_seq_the_branch_never_reached_gets_a_snapshot(self) -> None:
        assert self.plan(101) == Snapshot(SnapshotReason.UNKNOWN_SEQ)


class TestCursor:
    def test_events_are_sent_one_after_the_other(self) -> None:
        cursor = Cursor(5)
        assert [cursor.accept(seq) for seq in (6, 7, 8)] == [Verdict.SEND] * 3
        assert cursor.last == 8

    def test_what_was_sent_is_a_duplicate(self) -> None:
        cursor = Cursor(5)
        assert cursor.accept(5) is Verdict.DUPLICATE
        assert cursor.accept(2) is Verdict.DUPLICATE
        assert cursor.last == 5

    def test_a_skipped_seq_is_a_gap_and_changes_nothing(self) -> None:
        cursor = Cursor(5)
        assert cursor.accept(7) is Verdict.GAP
        assert cursor.last == 5
        assert cursor.accept(6) is Verdict.SEND


class TestHeartbeat:
    def test_pings_every_interval_and_closes_after_silence(self) -> None:
        beat = Heartbeat(0.0, ping_seconds=25, silence_seconds=60)
        assert beat.due(10) is None
        assert beat.due(25) == "ping"
        assert beat.due(30) is None
        assert beat.due(50) == "ping"
        assert beat.due(60) == "close"

    def test_any_message_from_the_client_keeps_it_alive(self) -> None:
        beat = Heartbeat(0.0, ping_seconds=25, silence_seconds=60)
        beat.heard(55)
        assert beat.due(100) == "ping"
        assert beat.due(115) == "close"


def view(**changes: Any) -> dict[str, Any]:
    base = {"state": "waiting", "ahead": 6, "eta_minutes": 12, "almost_your_turn": False}
    return {**base, **changes}


class TestTicketWatch:
    def test_a_position_change_is_told_at_most_once_per_interval(self) -> None:
        watch = TicketWatch(view(), min_interval=1.0)
        assert watch.update(view(ahead=5), now=100.0) == "position"
        assert watch.update(view(ahead=4), now=100.5) is None
        assert watch.pending
        assert watch.next_allowed() == 101.0
        assert watch.update(view(ahead=4), now=101.0) == "position"
        assert not watch.pending

    def test_nothing_changed_is_not_told(self) -> None:
        watch = TicketWatch(view(), min_interval=1.0)
        assert watch.update(view(), now=100.0) is None
        assert not watch.pending

    def test_almost_your_turn_is_told_once_per_wait(self) -> None:
        watch = TicketWatch(view(), min_interval=1.0)
        assert watch.update(view(ahead=3, almost_your_turn=True), 1.0) == "almost_your_turn"
        assert watch.update(view(ahead=2, almost_your_turn=True), 2.0) == "position"
        assert watch.update(view(state="called", ahead=None), 2.1) == "called"
        assert watch.update(view(state="missed", ahead=None), 2.2) == "missed"
        back = view(ahead=2, almost_your_turn=True)
        assert watch.update(back, 2.3, cause="ticket_returned") == "returned"
        assert watch.update(view(ahead=1, almost_your_turn=True), 3.5) == "position"

    def test_state_changes_are_told_at_once_whatever_the_interval(self) -> None:
        watch = TicketWatch(view(), min_interval=60.0)
        assert watch.update(view(ahead=5), 0.0) == "position"
        assert watch.update(view(state="called", ahead=None), 0.1) == "called"
        assert watch.update(view(state="called", ahead=None), 0.2, "ticket_recalled") == "recalled"
        assert watch.update(view(state="serving", ahead=None), 0.3) == "serving"
        assert watch.update(view(state="finished", ahead=None), 0.4) == "finished"
        assert watch.final


class TestPublicData:
    def test_every_event_type_has_a_public_form(self) -> None:
        # Besides the engine's events: notices_changed, logged by app/routers/notices.py.
        assert set(PUBLIC_FIELDS) == set(EVENT_TYPES) | {"notices_changed"}

    def test_public_forms_hold_numbers_services_and_counters_only(self) -> None:
        allowed = {
            "number",
            "service",
            "counter",
            "counter_name",
            "ahead",
            "eta_minutes",
            "recalls",
            "from_service",
            "from_counter",
            "to_counter",
            "state",
            "business_day",
            "previous_day",
            "notice_id",
        }
        assert {name for fields in PUBLIC_FIELDS.values() for name in fields} <= allowed

    def test_a_called_ticket_loses_its_priority_and_explanation(self) -> None:
        data = {
            "ticket_id": 3,
            "number": "A003",
            "service": "A",
            "counter": 2,
            "counter_name": "2号窗口",
            "priority": "care",
            "reason": "head_start",
            "explanation": "优先客户",
            "explanation_en": "priority customer",
            "waited_seconds": 30.0,
        }
        assert public_data("ticket_called", data) == {
            "number": "A003",
            "service": "A",
            "counter": 2,
            "counter_name": "2号窗口",
        }

    def test_an_unknown_event_type_is_not_shown(self) -> None:
        assert public_data("customer_registered", {"name": "张三"}) is None
