"""The process hosting moto caps glibc's malloc arenas, unless the user chose a number."""

from __future__ import annotations

import platform

import pytest

from local_stack.server import limit_malloc_arenas

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")


def test_limit_malloc_arenas_caps_them_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no MALLOC_ARENA_MAX and no glibc tunable in the environment
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)

    # WHEN / THEN glibc accepts the cap
    assert limit_malloc_arenas() is True


@pytest.mark.parametrize(
    ("name", "value"), [("MALLOC_ARENA_MAX", "4"), ("GLIBC_TUNABLES", "glibc.malloc.arena_max=4")]
)
def test_limit_malloc_arenas_leaves_a_user_choice_alone(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    # GIVEN the user set the number of arenas at the process's start
    monkeypatch.setenv(name, value)

    # WHEN / THEN it is not overridden
    assert limit_malloc_arenas() is False
