"""How worker processes start: forked, unless OpenVINO is loaded in this process.

Forking a process in which OpenVINO has run is not safe: a forked child that garbage-collects its
copy of OpenVINO's objects aborts, and a parent process segfaulted while its DataLoader waited on
workers forked after an earlier scan and evaluation in the same process had run OpenVINO. Such a
process starts its workers from a fork server instead: a clean process, started once, that forks
them. No torch here: the report uses it too.
"""

from __future__ import annotations

import multiprocessing
import sys
from multiprocessing.context import BaseContext


def worker_context() -> BaseContext | None:
    """The multiprocessing context for worker processes; None for the platform's default (fork on
    Linux, the cheapest start)."""
    if "openvino" not in sys.modules:
        return None
    return multiprocessing.get_context("forkserver")
