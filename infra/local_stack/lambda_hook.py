"""Route moto's Lambda invocations to the local `Runner` (worker processes), as Lambda would run them.

Thirteen private moto functions are replaced while a stack runs (`install`; `uninstall` restores them):

- `moto.awslambda.models.LambdaFunction.invoke(self, body, request_headers, response_headers)`: every
  Invoke API call of a client. `InvocationType=Event` is queued (202, returns at once);
  `RequestResponse` runs in a worker, and a throttled one answers 429 TooManyRequestsException;
- `lambda_eval_utils.boto_client_for(region, service, state_credentials)`: moto's Step Functions
  interpreter builds a new boto3 client (~30 ms of CPU) and goes through HTTP and moto's Lambda API for
  every Lambda task; it gets a client whose `invoke` calls the runner in process instead, answering as
  the Invoke API does (`Payload`, `FunctionError`; a throttle or unknown function as the same
  `ClientError`);
- `moto.s3.notifications._invoke_awslambda(account_id, event, fn_arn, region)`: an S3 notification is an
  asynchronous invocation, so the upload returns before the function runs (moto runs it inside the PUT);
- `moto.s3.notifications.send_event(account_id, event_name, bucket, key)`: moto completes a multipart
  upload through `put_object`, which notifies `ObjectCreated:Put`, and then notifies
  `ObjectCreated:CompleteMultipartUpload`; S3 sends only the second, so the first is dropped (every
  large `aws s3 cp` would otherwise be delivered twice);
- `moto.s3.notifications._get_s3_event(event_name, bucket, key, notification_id)`: moto's event lacks
  the object's `versionId` (sent by S3 for a versioned bucket, which names an execution after the
  version: a re-put of the same bytes is a new version) and its `sequencer`; both are added;
- `StateTaskLambda._from_error`: moto names every Invoke API error of a task whose `Resource` is a
  function ARN `Exception`; Step Functions names it `Lambda.<code>` (`Lambda.TooManyRequestsException`),
  which is what the ASL's Retry matches;
- `AmazonStateLanguageParser.parse(definition)`: moto parses the definition again (ANTLR, ~0.1 s of CPU)
  for every execution; the parsed program holds no execution state, so one parse per definition is kept
  (executions starting together wait for it);
- `BaseExecutionWorkerCommunication.terminated(self)`: an execution ended; `on_ended(execution)` gets
  it (`retention.execution_ended`: its history to disk), then `on_terminated(execution ARN, state
  machine ARN)` is told (the EventBridge stand-in), so nobody has to poll ListExecutions;
- `DynamoHandler.call_action`: moto evaluates a condition and applies the write without a lock, so two
  concurrent conditional writes (the admission slots) could both pass; DynamoDB applies each atomically,
  so the local stack serialises DynamoDB requests;
- `jsonpath_ng.ext.parse(path)` in moto's `json_path` and `jsonpath_ng.parse(string)` in its
  `result_path`: the interpreter builds a new JSONPath parser (ply tables) for every path it evaluates;
  a parsed path is immutable, so each is parsed once;
- `ErrorLookupFactory.for_service(self, service_model)`: moto rebuilds a service's error table (every
  error shape of S3's model) for every error response it renders (each `NoSuchKey`); one per service;
- `DynamoDBBackend.transact_write_items(self, transact_items)`: moto deep-copies every table a
  transaction touches, for a rollback; only the items it names are copied (`transact_write_items`).

The hook points are private, so `check_hook_points` verifies their signatures and `install` fails
loudly when a moto upgrade moves them.
"""

from __future__ import annotations

import base64
import copy
import inspect
import io
import itertools
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from local_stack.runner import Runner, Throttled, UnknownFunction

log = logging.getLogger(__name__)

PINNED_MOTO_VERSION = "5.2.5"
_PARSED_DEFINITIONS = 16
_PARSED_PATHS = 4096


class HookError(RuntimeError):
    """A moto hook point is missing or has changed shape; the local stack cannot run handlers."""


def as_aws_s3_event(event: Any) -> Any:
    """Re-encode S3 notification keys the way S3 does (`quote_plus` keeping `/`).

    moto encodes `/` as `%2F`; S3 leaves it as is (`incoming/red flower.jpg` → `incoming/red+flower.jpg`).
    Other events are returned unchanged.
    """
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        return event
    for record in event["Records"]:
        if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
            continue
        obj = record.get("s3", {}).get("object", {})
        if isinstance(obj.get("key"), str):
            obj["key"] = quote_plus(unquote_plus(obj["key"]), safe="/")
    return event


_SEQUENCER = itertools.count(1)


def with_version_and_sequencer(event: Any, bucket: Any, key: Any) -> Any:
    """`event` (moto's S3 notification for `key`) with what S3 adds to its `s3.object`: the
    `versionId` when the bucket is versioned, and a `sequencer` (hex, rising with every event here;
    S3's rises per key), as in https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
    """
    version = getattr(key, "version_id", None)
    for record in event.get("Records", []) if isinstance(event, dict) else []:
        obj = record.get("s3", {}).get("object")
        if not isinstance(obj, dict):
            continue
        if getattr(bucket, "is_versioned", False) and version and version != "null":
            obj["versionId"] = str(version)
        obj["sequencer"] = f"{next(_SEQUENCER):016X}"
    return event


def _targets() -> list[tuple[Any, str, list[str]]]:
    """(owner, attribute, leading parameter names) of each hook point."""
    from moto.awslambda.models import LambdaFunction
    from moto.core.errors import ErrorLookupFactory
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3 import notifications
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    return [
        (LambdaFunction, "invoke", ["self", "body", "request_headers", "response_headers"]),
        (lambda_eval_utils, "boto_client_for", ["region", "service", "state_credentials"]),
        (notifications, "_invoke_awslambda", ["account_id", "event_body", "fn_arn", "region_name"]),
        (notifications, "send_event", ["account_id", "event_name", "bucket", "key"]),
        (notifications, "_get_s3_event", ["event_name", "bucket", "key", "notification_id"]),
        (StateTaskLambda, "_from_error", ["self", "env", "ex"]),
        (AmazonStateLanguageParser, "parse", ["definition"]),
        (BaseExecutionWorkerCommunication, "terminated", ["self"]),
        (DynamoHandler, "call_action", ["self"]),
        (json_path, "parse", ["path"]),
        (result_path, "parse", ["string"]),
        (ErrorLookupFactory, "for_service", ["self", "service_model"]),
        (DynamoDBBackend, "transact_write_items", ["self", "transact_items"]),
    ]


def check_hook_points(targets: list[tuple[Any, str, list[str]]] | None = None) -> None:
    """Raise `HookError` unless every hook point exists with the expected leading parameters."""
    import moto

    hint = f"the local stack is pinned to moto=={PINNED_MOTO_VERSION} (installed: {moto.__version__})"
    for owner, attribute, expected in targets if targets is not None else _targets():
        target = getattr(owner, attribute, None)
        where = f"{getattr(owner, '__name__', owner)}.{attribute}"
        if target is None or not callable(target):
            raise HookError(f"{where} not found; {hint}")
        parameters = list(inspect.signature(target).parameters)
        if parameters[: len(expected)] != expected:
            raise HookError(f"{where} has signature {parameters}, expected {expected}; {hint}")
    if moto.__version__ != PINNED_MOTO_VERSION:
        log.warning("unpinned moto version", extra={"installed": moto.__version__})


def _too_many_requests(message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError("TooManyRequestsException", message)
    error.code = 429
    return error


_originals: dict[tuple[Any, str], Any] = {}
_ERROR_LOOKUPS: dict[str, Any] = {}


def _cached(owner: Any, attribute: str) -> Any:
    """`owner.attribute` (as moto has it) behind a bounded cache of its results."""
    return _once(_originals.get((owner, attribute), getattr(owner, attribute)), _PARSED_PATHS)


def _once(function: Callable[..., Any], maxsize: int) -> Callable[..., Any]:
    """`function` behind a bounded cache of its results (the oldest dropped first), each computed once:
    threads asking for the same one at once (a burst starts every execution together) wait for the
    first instead of each computing it (`lru_cache` alone let a burst of 30 parse the definition 11 more
    times); a result already there is returned without taking the lock."""
    results: dict[tuple[Any, ...], Any] = {}
    lock = threading.Lock()
    missing = object()

    def once(*args: Any) -> Any:
        result = results.get(args, missing)
        if result is not missing:
            return result
        with lock:
            result = results.get(args, missing)
            if result is missing:
                if len(results) >= maxsize:
                    results.pop(next(iter(results)))
                result = results[args] = function(*args)
            return result

    return once


_DYNAMODB_LOCK = threading.Lock()


def install(
    runner: Runner,
    on_terminated: Callable[[str, str], None] | None = None,
    on_ended: Callable[[Any], None] | None = None,
) -> None:
    """Route every moto Lambda invocation to `runner`, hand every execution that ended to `on_ended`
    (moto's execution object, once its end is recorded) and then tell `on_terminated` (execution ARN,
    state machine ARN) (idempotent; the latest call wins)."""
    targets = _targets()
    check_hook_points(targets)
    function_class, eval_utils, notifications, _, _, task_class, parser_class, comm_class, dynamo_class = (
        t[0] for t in targets[:9]
    )
    json_path, result_path, errors_class, dynamo_backend = (t[0] for t in targets[9:])
    import moto.dynamodb.models as dynamo_models

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body) if body else {}
        invocation_type = request_headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            runner.invoke_async(str(self.function_name), event)
            return b""
        try:
            payload, errored = runner.invoke(str(self.function_name), event)
        except Throttled as exc:
            raise _too_many_requests(str(exc)) from exc
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-log-result"] = base64.b64encode(b"").decode()
        return payload.encode("utf-8")

    original_client_for = _originals.get((eval_utils, "boto_client_for"), eval_utils.boto_client_for)
    direct = DirectLambda(runner)

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if service == "lambda":  # task credentials (an assumed role) are not emulated: IAM is not
            return direct
        return original_client_for(region=region, service=service, state_credentials=state_credentials)

    def invoke_from_s3(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        try:
            runner.invoke_async(fn_arn, as_aws_s3_event(event_body), duplicates=True)
        except (UnknownFunction, Throttled) as exc:
            log.error("S3 notification not delivered: %s", exc, extra={"function": fn_arn})

    original_send_event = _originals.get((notifications, "send_event"), notifications.send_event)
    single_put = notifications.S3NotificationEvent.OBJECT_CREATED_PUT_EVENT

    def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        if event_name == single_put and getattr(key, "multipart", None) is not None:
            return  # moto's put_object inside complete_multipart_upload: not an event S3 sends
        original_send_event(account_id, event_name, bucket, key)

    original_s3_event = _originals.get((notifications, "_get_s3_event"), notifications._get_s3_event)

    def s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
        return with_version_and_sequencer(
            original_s3_event(event_name, bucket, key, notification_id), bucket, key
        )

    original_from_error = _originals.get((task_class, "_from_error"), task_class._from_error)

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        from botocore.exceptions import ClientError

        if isinstance(ex, ClientError):
            ex = _lambda_client_error(ex)
        return original_from_error(self, env, ex)

    original_dynamo_action = _originals.get((dynamo_class, "call_action"), dynamo_class.call_action)

    def dynamo_action(self: Any) -> Any:
        with _DYNAMODB_LOCK:
            return original_dynamo_action(self)

    original_parse = getattr(_originals.get((parser_class, "parse")), "__func__", parser_class.parse)
    parse = staticmethod(_once(original_parse, _PARSED_DEFINITIONS))

    original_for_service = _originals.get((errors_class, "for_service"), errors_class.for_service)

    def for_service(self: Any, service_model: Any) -> Any:
        service_id = service_model.metadata.get("serviceId")
        if service_id is None:
            return original_for_service(self, service_model)
        if service_id not in _ERROR_LOOKUPS:
            _ERROR_LOOKUPS[service_id] = original_for_service(self, service_model)
        return _ERROR_LOOKUPS[service_id]

    original_terminated = _originals.get((comm_class, "terminated"), comm_class.terminated)

    def terminated(self: Any) -> None:
        original_terminated(self)
        if on_ended is not None:
            try:
                on_ended(self.execution)
            except Exception:
                log.exception("ended execution not released")
        if on_terminated is not None:
            try:
                on_terminated(str(self.execution.exec_arn), str(self.execution.state_machine_arn))
            except Exception:
                log.exception("execution end not reported")

    replacements: list[tuple[Any, str, Any]] = [
        (function_class, "invoke", invoke),
        (eval_utils, "boto_client_for", client_for),
        (notifications, "_invoke_awslambda", invoke_from_s3),
        (notifications, "send_event", send_event),
        (notifications, "_get_s3_event", s3_event),
        (task_class, "_from_error", from_error),
        (parser_class, "parse", parse),
        (comm_class, "terminated", terminated),
        (dynamo_class, "call_action", dynamo_action),
        (json_path, "parse", _cached(json_path, "parse")),
        (result_path, "parse", _cached(result_path, "parse")),
        (errors_class, "for_service", for_service),
        (
            dynamo_backend,
            "transact_write_items",
            transact_write_items(
                _originals.get((dynamo_backend, "transact_write_items"), dynamo_backend.transact_write_items)
            ),
        ),
        (dynamo_models, "copy", CopyWithoutTables()),
    ]
    for owner, attribute, replacement in replacements:
        _originals.setdefault((owner, attribute), vars(owner).get(attribute, getattr(owner, attribute)))
        setattr(owner, attribute, replacement)


class DirectLambda:
    """The Invoke call of a Lambda client, answered by the runner in this process."""

    def __init__(self, runner: Runner):
        self._runner = runner

    def invoke(self, FunctionName: str, Payload: bytes | None = None, **options: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        event = json.loads(Payload) if Payload else {}
        try:
            if options.get("InvocationType") == "Event":
                self._runner.invoke_async(FunctionName, event)
                return {"StatusCode": 202, "Payload": io.BytesIO(b"")}
            payload, errored = self._runner.invoke(FunctionName, event)
        except (Throttled, UnknownFunction) as exc:
            code, status = (
                ("TooManyRequestsException", 429)
                if isinstance(exc, Throttled)
                else ("ResourceNotFoundException", 404)
            )
            metadata = {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())}
            error = {"Error": {"Code": code, "Message": str(exc)}, "ResponseMetadata": metadata}
            raise ClientError(error, "Invoke") from exc  # type: ignore[arg-type]
        response: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "Payload": io.BytesIO(payload.encode("utf-8")),
        }
        if errored:
            response["FunctionError"] = "Unhandled"
        return response


def _lambda_client_error(ex: Exception) -> Exception:
    """A Lambda Invoke API error as Step Functions reports it for a function-ARN task: `Lambda.<code>`."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils import (
        LambdaFunctionErrorException,
    )

    response = getattr(ex, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", "Unknown"))
    message = str(response.get("Error", {}).get("Message", ""))
    payload = json.dumps({"errorType": f"Lambda.{code}", "errorMessage": message})
    return LambdaFunctionErrorException(f"Lambda.{code}", payload)


def uninstall() -> None:
    """Restore moto's own functions."""
    for (owner, attribute), original in _originals.items():
        setattr(owner, attribute, original)
    _originals.clear()


# -- DynamoDB transactions without a copy of every table they touch ------------------------------

_SKIP = threading.local()


class CopyWithoutTables:
    """Stands for the `copy` module inside `moto.dynamodb.models`: a `Table` is not copied while a
    transaction of this thread runs (its touched items are, by `transact_write_items`)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_SKIP, "active", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash value, range value, copy of the item or None) of each item the transaction names."""
    saved = []
    for entry in transact_items:
        for operation in entry.values():
            table = backend.tables.get(operation.get("TableName"))
            if table is None:
                continue
            key = operation.get("Key")
            if key is None:
                attributes = operation.get("Item", {})
                names = (table.hash_key_attr, table.range_key_attr)
                key = {name: attributes[name] for name in names if name and name in attributes}
            try:
                hash_value, range_value = backend.get_keys_value(table, key)
                current = table.get_item(hash_value, range_value)
            except Exception:
                continue  # moto rejects this operation before writing anything for it
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
    return saved


def _restore(saved: list[tuple[Any, Any, Any, Any]]) -> None:
    for table, hash_value, range_value, before in reversed(saved):
        if before is None:
            table.delete_item(hash_value, range_value)
        elif range_value:
            table.items[hash_value][range_value] = before
        else:
            table.items[hash_value] = before


def transact_write_items(original: Callable[[Any, list[dict[str, Any]]], None]) -> Any:
    """`DynamoDBBackend.transact_write_items` backing up the touched items only.

    moto's version backs up each table a transaction names with `copy.deepcopy` (every item, for every
    transaction) so it can roll back when a condition fails: with the admission table holding one item
    per waiting image, that copy grew with the burst and was the largest share of moto's CPU. This one
    keeps a copy of the items the transaction names (the only ones it can write) and restores those when
    the transaction raises; the table-wide copy is skipped (`CopyWithoutTables`). Requests are
    serialised by the hook's DynamoDB lock, as before."""

    def replacement(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _touched(self, transact_items)
        _SKIP.active = True
        try:
            original(self, transact_items)
        except BaseException:
            _restore(saved)
            raise
        finally:
            _SKIP.active = False

    return replacement
