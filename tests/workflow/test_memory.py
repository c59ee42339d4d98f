"""A kernel's peak memory (cjmlib.workflow.memory): read from /proc while it lives.

Reference: a child process that holds a known amount of memory (300 MB of bytes it has
written, so resident) before it exits.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from cjmlib.workflow.memory import PeakWatcher, peak_mb

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(),
                                reason="needs Linux /proc")


def test_the_peak_of_a_child_that_held_300_mb_is_seen_after_it_exits():
    child = subprocess.Popen([sys.executable, "-c",
                              "import time; b = bytearray(300_000_000); b[::4096] = b'x' * "
                              "len(b[::4096]); time.sleep(1.5)"])
    watcher = PeakWatcher(interval=0.05)
    watcher.watch(child.pid)
    child.wait(timeout=60)
    time.sleep(0.2)
    assert watcher.peak is not None and 300 <= watcher.peak < 600
    watcher.reset()
    assert watcher.peak is None
    watcher.stop()


def test_unreadable_processes_have_no_peak():
    assert peak_mb(2**22 + 12345) is None  # beyond Linux's largest pid
    watcher = PeakWatcher()
    watcher.watch(None)
    assert watcher.peak is None
