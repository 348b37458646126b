"""Undo and redo over the spec text."""

from __future__ import annotations

import pytest

from playground.app.history import History


def test_undo_and_redo_walk_back_and_forth():
    h = History.start("a", "opened a")
    assert not h.can_undo and not h.can_redo and h.undo() is None and h.redo() is None
    assert h.record("b", "typed") and h.record("c", "added a layer")
    assert h.undo_label == "added a layer"
    assert h.undo() == "b" and h.undo() == "a" and h.undo() is None
    assert h.redo_label == "typed"
    assert h.redo() == "b" and h.redo() == "c" and h.redo() is None
    assert h.current.text == "c"


def test_recording_the_same_text_is_not_a_step():
    h = History.start("a")
    assert not h.record("a", "nothing")
    assert not h.can_undo


def test_a_new_edit_after_undo_drops_the_redo_branch():
    h = History.start("a")
    h.record("b", "1")
    h.record("c", "2")
    h.undo()
    h.record("d", "3")
    assert not h.can_redo
    assert h.undo() == "b" and h.redo() == "d"


def test_the_oldest_entries_go_first():
    h = History.start("0", limit=3)
    for n in range(1, 6):
        h.record(str(n), f"step {n}")
    assert [e.text for e in h.entries] == ["3", "4", "5"]
    assert h.undo() == "4" and h.undo() == "3" and h.undo() is None


def test_a_history_that_cannot_undo_is_refused():
    with pytest.raises(ValueError, match="Received: limit=1"):
        History.start("a", limit=1)
