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


def test_readable_watches_a_descriptor_numbered_past_select_limit() -> None:
    # GIVEN a pipe whose read end is numbered past 1,024 (select's limit), as in a stack holding a file
    # per object body on disk
    import fcntl
    import os

    from local_stack.environments import readable

    raise_open_files_limit(4096)
    read_end, write_end = os.pipe()
    high = fcntl.fcntl(read_end, fcntl.F_DUPFD, 2048)
    try:
        # WHEN / THEN it reads as not ready, then ready once written to
        assert high >= 2048
        assert readable(high, 0) is False
        os.write(write_end, b"x")
        assert readable(high, 0.5) is True
    finally:
        for fd in (read_end, write_end, high):
            os.close(fd)
