"""Waiting lines answer like a plain sorted list, whatever mix of calls (head removals), other
removals and additions came before: head, length, ranks, entries by position, ids."""

from __future__ import annotations

import bisect

from hypothesis import given, settings
from hypothesis import strategies as st

from app.queue_engine.queues import MAX_GONE, Entry, KeyedQueue


def assert_same(queue: KeyedQueue, model: list[Entry]) -> None:
    assert len(queue) == len(model)
    assert queue.head == (model[0] if model else None)
    assert queue.ids() == [ticket_id for _, ticket_id in model]
    for index, entry in enumerate(model):
        assert queue.rank(entry) == index
        assert queue.entry_at(index) == entry
        assert queue.entry_at(index - len(model)) == entry
    if model:
        assert queue.key_at(-1) == model[-1][0]


def test_calls_that_outpace_additions_keep_every_answer_right() -> None:
    queue, model = KeyedQueue(), []
    for ticket_id in range(1, 3 * MAX_GONE + 10):
        entry = (float(ticket_id), ticket_id)
        queue.add(entry)
        model.append(entry)
    while model:
        head = queue.head
        assert head is not None
        queue.remove(head)
        model.pop(0)
        assert_same(queue, model)


def test_a_ticket_back_with_the_key_it_was_called_with_is_first_again() -> None:
    queue = KeyedQueue()
    first, second, third = (10.0, 1), (20.0, 2), (30.0, 3)
    for entry in (first, second, third):
        queue.add(entry)
    queue.remove(first)  # called
    queue.remove(second)  # called
    back = (20.0, 2)  # the second ticket returns under its key: equal, not the same tuple
    queue.add(back)
    assert_same(queue, [back, third])
    queue.remove(back)
    assert_same(queue, [third])


def test_an_entry_below_the_called_heads_becomes_the_head() -> None:
    queue = KeyedQueue()
    entries = [(float(key), key) for key in range(1, 6)]
    for entry in entries:
        queue.add(entry)
    for entry in entries[:3]:
        queue.remove(entry)
    early = (0.5, 9)
    queue.add(early)
    assert_same(queue, [early, *entries[3:]])


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 40)),
        st.tuples(st.just("call"), st.just(0)),
        st.tuples(st.just("remove"), st.integers(0, 1_000)),
        st.tuples(st.just("readd"), st.integers(0, 1_000)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_a_queue_matches_a_sorted_list(steps: list[tuple[str, int]]) -> None:
    queue, model = KeyedQueue(), []
    removed: list[Entry] = []
    next_id = 1
    for action, value in steps:
        if action == "add":
            entry = (float(value), next_id)
            next_id += 1
        elif action == "readd":  # a ticket that left comes back under the key it had
            if not removed:
                continue
            old = removed.pop(value % len(removed))
            entry = (old[0], old[1])
        elif not model:
            continue
        elif action == "call":
            head = queue.head
            assert head is not None
            queue.remove(head)
            removed.append(model.pop(0))
            assert_same(queue, model)
            continue
        else:
            gone = model.pop(value % len(model))
            queue.remove(gone)
            removed.append(gone)
            assert_same(queue, model)
            continue
        queue.add(entry)
        bisect.insort(model, entry)
        assert_same(queue, model)
