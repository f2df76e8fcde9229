"""The stage function: checks the upload and plans the stages, then submits and polls each
preprocessing stage (binarization, deskew, upscale) and stores the image it produced.

Recognition has a function of its own (``recognize.py``).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from ocr_pipeline.domain.job import check_image, job_config
from ocr_pipeline.handlers._ocr import build_ocr_client, build_store, utc_now
from ocr_pipeline.handlers._stage import run_stage
from ocr_pipeline.handlers.events import CheckImageEvent, StageFunctionEvent
from ocr_pipeline.settings import OcrSettings, load_settings

settings = load_settings(OcrSettings, os.environ)
config = job_config(settings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
store = build_store()
ocr = build_ocr_client(settings)


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``Check image`` (``action: check_image``) or a preprocessing stage; returns the job."""
    parsed = parse(event=event, model=StageFunctionEvent).root
    if isinstance(parsed, CheckImageEvent):
        logger.append_keys(key=parsed.object.key, stage="check_image")
        job = check_image(parsed.object, store=store, cfg=config)
        metrics.add_metric(name="ImagesChecked", unit=MetricUnit.Count, value=1)
        logger.info("checked", steps=[s.value for s in job.steps], mode=job.mode.effective)
    else:
        if not parsed.stage.preprocessing:
            raise ValueError(f"stage {parsed.stage.value} runs in the recognition function")
        job = run_stage(
            parsed, store=store, ocr=ocr, cfg=config, clock=utc_now, logger=logger, metrics=metrics
        )
    return job.model_dump(mode="json")
