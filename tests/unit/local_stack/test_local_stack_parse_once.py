"""moto's parses (a definition per execution, a JSONPath per evaluation) are done once per text."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from local_stack.lambda_hook import _once


def test_parse_once_makes_concurrent_callers_of_one_text_wait_for_a_single_parse() -> None:
    # GIVEN a slow parse, cached once per text
    calls: list[str] = []
    lock = threading.Lock()

    def parse(text: str) -> tuple[str]:
        with lock:
            calls.append(text)
        time.sleep(0.05)
        return (text.upper(),)

    cached = _once(parse, 4)

    # WHEN a burst of threads asks for the same definition at once, and one asks for another
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(cached, ["definition"] * 8 + ["other"]))

    # THEN each text was parsed once and every caller got the one parsed result
    assert sorted(calls) == ["definition", "other"]
    assert len({id(result) for result in results[:8]}) == 1
    assert results[-1] == ("OTHER",)


def test_parse_once_keeps_at_most_its_bound_dropping_the_oldest() -> None:
    # GIVEN a cache of two parses
    calls: list[str] = []
    cached = _once(lambda text: calls.append(text) or text, 2)

    # WHEN three texts are parsed, then the first and the last again
    for text in ("a", "b", "c", "c", "a"):
        cached(text)

    # THEN the oldest was dropped for the third and parsed again; the newest was not
    assert calls == ["a", "b", "c", "a"]
