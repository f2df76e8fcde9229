"""The cost model: dollars per 1,000 images from per-image counts."""

from __future__ import annotations

import math

from bench.cost import Counts, Invocation, designs, measured_counts, per_1000

MEASURED = {
    "transitions_per_image": 11.0,
    "execution_seconds_per_image": 4.0,
    "invocations": {
        "ocr-local-OnUploadFunction": {"per_image": 1.0, "mean_seconds": 0.05, "memory_mb": 256},
        "ocr-local-PreprocessFunction": {"per_image": 2.0, "mean_seconds": 0.1, "memory_mb": 1024},
        "ocr-local-RecognizeFunction": {"per_image": 1.0, "mean_seconds": 0.1, "memory_mb": 512},
    },
}


def test_per_1000_standard_transitions_at_list_price() -> None:
    # GIVEN 8 transitions per image and nothing else
    counts = Counts(transitions=8, invocations=(), s3_gets=0, s3_puts=0)
    # WHEN priced / THEN 8,000 transitions cost $0.20
    assert math.isclose(per_1000(counts)["total"], 0.20)


def test_per_1000_lambda_bills_requests_and_gb_seconds() -> None:
    # GIVEN one 1 s invocation at 1024 MB per image
    counts = Counts(transitions=0, invocations=(Invocation(1, 1.0, 1024),), s3_gets=0, s3_puts=0)
    # WHEN priced / THEN 1,000 requests + 1,000 GB-s
    assert math.isclose(per_1000(counts)["lambda"], 0.0002 + 1000 * 0.0000166667)


def test_designs_in_lambda_wait_uses_nine_transitions_and_wait_loop_fifteen() -> None:
    # GIVEN measured counts / WHEN the alternatives are derived
    table = designs(MEASURED, ocr_seconds=1.0)
    # THEN Acquire, Validate, Choose, 2 x (Submit, done?), Release, Done; the loop adds Wait, Check,
    # Choice per stage; neither Express nor Lambda polling bills any Standard transition
    assert table["standard_in_lambda_wait"].transitions == 9
    assert table["standard_wait_loop"].transitions == 15
    assert table["express_poll_loop"].transitions == 0
    assert table["lambda_polling"].transitions == 0


def test_measured_counts_keep_measured_transitions_and_invocations() -> None:
    # GIVEN a measured burst / WHEN converted to counts / THEN transitions and the three functions are kept
    counts = measured_counts(MEASURED)
    assert counts.transitions == 11.0
    assert len(counts.invocations) == 3


def test_measured_aws_requests_price_s3_dynamodb_and_secrets_manager() -> None:
    # GIVEN a burst that measured its AWS requests per image
    measured = {
        **MEASURED,
        "aws_requests_per_image": {
            "s3 GET": 3.0,
            "s3 PUT": 7.0,
            "s3 DELETE": 1.0,
            "dynamodb TransactWriteItems": 2.0,
            "dynamodb GetItem": 3.0,
            "states StartExecution": 1.0,
            "secretsmanager GetSecretValue": 0.5,
        },
    }

    # WHEN converted to counts and priced
    counts = measured_counts(measured)
    prices = per_1000(counts)

    # THEN S3 bills GETs and PUTs (DELETE is free), DynamoDB its request units, Secrets Manager its calls
    assert (counts.s3_gets, counts.s3_puts) == (3.0, 7.0)
    assert (counts.dynamodb_write_units, counts.dynamodb_read_units) == (12.0, 3.0)
    assert math.isclose(prices["s3"], 3 * 0.0004 + 7 * 0.005)
    assert math.isclose(prices["dynamodb"], 1000 * (12 * 0.625 + 3 * 0.125) / 1_000_000)
    assert math.isclose(prices["secrets_manager"], 1000 * 0.5 * 0.05 / 10_000)
    # and the modelled designs use the same storage counts
    assert designs(measured, ocr_seconds=1.0)["express_poll_loop"].dynamodb_write_units == 12.0
