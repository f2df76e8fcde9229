"""`ocr-local` user errors: one line on stderr, exit 2, found before the stack is imported or started.

Each case runs the real entry point (`python -m local_stack`) in a fresh interpreter that reports, after
the command, which heavy packages it loaded: none of them may be, so nothing was started either.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.cli_serve import MAX_EVENT_BYTES

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("moto", "boto3", "botocore", "samtranslator", "cfnlint", "numpy", "ocr_service")
_PROBE = f"""
import json, runpy, sys
sys.argv = ["ocr-local", *sys.argv[1:]]
try:
    runpy.run_module("local_stack", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as exc:
    code = exc.code
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"code": code, "loaded": loaded}}))
"""


def _cli(*args: str) -> tuple[int, str, list[str]]:
    """(exit code, stderr, heavy packages loaded) of `ocr-local ARGS`."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    return report["code"], result.stderr, report["loaded"]


def _assert_user_error(code: int, stderr: str, loaded: list[str], expected: str) -> None:
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("ocr-local: ") and expected in stderr, stderr
    assert loaded == []


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ("Bogus=1", "unknown parameter Bogus; the template declares: BucketNamePrefix"),
        (
            "BinarizationMode=weird",
            "BinarizationMode='weird' is not allowed; allowed values: endpoint, inline, off, auto",
        ),
        ("MaxPolls=0", "MaxPolls=0 is out of range; allowed values: 1 to 500"),
        ("MaxPolls=many", "MaxPolls='many' is not a number"),
        ("InputPrefix=/abs/", "InputPrefix='/abs/' does not match its AllowedPattern"),
        ("NoEquals", "--param expects Key=Value, got 'NoEquals'"),
    ],
)
def test_run_with_a_bad_param_fails_in_one_line_before_loading_the_stack(
    param: str, expected: str, tmp_path: Path
) -> None:
    # GIVEN / WHEN a run with a bad template parameter
    code, stderr, loaded = _cli("run", "--param", param, "--out", str(tmp_path / "out"))

    # THEN one line names the parameter and what is allowed; no stack module was loaded, no file written
    _assert_user_error(code, stderr, loaded, expected)
    assert not (tmp_path / "out").exists()


def test_invoke_unknown_function_lists_the_templates_functions_before_loading_the_stack(
    tmp_path: Path,
) -> None:
    # GIVEN / WHEN invoke names no function of the template
    code, stderr, loaded = _cli("invoke", "Nope", "-e", "events/s3_put.json", "--out", str(tmp_path / "out"))

    # THEN one line lists the template's functions, and nothing was loaded or written
    _assert_user_error(
        code, stderr, loaded, "no function 'Nope'; the template has: AdmissionFunction, OnUpload"
    )
    assert not (tmp_path / "out").exists()


def test_invoke_with_a_bad_param_and_a_good_function_fails_on_the_param(tmp_path: Path) -> None:
    # GIVEN / WHEN a real function, a real event and a value below its MinValue
    code, stderr, loaded = _cli(
        "invoke",
        "OnUploadFunction",
        "-e",
        "events/s3_put.json",
        "--param",
        "MaxPolls=0",
        "--out",
        str(tmp_path),
    )

    # THEN the parameter is the one line
    _assert_user_error(code, stderr, loaded, "MaxPolls=0 is out of range")


def _event_not_json(folder: Path) -> Path:
    path = folder / "event.json"
    path.write_text("{not json", encoding="utf-8")
    return path


def _event_too_large(folder: Path) -> Path:
    path = folder / "event.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_EVENT_BYTES + 1)
    return path


@pytest.mark.parametrize(
    ("make_event", "expected"),
    [
        (lambda folder: folder / "missing.json", "missing.json not found"),
        (_event_not_json, "is not JSON"),
        (_event_too_large, "larger than Lambda's 6 MB payload limit"),
    ],
)
def test_invoke_with_a_bad_event_file_fails_in_one_line_before_loading_the_stack(
    make_event: object, expected: str, tmp_path: Path
) -> None:
    # GIVEN an event file that is missing, not JSON or too large
    assert callable(make_event)
    event = make_event(tmp_path)

    # WHEN a real function is invoked with it
    code, stderr, loaded = _cli(
        "invoke", "OnUploadFunction", "-e", str(event), "--out", str(tmp_path / "out")
    )

    # THEN one line names the file and what is wrong with it
    _assert_user_error(code, stderr, loaded, expected)


def test_run_on_a_folder_without_images_fails_in_one_line_before_loading_the_stack(tmp_path: Path) -> None:
    # GIVEN a folder holding no image
    (tmp_path / "notes.txt").write_text("no image here", encoding="utf-8")

    # WHEN it is run
    code, stderr, loaded = _cli("run", "--images", str(tmp_path), "--out", str(tmp_path / "out"))

    # THEN one line says so
    _assert_user_error(
        code, stderr, loaded, f"no images (.bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff) under {tmp_path}"
    )


def test_run_on_a_missing_folder_fails_in_one_line_before_loading_the_stack(tmp_path: Path) -> None:
    # GIVEN / WHEN run on a folder that does not exist
    code, stderr, loaded = _cli("run", "--images", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))

    # THEN one line names it
    _assert_user_error(code, stderr, loaded, f"{tmp_path / 'nowhere'} is not a folder")


def test_a_missing_template_fails_in_one_line_before_loading_the_stack(tmp_path: Path) -> None:
    # GIVEN / WHEN --template names no file
    code, stderr, loaded = _cli("run", "--template", str(tmp_path / "t.yaml"), "--out", str(tmp_path / "out"))

    # THEN one line names it
    _assert_user_error(code, stderr, loaded, f"template {tmp_path / 't.yaml'} not found")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_serve_on_a_busy_port_fails_in_one_line_naming_the_port_before_loading_the_stack(
    busy_port: int, tmp_path: Path
) -> None:
    # GIVEN / WHEN serve is asked for a port another program holds
    code, stderr, loaded = _cli("serve", "--port", str(busy_port), "--out", str(tmp_path / "out"))

    # THEN one line names the port, and nothing was loaded or written
    _assert_user_error(code, stderr, loaded, f"port {busy_port} on 127.0.0.1 is already in use")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("run", "--concurrency", "0"), "argument --concurrency: invalid positive integer value: '0'"),
        (("run", "--timeout", "nan"), "argument --timeout: invalid positive number of seconds value: 'nan'"),
        (("serve", "--port", "70000"), "argument --port: invalid port (0 to 65535) value: '70000'"),
        (("invoke", "OnUploadFunction"), "the following arguments are required: -e/--event"),
        (("launch",), "argument command: invalid choice: 'launch'"),
    ],
)
def test_a_bad_option_fails_in_one_line_without_the_usage(args: tuple[str, ...], expected: str) -> None:
    # GIVEN / WHEN an option out of its range, a missing option or an unknown command
    code, stderr, loaded = _cli(*args)

    # THEN one line names it (no usage block)
    _assert_user_error(code, stderr, loaded, expected)


@pytest.mark.parametrize("command", ["run", "serve", "invoke"])
def test_an_unusable_out_folder_fails_in_one_line_before_loading_the_stack(
    command: str, tmp_path: Path
) -> None:
    # GIVEN an --out below a regular file (so no folder can be created there)
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    extra = {"run": [], "serve": ["--port", "0"], "invoke": ["OnUploadFunction", "-e", "events/s3_put.json"]}

    # WHEN the command runs with it
    code, stderr, loaded = _cli(command, "--out", str(blocker / "out"), *extra[command])

    # THEN one line names the path that is not a folder; nothing was loaded or written
    _assert_user_error(code, stderr, loaded, f"{blocker} is not a folder")
    assert blocker.read_text(encoding="utf-8") == "x"
