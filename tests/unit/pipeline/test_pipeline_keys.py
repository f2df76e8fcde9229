"""Key mapping, skip rules and execution naming."""

from __future__ import annotations

import re

import pytest

from ocr_pipeline.domain.keys import SkipReason, execution_name, output_keys, relative_key, skip_reason

OUTPUTS = ("text/", "binarized/", "results/", "failed/")
SUFFIXES = frozenset({"png", "jpg", "jpeg", "tif", "tiff", "bmp", "gif"})


def _skip(key: str) -> SkipReason | None:
    return skip_reason(key, input_prefix="incoming/", output_prefixes=OUTPUTS, suffixes=SUFFIXES)


def _keys(key: str) -> tuple[str, str, str, str]:
    keys = output_keys(
        key,
        input_prefix="incoming/",
        text_prefix="text/",
        binarized_prefix="binarized/",
        result_prefix="results/",
        failed_prefix="failed/",
    )
    return keys.text, keys.binarized, keys.result, keys.failed


def test_output_keys_nested_key_keeps_subpath_and_extension() -> None:
    # GIVEN an input under a sub-folder
    key = "incoming/2026/scan.jpg"
    # WHEN it is mapped
    keys = _keys(key)
    # THEN every output keeps "2026/scan.jpg" and appends its own suffix
    assert keys == (
        "text/2026/scan.jpg.txt",
        "binarized/2026/scan.jpg.png",
        "results/2026/scan.jpg.json",
        "failed/2026/scan.jpg.json",
    )


def test_output_keys_same_stem_different_extensions_never_collide() -> None:
    # GIVEN scan.png and scan.jpg in one folder
    png, jpg = _keys("incoming/x/scan.png"), _keys("incoming/x/scan.jpg")
    # WHEN / THEN no output key of one is an output key of the other
    assert not set(png) & set(jpg)


def test_relative_key_dotted_name_kept_whole() -> None:
    # GIVEN / WHEN / THEN a name with several dots keeps all of them
    assert relative_key("incoming/a/b.v2.final.png", "incoming/") == "a/b.v2.final.png"


def test_relative_key_outside_prefix_raises() -> None:
    # GIVEN a key not under the input prefix / WHEN mapped / THEN it is refused
    with pytest.raises(ValueError, match="not under"):
        relative_key("other/x.png", "incoming/")


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("incoming/2026/", SkipReason.FOLDER_MARKER),
        ("other/scan.png", SkipReason.OUTSIDE_INPUT_PREFIX),
        ("text/2026/scan.png", SkipReason.UNDER_OUTPUT_PREFIX),
        ("binarized/scan.png", SkipReason.UNDER_OUTPUT_PREFIX),
        ("incoming/notes.pdf", SkipReason.SUFFIX_NOT_ALLOWED),
        ("incoming/README", SkipReason.SUFFIX_NOT_ALLOWED),
        ("incoming/.png", SkipReason.SUFFIX_NOT_ALLOWED),
    ],
)
def test_skip_reason_unwanted_key_names_reason(key: str, reason: SkipReason) -> None:
    # GIVEN a key the pipeline must not process / WHEN checked / THEN the reason says why
    assert _skip(key) is reason


@pytest.mark.parametrize(
    "key", ["incoming/a.png", "incoming/b.JPG", "incoming/x/y.TiFf", "incoming/s p+c.gif"]
)
def test_skip_reason_accepted_key_any_suffix_case_is_none(key: str) -> None:
    # GIVEN an image under the input prefix in any suffix case / WHEN checked / THEN it is processed
    assert _skip(key) is None


def test_skip_reason_output_prefix_inside_input_prefix_is_refused() -> None:
    # GIVEN an output prefix nested in the input prefix (a recursion risk)
    # WHEN a key under it is checked
    reason = skip_reason(
        "incoming/out/a.png", input_prefix="incoming/", output_prefixes=("incoming/out/",), suffixes=SUFFIXES
    )
    # THEN it is refused as an output
    assert reason is SkipReason.UNDER_OUTPUT_PREFIX


def test_execution_name_same_identity_is_deterministic() -> None:
    # GIVEN / WHEN the same object is named twice / THEN the names are equal
    assert execution_name("b", "incoming/a.png", "etag1") == execution_name("b", "incoming/a.png", "etag1")


@pytest.mark.parametrize(
    "other",
    [("b", "incoming/a.png", "etag2"), ("b2", "incoming/a.png", "etag1"), ("b", "incoming/a2.png", "etag1")],
)
def test_execution_name_distinct_identity_is_distinct(other: tuple[str, str, str]) -> None:
    # GIVEN objects differing in bucket, key or version / WHEN named / THEN the names differ
    assert execution_name("b", "incoming/a.png", "etag1") != execution_name(*other)


@pytest.mark.parametrize(
    "key",
    [
        "incoming/" + "x" * 900 + ".png",
        "incoming/ünïcødé scan (1).jpg",
        "incoming/%%%.png",
        "incoming/---.png",
    ],
)
def test_execution_name_any_key_fits_step_functions_rules(key: str) -> None:
    # GIVEN awkward keys / WHEN named
    name = execution_name("bucket", key, "etag")
    # THEN the name is at most 80 characters of the allowed set and keeps the hash
    assert len(name) <= 80
    assert re.fullmatch(r"[A-Za-z0-9_-]+", name)
    assert re.search(r"[0-9a-f]{32}$", name)


def test_execution_name_readable_part_comes_from_file_name() -> None:
    # GIVEN a plain key / WHEN named / THEN a reader can recognise the file in it
    assert execution_name("b", "incoming/2026/scan.jpg", "e").startswith("scan-jpg-")
