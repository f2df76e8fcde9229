"""Row tiles with overlapping margins, run on a small thread pool (OpenCV releases the GIL).

A page's local decisions (windows a few stroke widths wide, smooth statistics over ten, components
the size of a word) depend only on a neighbourhood, so a page can be cut into horizontal bands that
overlap by a margin wider than all of them; each band is processed on its own and only its interior
is kept. One band per core: on two cores, the per-pixel half of the binarizer runs about twice as
fast, with the same result away from the margins' statistics. `map_rows` hands each band's own
result back instead (per-band values, histograms that add up); `submit` runs an independent step
next to the caller's own work on the same pool. While bands run, OpenCV's own threads are turned
off (`serial_opencv`): each band already has a core, and a second level of threads only contends.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import cv2
from numpy.typing import NDArray

MAX_WORKERS = 4
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_inside = threading.local()
_serial_lock = threading.Lock()
_serial_users = 0
_serial_saved = 1

Job = Callable[[slice, slice], NDArray[Any]]
"""job(rows of the source, rows of the output) -> the output for those rows."""
Result = TypeVar("Result")


def workers() -> int:
    """Cores this process may run on (at most `MAX_WORKERS`)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


def _executor() -> ThreadPoolExecutor:
    """The process's pool (a new one after a fork: the parent's threads do not exist in the child)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool = ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="tiles")
        _pool_pid = os.getpid()
    return _pool


@contextmanager
def serial_opencv() -> Iterator[None]:
    """OpenCV single-threaded inside the block; its previous thread count restored after it.

    OpenCV's setting is process-wide, and pages are binarized from several threads at once: the
    users are counted, the first one in saves and lowers the setting, the last one out restores it.
    """
    global _serial_users, _serial_saved
    with _serial_lock:
        if _serial_users == 0:
            _serial_saved = cv2.getNumThreads()
            cv2.setNumThreads(1)
        _serial_users += 1
    try:
        yield
    finally:
        with _serial_lock:
            _serial_users -= 1
            if _serial_users == 0:
                cv2.setNumThreads(_serial_saved)


def _reset_after_fork() -> None:
    """In a forked child no band runs: OpenCV's thread count as before the bands, nobody counted."""
    global _serial_lock, _serial_users
    if _serial_users:
        cv2.setNumThreads(_serial_saved)
    _serial_lock, _serial_users = threading.Lock(), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def bands(rows: int, count: int, margin: int) -> list[tuple[int, int, int, int]]:
    """`count` bands over `rows`: (start, stop, start with margin, stop with margin) each."""
    cuts = [round(i * rows / count) for i in range(count + 1)]
    return [(a, b, max(0, a - margin), min(rows, b + margin)) for a, b in itertools.pairwise(cuts)]


def run_rows(source_rows: int, out: NDArray[Any], margin: int, job: Job, *, min_band: int) -> None:
    """Fill `out` (H rows) band by band: `job` sees source rows with `margin` on both sides.

    Source row r maps to output row r x H / `source_rows`. Bands are run in parallel, one per core,
    and only when each is at least `min_band` source rows tall (else `job` runs once on everything);
    a `run_rows` called from inside a band runs in that band's thread.
    """
    height = out.shape[0]
    count = min(workers(), source_rows // max(1, min_band))
    # a band's own job never waits on the pool it runs on (no nested bands, no deadlock)
    if count < 2 or getattr(_inside, "band", False):
        out[:] = job(slice(0, source_rows), slice(0, height))
        return
    scale = height / source_rows

    def to_out(row: int) -> int:
        return height if row >= source_rows else round(row * scale)

    def one(band: tuple[int, int, int, int]) -> None:
        a, b, a0, b0 = band
        _inside.band = True
        try:
            tile = job(slice(a0, b0), slice(to_out(a0), to_out(b0)))
        finally:
            _inside.band = False
        start = to_out(a) - to_out(a0)
        out[to_out(a) : to_out(b)] = tile[start : start + to_out(b) - to_out(a)]

    with serial_opencv():
        futures = [_executor().submit(one, band) for band in bands(source_rows, count, margin)]
        for future in futures:
            future.result()


def map_rows(rows: int, margin: int, job: Callable[[slice, slice], Result], *, min_band: int) -> list[Result]:
    """`job(rows with margin, the band's own rows inside them)` for each band, results in band order.

    The bands are `run_rows`'s (one per core, each at least `min_band` rows, none inside a band);
    the second slice is relative to the first, so `job` can keep what lies in its own rows only.
    """
    count = min(workers(), rows // max(1, min_band))
    if count < 2 or getattr(_inside, "band", False):
        return [job(slice(0, rows), slice(0, rows))]

    def one(band: tuple[int, int, int, int]) -> Result:
        a, b, a0, b0 = band
        _inside.band = True
        try:
            return job(slice(a0, b0), slice(a - a0, b - a0))
        finally:
            _inside.band = False

    with serial_opencv():
        futures = [_executor().submit(one, band) for band in bands(rows, count, margin)]
        return [future.result() for future in futures]


def submit(fn: Callable[..., Result], *args: Any) -> Future[Result]:
    """`fn(*args)` started on the pool, to run next to the caller's own work; `.result()` joins it.

    Inside the job, `run_rows` and `map_rows` run inline (as in a band), so it never waits on the
    pool it runs on. On one core, or when called from inside a band, it runs at once in the caller.
    """
    if workers() < 2 or getattr(_inside, "band", False):
        done: Future[Result] = Future()
        done.set_result(fn(*args))
        return done

    def one() -> Result:
        _inside.band = True
        try:
            return fn(*args)
        finally:
            _inside.band = False

    return _executor().submit(one)
