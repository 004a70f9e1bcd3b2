"""Counting a bucket's answers that ask a scan to slow down (S3's `503 SlowDown`, a 429), each of
which the store's client retries after a back-off (botocore's standard mode; see `storage`).

Every client's answers add up to one count per process, in whichever process it runs (the driver, a
decode worker, a Ray task or actor); `throttled_answers()` reads this process's, so that a step
counts what it caused as the difference before and after it. A forked decode worker starts from
nothing: what its parent counted before the fork is not its own.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

# botocore's throttling codes that S3 and its look-alikes answer with.
THROTTLING_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
                              "TooManyRequestsException", "RequestThrottled"})  # fmt: skip
THROTTLING_STATUSES = frozenset({429, 503})

# Throttling answers by process id: a fork copies the parent's entry, which the child never reads.
# Only ever grows, so a client dropped meanwhile (fsspec clears its instances in a fork) takes
# nothing away from a step's difference.
_ANSWERS: Counter[int] = Counter()


def count_throttled_answer(response: Any = None, **_: Any) -> None:
    """A client's `needs-retry` event handler: counts a throttling answer and decides nothing (the
    client's retry mode does)."""
    if response is None:
        return
    answer, parsed = response
    code = (parsed or {}).get("Error", {}).get("Code")
    if getattr(answer, "status_code", None) in THROTTLING_STATUSES or code in THROTTLING_CODES:
        _ANSWERS[os.getpid()] += 1


def throttled_answers() -> int:
    """Throttling answers this process's clients have had so far."""
    return _ANSWERS[os.getpid()]
