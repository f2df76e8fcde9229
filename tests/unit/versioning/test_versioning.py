"""Versioned inputs: executions named after a version, reads pinned to it, stale failure records cleared."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from ocr_pipeline.adapters.s3_store import S3ObjectStore
from ocr_pipeline.domain.job import check_image, job_config, poll_stage, submit_stage
from ocr_pipeline.domain.keys import execution_name
from ocr_pipeline.domain.models import DONE
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.errors import InvalidImage
from ocr_pipeline.settings import OcrSettings, load_settings
from tests.unit.pipeline.pipeline_support import BUCKET, OCR_ENV, FakeOcr, FakeStore, image_bytes
from tests.unit.template.template_support import properties, template

KEY = "incoming/2026/scan.png"


@pytest.fixture
def s3(moto_aws: None) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


def _put(s3: Any, body: bytes) -> tuple[str, str]:
    response = s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    return str(response["VersionId"]), str(response["ETag"]).strip('"')


def test_input_bucket_is_versioned_with_noncurrent_versions_expiring() -> None:
    # GIVEN the input bucket / WHEN / THEN versioning is on and old versions expire after the parameter's days
    bucket = properties("InputBucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rule, _ = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and "Prefix" not in rule
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": {"Ref": "NoncurrentVersionDays"}}
    assert rule["ExpiredObjectDeleteMarker"] is True
    assert int(template()["Parameters"]["NoncurrentVersionDays"]["Default"]) >= 1


def test_submission_records_expire_after_the_parameters_days_and_outlive_a_redrive() -> None:
    # GIVEN the input bucket's lifecycle / WHEN / THEN the records under SubmissionPrefix expire after
    # SubmissionRecordDays, which cannot be set below Step Functions' 14 days of redrive
    _, rule = properties("InputBucket")["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Prefix"] == {"Ref": "SubmissionPrefix"}
    assert rule["ExpirationInDays"] == {"Ref": "SubmissionRecordDays"}
    parameter = template()["Parameters"]["SubmissionRecordDays"]
    assert int(parameter["MinValue"]) > 14 and int(parameter["Default"]) >= int(parameter["MinValue"])


def test_read_of_a_version_returns_it_after_the_key_was_overwritten(s3: Any) -> None:
    # GIVEN two versions of one key
    first_version, first_etag = _put(s3, b"first")
    _put(s3, b"second")

    # WHEN the first version is read with its version id and eTag
    data = S3ObjectStore(s3).read(BUCKET, KEY, max_bytes=100, version_id=first_version, etag=first_etag)

    # THEN it is the first version's bytes, not the current object's
    assert data == b"first"


def test_read_pinned_by_etag_of_a_replaced_object_is_invalid_image(s3: Any) -> None:
    # GIVEN an object replaced after its upload event (no version id known, only the eTag)
    _, first_etag = _put(s3, b"first")
    _put(s3, b"second")

    # WHEN / THEN reading it by that eTag refuses to return the other object's bytes
    with pytest.raises(InvalidImage, match="replaced"):
        S3ObjectStore(s3).read(BUCKET, KEY, max_bytes=100, etag=first_etag)


def test_read_pinned_by_current_etag_returns_the_object(s3: Any) -> None:
    # GIVEN / WHEN the current object is read by its eTag / THEN its bytes come back
    _, etag = _put(s3, b"only")
    assert S3ObjectStore(s3).read(BUCKET, KEY, max_bytes=100, etag=etag) == b"only"


def test_delete_of_a_missing_failure_record_is_no_error(s3: Any) -> None:
    # GIVEN / WHEN a key that never existed is deleted / THEN nothing is raised and nothing is listed
    S3ObjectStore(s3).delete(BUCKET, "failed/2026/scan.json")
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="failed/").get("KeyCount", 0) == 0


def test_execution_name_depends_on_the_version_and_on_the_run() -> None:
    # GIVEN one key in two versions, and one version in two runs
    v1 = execution_name(BUCKET, KEY, "v1")
    v2 = execution_name(BUCKET, KEY, "v2")
    run_a = execution_name(BUCKET, KEY, "v1", run="a")

    # WHEN / THEN each differs, the same inputs repeat the same name, and every name is valid
    assert len({v1, v2, run_a, execution_name(BUCKET, KEY, "v1", run="b")}) == 4
    assert execution_name(BUCKET, KEY, "v1", run="a") == run_a
    assert execution_name(BUCKET, KEY, "v1") == v1
    assert all(len(name) <= 80 for name in (v1, v2, run_a))


class _Clock:
    def __call__(self) -> datetime:
        return datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def test_finishing_a_job_removes_the_stale_failure_record() -> None:
    # GIVEN an image whose earlier attempt left a failure record
    obj = ObjectRef(bucket=BUCKET, key=KEY, version_id="v2", etag="e2", size=None)
    store = FakeStore()
    store.objects[(BUCKET, KEY)] = image_bytes(200, 200, "PNG", color=200)
    store.objects[(BUCKET, "failed/2026/scan.png.json")] = b"{}"
    ocr = FakeOcr(png=image_bytes(200, 200, "PNG", color=255), text="hello\n")
    cfg = job_config(load_settings(OcrSettings, {**OCR_ENV, "IN_LAMBDA_POLL_SECONDS": "0"}))

    # WHEN each stage is submitted and polled to the end
    job = check_image(obj, store=store, cfg=cfg)
    for stage in job.steps:
        job = submit_stage(obj, job, stage, execution="x", store=store, ocr=ocr, cfg=cfg, clock=_Clock())
        job = poll_stage(obj, job, stage, execution="x", store=store, ocr=ocr, cfg=cfg, clock=_Clock())

    # THEN text and result are written and the failure record is gone
    assert job.next == DONE
    assert (BUCKET, "text/2026/scan.png.txt") in store.objects
    assert (BUCKET, "results/2026/scan.png.json") in store.objects
    assert (BUCKET, "failed/2026/scan.png.json") not in store.objects
