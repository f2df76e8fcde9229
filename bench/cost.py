"""AWS cost per 1,000 images from measured counts, at the us-east-1 list prices, for several designs.

Inputs are what the local stack measured per image: state transitions, Lambda invocations with their
duration and configured memory, S3 requests, and the OCR time an image spends in flight. The OCR
vendor's own fee is excluded. Designs:

* `standard_measured`: the deployed state machine with the template's defaults (including its in-Lambda
  poll) and the counts measured locally (local runs use 1-2 s waits); a second measured row may follow
  with overrides (e.g. `InLambdaPollSeconds=0`, the plain Wait loop);
* `standard_wait_loop`: every stage through its Wait loop, one check per stage (15 transitions);
* `standard_in_lambda_wait`: each stage's task seen finished by the submitting function's own GET at
  the expected time (9 transitions with the two admission states; the submitting functions run as long
  as the tasks);
* `express_poll_loop`: the same states in an Express workflow (started by the upload function; no
  Standard transitions; billed per request and per GB-second at the 64 MB minimum; safe now that
  each stage's submission is exactly-once by its own record);
* `lambda_polling`: one Lambda invocation per image submits, polls and writes outputs (no Step Functions);
  its duration is the whole OCR time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import polling

GOAL_PER_1000 = 0.10
S3_REQUESTS_PER_IMAGE = {"GET": 3, "PUT": 7}
"""Endpoint mode, from the code, for a run that measured no requests: GETs of the upload (validation,
then the binarization stage) and of the binarized PNG; PUTs of a claim + accepted record per stage, the
PNG, the text, the result. A submission record is read only by a retried invocation."""
DYNAMODB_UNITS = {
    "PutItem": (1, 0),
    "DeleteItem": (1, 0),
    "UpdateItem": (2, 0),
    "TransactWriteItems": (6, 0),
    "GetItem": (0, 1),
    "Query": (0, 1),
}
"""(write, read) request units of one admission-table request: a waiter item is under 1 KB, the slots
item under 2 KB (5 holders of ~0.3 KB), a grant is a transaction (2 units per KB) that updates the slots
item and deletes a waiter, reads are strongly consistent and under 4 KB. A refused condition or a
cancelled transaction is billed as the write it attempted."""
S3_CLASSES = {"GET": "get", "HEAD": "get", "PUT": "put", "POST": "put"}
"""S3 request kinds by price tier (DELETE is free)."""
TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


@dataclass(frozen=True)
class Prices:
    """List prices (us-east-1) in dollars, from the project's reference on limits and prices."""

    standard_transition: float = 0.025 / 1000
    express_request: float = 1.00 / 1_000_000
    express_gb_second: float = 0.00001667
    express_min_memory_gb: float = 64 / 1024
    lambda_request: float = 0.20 / 1_000_000
    lambda_gb_second: float = 0.0000166667
    lambda_gb_second_arm64: float = 0.0000133334
    s3_put: float = 0.005 / 1000
    s3_get: float = 0.0004 / 1000
    dynamodb_write_unit: float = 0.625 / 1_000_000
    dynamodb_read_unit: float = 0.125 / 1_000_000
    secrets_manager_call: float = 0.05 / 10_000


PRICES = Prices()


@dataclass(frozen=True)
class Invocation:
    """Lambda calls per image of one function: count, mean billed seconds, configured memory (MB)."""

    per_image: float
    seconds: float
    memory_mb: int


@dataclass(frozen=True)
class Counts:
    """Everything one image costs on AWS (vendor fee excluded)."""

    transitions: float
    invocations: tuple[Invocation, ...]
    s3_gets: float
    s3_puts: float
    express_requests: float = 0.0
    express_seconds: float = 0.0
    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0
    secrets_manager_calls: float = 0.0


def per_image(counts: Counts, prices: Prices = PRICES, *, arm64: bool = False) -> dict[str, float]:
    """Dollars per image by service and in total (Lambda at the arm64 or x86 GB-second price)."""
    gb_second = prices.lambda_gb_second_arm64 if arm64 else prices.lambda_gb_second
    lam = sum(
        inv.per_image * (prices.lambda_request + inv.seconds * inv.memory_mb / 1024 * gb_second)
        for inv in counts.invocations
    )
    parts = {
        "step_functions_standard": counts.transitions * prices.standard_transition,
        "step_functions_express": counts.express_requests * prices.express_request
        + counts.express_seconds * prices.express_min_memory_gb * prices.express_gb_second,
        "lambda": lam,
        "s3": counts.s3_gets * prices.s3_get + counts.s3_puts * prices.s3_put,
        "dynamodb": counts.dynamodb_write_units * prices.dynamodb_write_unit
        + counts.dynamodb_read_units * prices.dynamodb_read_unit,
        "secrets_manager": counts.secrets_manager_calls * prices.secrets_manager_call,
    }
    parts["total"] = sum(parts.values())
    return parts


def per_1000(counts: Counts, prices: Prices = PRICES, *, arm64: bool = False) -> dict[str, float]:
    """Dollars per 1,000 images by service and in total."""
    return {name: 1000 * value for name, value in per_image(counts, prices, arm64=arm64).items()}


def template_arm64(template: Path = TEMPLATE) -> bool:
    """Whether the template's functions run on arm64 (Globals.Function.Architectures)."""
    from local_stack.cfn import load_yaml

    data = load_yaml(template.read_text(encoding="utf-8"))
    architectures = data.get("Globals", {}).get("Function", {}).get("Architectures") or ["x86_64"]
    return "arm64" in architectures


def designs(
    measured: dict[str, Any],
    *,
    ocr_seconds: float,
    checks_per_task_template: float = 1.0,
) -> dict[str, Counts]:
    """Counts of each design from the stack's burst measurement (`throughput.stack_burst` output).

    An image is two stages (binarization, recognition). `ocr_seconds` is the time one image spends in
    OCR tasks, used where a design bills wall time (Express, the in-Lambda wait, Lambda polling).
    Invocation seconds are the measured means per function.
    """
    invocations = measured["invocations"]
    upload = _named(invocations, "OnUpload")
    pre = _named(invocations, "Preprocess")
    rec = _named(invocations, "Recognize")
    store = storage(measured)
    stages = 2
    checks = stages * checks_per_task_template
    base = polling.FIXED_TRANSITIONS + stages * polling.STAGE_TRANSITIONS
    loop = Counts(
        transitions=base + polling.LOOP_TRANSITIONS * checks,
        invocations=(
            upload,
            Invocation(2 + checks_per_task_template, pre.seconds, pre.memory_mb),
            Invocation(1 + checks_per_task_template, rec.seconds, rec.memory_mb),
        ),
        **store,
    )
    in_lambda = Counts(
        transitions=base,
        invocations=(
            upload,
            Invocation(1, pre.seconds, pre.memory_mb),
            Invocation(1, pre.seconds + ocr_seconds / stages, pre.memory_mb),
            Invocation(1, rec.seconds + ocr_seconds / stages, rec.memory_mb),
        ),
        **store,
    )
    express = Counts(
        transitions=0,
        invocations=loop.invocations,
        **store,
        express_requests=1,
        express_seconds=float(measured.get("execution_seconds_per_image", ocr_seconds)),
    )
    lambda_polling = Counts(
        transitions=0,
        invocations=(
            Invocation(1, upload.seconds + pre.seconds * 2 + rec.seconds + ocr_seconds, pre.memory_mb),
        ),
        **store,
    )
    return {
        "standard_wait_loop": loop,
        "standard_in_lambda_wait": in_lambda,
        "express_poll_loop": express,
        "lambda_polling": lambda_polling,
    }


def _named(invocations: dict[str, dict[str, Any]], part: str) -> Invocation:
    for name, row in invocations.items():
        if part in name:
            return Invocation(float(row["per_image"]), float(row["mean_seconds"]), int(row["memory_mb"]))
    return Invocation(0.0, 0.0, 0)


def storage(measured: dict[str, Any]) -> dict[str, float]:
    """S3, DynamoDB and Secrets Manager use per image: from the AWS requests the burst measured
    (`aws_requests_per_image`, by `service operation`), else S3 from the code and the rest unknown (0)."""
    requests: dict[str, float] = measured.get("aws_requests_per_image") or {}
    if not requests:
        return {
            "s3_gets": float(S3_REQUESTS_PER_IMAGE["GET"]),
            "s3_puts": float(S3_REQUESTS_PER_IMAGE["PUT"]),
        }
    use = {"s3_get": 0.0, "s3_put": 0.0, "write": 0.0, "read": 0.0, "secrets": 0.0}
    for kind, per_image in requests.items():
        service, _, operation = kind.partition(" ")
        if service == "s3" and operation in S3_CLASSES:
            use[f"s3_{S3_CLASSES[operation]}"] += per_image
        elif service == "dynamodb" and operation in DYNAMODB_UNITS:
            write, read = DYNAMODB_UNITS[operation]
            use["write"] += write * per_image
            use["read"] += read * per_image
        elif service == "secretsmanager":
            use["secrets"] += per_image
    return {
        "s3_gets": use["s3_get"],
        "s3_puts": use["s3_put"],
        "dynamodb_write_units": use["write"],
        "dynamodb_read_units": use["read"],
        "secrets_manager_calls": use["secrets"],
    }


def measured_counts(measured: dict[str, Any]) -> Counts:
    """Counts of a burst measured in the local stack (`throughput.stack_burst` output)."""
    invocations = tuple(
        Invocation(float(row["per_image"]), float(row["mean_seconds"]), int(row["memory_mb"]))
        for row in measured["invocations"].values()
    )
    return Counts(
        transitions=float(measured["transitions_per_image"]), invocations=invocations, **storage(measured)
    )


def run(
    measured: dict[str, Any],
    *,
    ocr_seconds: float,
    arm64: bool | None = None,
    measured_variant: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Dollars per 1,000 images of every design, and which meet the goal (architecture from the template).

    `measured_variant` (a burst with template overrides, e.g. the in-Lambda poll off) adds a row as measured.
    """
    arm = template_arm64() if arm64 is None else arm64
    off = (
        measured_variant is not None and measured_variant.get("params", {}).get("InLambdaPollSeconds") == "0"
    )
    # Modelled designs start from the plain Wait loop's measured invocations (no in-Lambda wait).
    loop_base = measured_variant if off and measured_variant is not None else measured
    table_counts = {"standard_measured (template defaults)": measured_counts(measured)}
    table_counts.update(designs(loop_base, ocr_seconds=ocr_seconds))
    if measured_variant is not None:
        label = ", ".join(f"{k}={v}" for k, v in measured_variant.get("params", {}).items())
        table_counts[f"standard_measured ({label})"] = measured_counts(measured_variant)
    table = {name: per_1000(counts, arm64=arm) for name, counts in table_counts.items()}
    return {
        "prices": asdict(PRICES),
        "lambda_architecture": "arm64" if arm else "x86_64",
        "ocr_seconds_per_image": ocr_seconds,
        "per_1000_images": table,
        "counts": {name: asdict(c) for name, c in table_counts.items()},
        "goal_per_1000": GOAL_PER_1000,
        "meets_goal": {name: row["total"] <= GOAL_PER_1000 for name, row in table.items()},
        "min_standard_transitions_for_goal": GOAL_PER_1000 / (PRICES.standard_transition * 1000),
    }
