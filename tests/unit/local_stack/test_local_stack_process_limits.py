"""The process hosting moto caps glibc's malloc arenas (unless the user chose a number) and raises its
limit of open files."""

from __future__ import annotations

import platform

import pytest

from local_stack.server import limit_malloc_arenas, raise_open_files_limit

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


def test_raise_open_files_limit_raises_the_soft_limit_up_to_the_hard_one() -> None:
    # GIVEN this process's limits, its soft one lowered
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(256, soft)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        # WHEN it is raised towards more than the hard limit allows
        wanted = 1024 if hard == resource.RLIM_INFINITY else min(1024, hard)
        now = raise_open_files_limit(wanted)

        # THEN the soft limit is the wanted number, never above the hard limit
        assert now == wanted == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert raise_open_files_limit(lowered) == wanted  # never lowered
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
