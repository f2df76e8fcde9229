"""moto's interpreter logs each failed state with the repr of its parse tree: the local stack keeps the
error and drops the tree, so a failing image costs one short log line, not kilobytes."""

from __future__ import annotations

import logging

import pytest
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

from local_stack.server import STATE_ERROR_CHARS, STATE_ERROR_LOGGER, StateErrorSummary


class _HugeState(EvalComponent):
    """A state whose repr is as long as a real parse tree's."""

    def _eval_body(self, env: object) -> None:  # pragma: no cover - never evaluated
        raise NotImplementedError

    def __repr__(self) -> str:
        return "(StateFail| " + "x" * 20_000 + ")"


def test_a_failed_state_is_logged_as_its_error_without_the_parse_tree(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN moto's state-error logger with the stack's filter
    logger = logging.getLogger(STATE_ERROR_LOGGER)
    summary = StateErrorSummary()
    logger.addFilter(summary)
    try:
        # WHEN moto logs a failed state, as its interpreter does
        with caplog.at_level(logging.ERROR, logger=STATE_ERROR_LOGGER):
            _HugeState()._log_exception(RuntimeError("OcrTaskFailed: binarize task t-1 failed"))
    finally:
        logger.removeFilter(summary)

    # THEN one short line names the error, and none of the tree is in it
    (record,) = caplog.records
    message = record.getMessage()
    expected = "state failed: Exception=RuntimeError, Details=['OcrTaskFailed: binarize task t-1"
    assert message.startswith(expected)
    assert "x" * 100 not in message and len(message) <= len("state failed: ") + STATE_ERROR_CHARS
