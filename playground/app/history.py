"""Undo and redo over whole spec texts: the page's edit history.

Every change to the text (typing in the YAML box, a layer-editor edit,
opening or uploading a spec, a reopen from disk) is recorded as a new entry
with a short label. ``undo`` and ``redo`` walk the entries; recording after an
undo drops the entries that were ahead, as every editor does. The history is
bounded: the oldest entries go first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_LIMIT = 200


@dataclass
class Entry:
    text: str
    label: str        # what produced this text, e.g. "opened lenet5.yaml"


@dataclass
class History:
    entries: list[Entry] = field(default_factory=list)
    position: int = -1            # index of the current entry
    limit: int = DEFAULT_LIMIT

    @classmethod
    def start(cls, text: str, label: str = "start", limit: int = DEFAULT_LIMIT) -> History:
        if limit < 2:
            raise ValueError(f"limit must be at least 2 to undo anything. Received: limit={limit}")
        return cls([Entry(text, label)], 0, limit)

    @property
    def current(self) -> Entry:
        return self.entries[self.position]

    @property
    def can_undo(self) -> bool:
        return self.position > 0

    @property
    def can_redo(self) -> bool:
        return self.position < len(self.entries) - 1

    @property
    def undo_label(self) -> str | None:
        """What undo would take back (the current entry's label)."""
        return self.current.label if self.can_undo else None

    @property
    def redo_label(self) -> str | None:
        return self.entries[self.position + 1].label if self.can_redo else None

    def record(self, text: str, label: str) -> bool:
        """Make ``text`` the current entry; False (nothing recorded) when it is unchanged."""
        if text == self.current.text:
            return False
        del self.entries[self.position + 1:]
        self.entries.append(Entry(text, label))
        if len(self.entries) > self.limit:
            del self.entries[:len(self.entries) - self.limit]
        self.position = len(self.entries) - 1
        return True

    def undo(self) -> str | None:
        """The text before the current entry, or None when there is nothing to undo."""
        if not self.can_undo:
            return None
        self.position -= 1
        return self.current.text

    def redo(self) -> str | None:
        if not self.can_redo:
            return None
        self.position += 1
        return self.current.text
