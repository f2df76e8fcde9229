"""The process hosting the stack gives the memory its allocator holds free back to the system."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack import server
from local_stack.stack import LocalStack

FIXTURE = Path(__file__).parent / "fixtures" / "template.yaml"
MIB = 1024 * 1024
BLOCK = 4096
"""Above CPython's small-object limit (512 B): each block is a glibc malloc chunk."""
FREED_MIB = 64
DEADLINE = 15.0

pytestmark = pytest.mark.skipif(server._glibc() is None, reason="trimming is glibc malloc's")


@pytest.fixture(scope="module")
def stack(stub_ocr: object) -> Iterator[LocalStack]:
    with LocalStack.start(template=FIXTURE, ocr=stub_ocr) as running:
        yield running


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _blocks_with_pins(mib: int) -> tuple[list[bytes], list[bytes]]:
    """`mib` MiB in malloc'd blocks, and a small malloc'd block after each MiB of them: freeing the big
    ones leaves free memory below blocks in use, which glibc keeps (by itself it trims only the top of
    a heap)."""
    blocks: list[bytes] = []
    pins: list[bytes] = []
    for n in range(mib):
        blocks.extend(bytes([n % 251]) * BLOCK for _ in range(MIB // BLOCK))
        pins.append(bytes(600))
    return blocks, pins


def _settled_below(bound: float) -> float:
    """RSS once below `bound`, re-measured until `DEADLINE` (the last value if it never gets there)."""
    deadline = time.monotonic() + DEADLINE
    while (rss := _rss_mib()) >= bound and time.monotonic() < deadline:
        time.sleep(0.2)
    return rss


def test_memory_freed_below_blocks_in_use_goes_back_to_the_system(stack: LocalStack) -> None:
    # GIVEN the running stack, and 64 MiB more in use in its process, each MiB followed by a small block
    blocks, pins = _blocks_with_pins(FREED_MIB)
    with_blocks = _rss_mib()

    # WHEN the 64 MiB are freed and the small blocks stay in use (as a burst leaves requests, parsed
    # JSON and ended executions' threads freed below what the running ones still hold)
    del blocks

    # THEN within seconds at least half of it is resident no more (glibc alone would keep it all)
    rss = _settled_below(with_blocks - FREED_MIB / 2)
    assert rss < with_blocks - FREED_MIB / 2, f"RSS {rss:.0f} MiB, {with_blocks:.0f} MiB with the blocks"
    assert stack.trimmer.trims > 0
    assert len(pins) == FREED_MIB


def test_trimmer_trims_every_period_until_stopped() -> None:
    # GIVEN a trimmer with a short period
    trimmer = server.FreeMemoryTrimmer(period=0.05)

    # WHEN it runs until it has trimmed three times, then is stopped
    trimmer.start()
    deadline = time.monotonic() + DEADLINE
    while trimmer.trims < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    trimmer.stop()
    stopped_at = trimmer.trims
    time.sleep(0.2)

    # THEN it trimmed, and trims no more once stopped
    assert stopped_at >= 3
    assert trimmer.trims == stopped_at
