"""How long work (a scan, a report's thumbnails) tells a caller how far it has got."""

from __future__ import annotations

from typing import Protocol


class PhotoProgress(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, photos: int) -> None: ...


class NoProgress:
    """For callers that do not watch."""

    def start(self, total: int) -> None:
        pass

    def advance(self, photos: int) -> None:
        pass
