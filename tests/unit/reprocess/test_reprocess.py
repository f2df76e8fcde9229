"""`ocr-reprocess` against moto: what each mode starts, idempotence, limits and user errors."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from ocr_pipeline.settings import LayoutSettings, load_settings
from reprocess.__main__ import main
from reprocess.plan import record_prefix
from reprocess.target import DEFAULT_PREFIXES, LAYOUT_FIELDS, parameter_name

BUCKET = "ocr-drop-123456789012-us-east-1"
LAYOUT = dict(DEFAULT_PREFIXES)
ROLE = "arn:aws:iam::123456789012:role/ocr-test"


class Aws:
    def __init__(self) -> None:
        self.s3 = boto3.client("s3")
        self.sfn = boto3.client("stepfunctions")
        self.s3.create_bucket(Bucket=BUCKET)
        self.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
        self.arn = self.sfn.create_state_machine(name="ocr", definition=definition, roleArn=ROLE)[
            "stateMachineArn"
        ]

    def put(self, key: str, body: bytes = b"image") -> None:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)

    def fail(self, stem: str, key: str, execution: str) -> None:
        record = {"status": "FAILED", "input": {"key": key}, "execution": execution}
        self.put(f"failed/{stem}.json", json.dumps(record).encode())

    def executions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.sfn.list_executions(stateMachineArn=self.arn)["executions"]
        return found

    def started_keys(self) -> list[str]:
        keys = []
        for execution in self.executions():
            described = self.sfn.describe_execution(executionArn=execution["executionArn"])
            keys.append(json.loads(described["input"])["object"]["key"])
        return sorted(keys)

    def args(self, *extra: str) -> list[str]:
        return ["--bucket", BUCKET, "--state-machine-arn", self.arn, *extra]


@pytest.fixture
def aws(moto_aws: None) -> Aws:
    return Aws()


def test_backfill_starts_only_objects_without_a_result(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN three images under a prefix, one of them with a result, plus a non-image and another prefix
    for name in ("a.png", "b.jpg", "c.tif"):
        aws.put(f"incoming/2026/{name}")
    aws.put("results/2026/b.jpg.json", b"{}")
    aws.put("incoming/2026/notes.txt")
    aws.put("incoming/2025/old.png")

    # WHEN the prefix is backfilled
    status = main(aws.args("--prefix", "incoming/2026/"))

    # THEN only the images under it without a result are started
    assert status == 0
    assert aws.started_keys() == ["incoming/2026/a.png", "incoming/2026/c.tif"]
    assert (
        "backfill: started 2 · already started 0 · with result 1 · not accepted 1" in capsys.readouterr().out
    )


def test_backfill_run_twice_starts_nothing_new(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a backfilled prefix whose executions are still running (no result yet)
    aws.put("incoming/x/a.png")
    aws.put("incoming/x/b.png")
    assert main(aws.args("--prefix", "incoming/x/")) == 0

    # WHEN it is backfilled again
    status = main(aws.args("--prefix", "incoming/x/"))

    # THEN the same execution names exist already: no new execution
    assert status == 0
    assert len(aws.executions()) == 2
    assert "backfill: started 0 · already started 2" in capsys.readouterr().out


def test_backfill_of_a_new_version_starts_it(aws: Aws) -> None:
    # GIVEN a backfilled object that is then uploaded again with the same bytes (a new version)
    aws.put("incoming/v/a.png")
    main(aws.args("--prefix", "incoming/v/"))
    aws.put("incoming/v/a.png")

    # WHEN backfilled again / THEN the new version gets an execution of its own
    main(aws.args("--prefix", "incoming/v/"))
    assert len(aws.executions()) == 2


def test_failed_retries_each_failure_once_and_a_new_failure_again(aws: Aws) -> None:
    # GIVEN two images, one with a failure record
    aws.put("incoming/f/bad.png")
    aws.put("incoming/f/good.png")
    aws.fail("f/bad.png", "incoming/f/bad.png", "bad-exec-1")

    # WHEN failed images are retried twice
    assert main(aws.args("--failed")) == 0
    assert main(aws.args("--failed")) == 0

    # THEN only the failed image was started, once
    assert aws.started_keys() == ["incoming/f/bad.png"]

    # WHEN the retry fails too (a new failure record) and failed images are retried again
    aws.fail("f/bad.png", "incoming/f/bad.png", "bad-exec-2")
    assert main(aws.args("--failed")) == 0

    # THEN the new failure gets a new execution (the 90-day name reservation is no trap)
    assert aws.started_keys() == ["incoming/f/bad.png", "incoming/f/bad.png"]


def test_failed_with_prefix_retries_only_records_under_it(aws: Aws) -> None:
    # GIVEN failures under two prefixes
    for folder in ("p", "q"):
        aws.put(f"incoming/{folder}/x.png")
        aws.fail(f"{folder}/x.png", f"incoming/{folder}/x.png", f"{folder}-1")

    # WHEN / THEN only the prefix's failure is retried
    assert main(aws.args("--failed", "--prefix", "incoming/q/")) == 0
    assert aws.started_keys() == ["incoming/q/x.png"]


def test_failed_record_of_a_deleted_object_is_noted_not_started(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a failure record whose image was deleted, and an unreadable record
    aws.fail("gone.png", "incoming/gone.png", "gone-1")
    aws.put("failed/broken.json", b"not json")

    # WHEN failed images are retried
    status = main(aws.args("--failed"))

    # THEN nothing starts and both records are named
    out = capsys.readouterr().out
    assert status == 0
    assert aws.executions() == []
    assert "missing\tincoming/gone.png" in out
    assert "unreadable\tfailed/broken.json" in out


def test_force_starts_everything_once_per_run_id(aws: Aws) -> None:
    # GIVEN two images, one with a result
    aws.put("incoming/r/a.png")
    aws.put("incoming/r/b.png")
    aws.put("results/r/a.png.json", b"{}")

    # WHEN forced twice with one run id, then once with another
    assert main(aws.args("--force", "--prefix", "incoming/r/", "--run-id", "settings-2")) == 0
    assert main(aws.args("--force", "--prefix", "incoming/r/", "--run-id", "settings-2")) == 0
    first_run = len(aws.executions())
    assert main(aws.args("--force", "--prefix", "incoming/r/", "--run-id", "settings-3")) == 0

    # THEN each run starts every image once
    assert first_run == 2
    assert len(aws.executions()) == 4


def test_dry_run_lists_and_starts_nothing(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN one started and one new image
    aws.put("incoming/d/a.png")
    main(aws.args("--prefix", "incoming/d/"))
    aws.put("incoming/d/b.png")
    capsys.readouterr()

    # WHEN dry-run
    status = main(aws.args("--prefix", "incoming/d/", "--dry-run"))

    # THEN it tells which exists and which would start, and starts nothing
    out = capsys.readouterr().out
    assert status == 0
    assert len(aws.executions()) == 1
    assert "exists\tincoming/d/a.png" in out
    assert "would start\tincoming/d/b.png" in out
    assert "would start 1 · already started 1" in out


def test_listing_stops_at_the_limit_and_exits_1(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN three images and a limit of two
    for name in ("a", "b", "c"):
        aws.put(f"incoming/l/{name}.png")

    # WHEN backfilled
    status = main(aws.args("--prefix", "incoming/l/", "--limit", "2"))

    # THEN two are started, and the user is told in one line to run again
    err = capsys.readouterr().err
    assert status == 1
    assert len(aws.executions()) == 2
    assert err.count("\n") == 1
    assert "stopped at --limit 2" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--prefix", "text/"], "is not under the input prefix"),
        ([], "--prefix is required"),
        (["--prefix", "incoming/", "--run-id", "x"], "--run-id applies to --force only"),
        (["--failed", "--force", "--prefix", "incoming/"], "not allowed with argument"),
        (["--prefix", "incoming/", "--limit", "0"], "--limit"),
        (["--prefix", "incoming/", "--result-prefix", "incoming/r/"], "overlaps INPUT_PREFIX"),
    ],
)
def test_user_error_is_one_line_and_exit_2(
    aws: Aws, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    # GIVEN / WHEN a command the user got wrong
    status = main(aws.args(*extra))

    # THEN one line on stderr, exit 2, nothing started
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and message in err
    assert aws.executions() == []


def test_missing_bucket_or_state_machine_is_a_user_error(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN / WHEN the bucket, then the state machine, does not exist
    no_bucket = main(["--bucket", "nope", "--state-machine-arn", aws.arn, "--prefix", "incoming/"])
    bad_arn = aws.arn.replace(":ocr", ":missing")
    no_machine = main(["--bucket", BUCKET, "--state-machine-arn", bad_arn, "--prefix", "incoming/"])

    # THEN each is one line and exit 2
    err = capsys.readouterr().err.splitlines()
    assert (no_bucket, no_machine) == (2, 2)
    assert len(err) == 2
    assert "bucket 'nope'" in err[0] and "state machine" in err[1]


def test_stack_option_reads_bucket_state_machine_and_layout_from_the_stack(aws: Aws) -> None:
    # GIVEN a stack whose outputs name the bucket and state machine, with a non-default input prefix
    layout_parameters = {parameter_name(name): DEFAULT_PREFIXES[name] for name in LAYOUT_FIELDS}
    values = {**layout_parameters, "InputPrefix": "drop/", "AllowedSuffixes": "png", "Machine": aws.arn}
    template = {
        "Parameters": {name: {"Type": "String"} for name in values},
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "InputBucketName": {"Value": BUCKET},
            "StateMachineArn": {"Value": {"Ref": "Machine"}},
        },
    }
    boto3.client("cloudformation").create_stack(
        StackName="ocr-pipeline",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
    )
    aws.put("drop/a.png")
    aws.put("drop/b.jpg")

    # WHEN backfilled through the stack
    status = main(["--stack", "ocr-pipeline", "--prefix", "drop/"])

    # THEN the stack's prefix and suffixes apply
    assert status == 0
    assert aws.started_keys() == ["drop/a.png"]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("incoming/", "results/"),
        ("incoming/2026/", "results/2026/"),
        ("incoming/2026/scan.png", "results/2026/"),
    ],
)
def test_record_prefix_maps_the_folder_part_of_an_input_prefix(prefix: str, expected: str) -> None:
    # GIVEN / WHEN / THEN
    layout = load_settings(LayoutSettings, LAYOUT)
    assert record_prefix(prefix, layout.RESULT_PREFIX, layout) == expected


def test_layout_options_cover_every_prefix_with_the_template_defaults() -> None:
    # GIVEN the template's parameters / WHEN / THEN each layout field has a parameter whose default is ours
    from tests.unit.template.template_support import template

    parameters = template()["Parameters"]
    for name in LAYOUT_FIELDS:
        assert parameters[parameter_name(name)]["Default"] == DEFAULT_PREFIXES[name], name
