"""The pipeline's exception types.

Step Functions matches ``Retry``/``Catch`` on the Lambda ``errorType``, which is the exception's class
name, so these names are part of the workflow contract (``infra/ocr_pipeline.asl.json``): rename one
only together with the ASL.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""


class ConfigurationError(PipelineError):
    """The function's environment is missing or invalid (raised at cold start)."""


class BadInputError(PipelineError):
    """The input object can never be processed; retrying cannot help."""


class InvalidImage(BadInputError):
    """The object is empty, truncated, or not decodable as an image."""


class ImageTooLarge(BadInputError):
    """The object exceeds the configured byte or pixel limit."""


class UnsupportedImage(BadInputError):
    """The object is an image in a format or layout the OCR API does not accept."""


class OcrApiError(PipelineError):
    """The OCR API could not serve a request."""


class OcrApiThrottled(OcrApiError):
    """The OCR API answered 429 after the client's bounded retries; safe to retry later."""


class OcrApiUnavailable(OcrApiError):
    """The OCR API answered 5xx or could not be reached after the client's bounded retries."""


class OcrApiTimeout(OcrApiError):
    """The OCR API did not answer within the client's (connect, read) timeout."""


class OcrApiAuthError(OcrApiError):
    """The OCR API rejected the credentials (token request or a request after one token refresh)."""


class OcrApiRejected(OcrApiError):
    """The OCR API refused a request with a 4xx other than 401/403/429; resending it cannot help."""


class OcrApiProtocolError(OcrApiError):
    """The OCR API answered with something that does not follow its documented wire format."""


class OcrTaskFailed(OcrApiError):
    """The OCR task ended with status ``Error``."""


class OcrTaskNotFound(OcrApiError):
    """The OCR API does not know the task (status ``NotExist``: unknown id or expired result)."""


class PollLimitExceeded(PipelineError):
    """The OCR task was still not finished after the configured number of polls."""


class OcrApiReplyLost(OcrApiTimeout):
    """A POST was sent but its answer never arrived: the API may have accepted the task.

    Raised by the client only for submissions; the submission record turns it into
    :class:`SubmissionInDoubt`, so it is never retried blindly.
    """


class SubmissionInProgress(PipelineError):
    """Another invocation holds this stage's submission record and has not finished its POST; retry later."""


class SubmissionInDoubt(PipelineError):
    """A POST of this stage may have been accepted but its task id is unknown; re-posting could bill twice."""


class StorageUnavailable(PipelineError):
    """S3 failed a request (throttling, 5xx, connection trouble); safe to retry the state."""


class AdmissionUnavailable(PipelineError):
    """The admission slot table or the workflow engine could not be reached; safe to retry."""
