"""`LocalStack`: the pipeline of `template.yaml` on moto, with its functions and the OCR service.

    with LocalStack.start(param_overrides={"MaxPolls": "5"}) as stack:
        key = stack.upload(Path("scan.jpg"))
        records = stack.wait_all(deadline_seconds=60)

Only one stack can run per process: moto's state and the Lambda hook are process-wide. The functions
run in worker processes of their own (`local_stack.runner`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import boto3
from botocore.config import Config

from local_stack import lambda_hook, retention
from local_stack.cfn import DEFAULT_TEMPLATE, check_port_free
from local_stack.event_rules import Scheduler
from local_stack.executions import (
    NOT_STARTED,
    TERMINAL,
    ExecutionRecord,
    describe,
    key_of,
    poll_states,
    summaries,
)
from local_stack.resources import Resource, StackSpec, key_prefix, notifications
from local_stack.runner import InvocationRecord, Runner, RunnerOptions
from local_stack.server import (
    FreeMemoryTrimmer,
    MotoServer,
    limit_malloc_arenas,
    raise_open_files_limit,
    start_moto,
)
from local_stack.status_events import Delivery, StatusEventWatcher, described
from local_stack.template import Environment, check_overrides, declared_parameters, plan

log = logging.getLogger(__name__)

LOCAL_PARAMETER_DEFAULTS: dict[str, str] = {"MaxWaitSeconds": "2"}
_POLL_INTERVAL_SECONDS = 0.25
_DELIVERY_WAIT_SECONDS = 300.0

_running_lock = threading.Lock()
_running: list[LocalStack] = []


class StackError(RuntimeError):
    """The local stack cannot start or is used in a way it does not support."""


def _start_ocr_service(options: Mapping[str, Any]) -> Any:
    from ocr_service.testing import start_service

    return start_service(**options)


class LocalStack:
    """A running local stack. Create it with `LocalStack.start(...)`; stop it with `stop()` or `with`."""

    def __init__(
        self,
        *,
        spec: StackSpec,
        moto: MotoServer,
        ocr: Any,
        owns_ocr: bool,
        environment: Environment,
        lambda_options: RunnerOptions | None = None,
        lambda_log: Path | None = None,
    ):
        self.spec = spec
        self.moto = moto
        self.ocr = ocr
        self._owns_ocr = owns_ocr
        self.environment = environment
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=120)
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=environment.region
        )
        client = functools.partial(session.client, endpoint_url=moto.endpoint, config=config)
        services = ("iam", "sqs", "secretsmanager", "lambda", "dynamodb", "s3", "stepfunctions")
        self.clients: dict[str, Any] = {name: client(name) for name in services}
        self.s3: Any = self.clients["s3"]
        self.sfn: Any = self.clients["stepfunctions"]
        self._owns_log = lambda_log is None
        if lambda_log is None:
            handle, name = tempfile.mkstemp(prefix="ocr-local-lambda-", suffix=".log")
            os.close(handle)
            lambda_log = Path(name)
        self.lambda_log = lambda_log
        self._log_file: IO[str] = lambda_log.open("a", encoding="utf-8")
        dead_letter_sqs = client("sqs")
        self.runner = Runner(
            spec.functions,
            base_environment=moto.environment(environment.region),
            options=lambda_options,
            log_file=self._log_file,
            dead_letter=lambda *args: _send_to_dead_letter_queue(dead_letter_sqs, *args),
            on_failure=lambda target, record: _send_to_queue(dead_letter_sqs, target, json.dumps(record)),
        )
        self._uploaded: list[str] = []
        machines = {m.arn: m.definition for m in spec.state_machines}
        self._poll_states = poll_states(machines[self.state_machine_arn]) if machines else frozenset()
        self._key_of_execution: dict[str, str | None] = {}
        self._finished: dict[str, ExecutionRecord] = {}
        self._stopped = False
        self.status_events = StatusEventWatcher(
            describe=functools.partial(described, environment.account_id, environment.region),
            invoke=self._invoke_async_to_end,
            rules=spec.rules,
            state_machine_arns=[machine.arn for machine in spec.state_machines],
            account_id=environment.account_id,
            region=environment.region,
        )
        self.scheduler = Scheduler(
            spec.schedules, self.runner.invoke_async, environment.account_id, environment.region
        )
        self.trimmer = FreeMemoryTrimmer()

    @classmethod
    def start(
        cls,
        *,
        template: Path = DEFAULT_TEMPLATE,
        param_overrides: Mapping[str, str] | None = None,
        service_options: Mapping[str, Any] | None = None,
        ocr: Any = None,
        moto_port: int = 0,
        region: str = "us-east-1",
        lambda_options: RunnerOptions | None = None,
        lambda_log: Path | None = None,
        check_parameters: bool = True,
    ) -> LocalStack:
        """Start moto, the OCR service (unless `ocr`, an object with `base_url`, `client_id`,
        `client_secret` and `stop()`, is given) and create every resource of `template`.

        Parameters default as in the template, then `LOCAL_PARAMETER_DEFAULTS` (short waits) and the OCR
        service's URL and credentials apply (only for parameters the template declares), then
        `param_overrides`. `service_options` go to `ocr_service.testing.start_service`; `lambda_options`
        to the function runner (account concurrency, async retry delays, duplicate deliveries);
        the functions' output goes to `lambda_log` (default: a temporary file, `stack.lambda_log`).
        Parameter values are checked against their constraints unless `check_parameters` is False
        (tests that need, say, a 3 s execution timeout).
        """
        with _running_lock:
            if _running:
                raise StackError("a LocalStack is already running in this process; stop it first")
            # User errors first, before anything is started.
            if check_parameters:
                check_overrides(template, param_overrides or {})
            check_port_free(moto_port)
            limit_malloc_arenas()
            raise_open_files_limit()
            owns_ocr = ocr is None
            service: Any = ocr if ocr is not None else _start_ocr_service(service_options or {})
            moto: MotoServer | None = None
            stack: LocalStack | None = None
            try:
                moto = start_moto(moto_port)
                moto.export(region)
                environment = Environment(region=region)
                overrides = _overrides(template, service, param_overrides or {})
                spec = plan(template, overrides, environment, check_constraints=check_parameters)
                stack = cls(
                    spec=spec,
                    moto=moto,
                    ocr=service,
                    owns_ocr=owns_ocr,
                    environment=environment,
                    lambda_options=lambda_options,
                    lambda_log=lambda_log,
                )
                retention.install()
                lambda_hook.install(
                    stack.runner, stack.status_events.terminated, on_ended=retention.execution_ended
                )
                stack.status_events.start()
                stack.scheduler.start()
                stack.trimmer.start()
            except BaseException:
                if stack is not None:
                    stack._close(moto)
                elif moto is not None:
                    moto.stop()
                if owns_ocr:
                    service.stop()
                raise
            _running.append(stack)
            return stack

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop event delivery, abort running executions, stop moto and (if started here) the OCR service.

        Event delivery stops first, so executions aborted here deliver no status-change event.
        Idempotent.
        """
        if self._stopped:
            return
        self._stopped = True
        try:
            self.scheduler.stop()
            self.status_events.stop()
            env = self.environment
            for machine in self.spec.state_machines:
                for execution in summaries(env.account_id, env.region, machine.arn, status="RUNNING"):
                    self.sfn.stop_execution(executionArn=execution["executionArn"], error="LocalStackStopped")
        except Exception:
            log.warning("could not stop running executions", exc_info=True)
        finally:
            self._close(self.moto)
            if self._owns_ocr:
                self.ocr.stop()
            with _running_lock:
                if self in _running:
                    _running.remove(self)

    def _close(self, moto: MotoServer | None) -> None:
        """Close the runner, then moto, then give moto its own Lambda back: an invocation from an
        execution thread outliving the stop meets the closed runner ("the local stack is stopping"),
        not moto's Docker-based Lambda."""
        self.trimmer.stop()
        self.runner.close()
        if moto is not None:
            moto.stop()
        lambda_hook.uninstall()
        retention.uninstall()
        self._log_file.close()
        if self._owns_log:
            self.lambda_log.unlink(missing_ok=True)

    def _invoke_async_to_end(self, function: str, event: Any) -> tuple[bool, int, str | None]:
        (item,) = self.runner.invoke_async(function, event)
        if not item.done.wait(_DELIVERY_WAIT_SECONDS):
            return False, item.attempts, f"still pending after {_DELIVERY_WAIT_SECONDS:.0f} s"
        return bool(item.ok), item.attempts, item.error

    @property
    def endpoint(self) -> str:
        """The moto endpoint (for `aws --endpoint-url`)."""
        return self.moto.endpoint

    @property
    def drop_bucket(self) -> Resource:
        """The bucket whose uploads start the pipeline (the first one notifying a function)."""
        for bucket in self.spec.buckets:
            if notifications(bucket):
                return bucket
        raise StackError("the template declares no bucket notifying a function")

    @property
    def bucket(self) -> str:
        return self.drop_bucket.name

    @property
    def input_prefix(self) -> str:
        """The key prefix that triggers the pipeline (from the bucket's notification filter)."""
        return next(filter(None, map(key_prefix, notifications(self.drop_bucket))), "")

    @property
    def output_prefixes(self) -> dict[str, str]:
        """Where the pipeline writes each kind of output (template parameters, else the usual names)."""
        parameters = self.spec.parameters
        return {
            kind: str(parameters.get(name, default))
            for kind, name, default in (
                ("text", "TextPrefix", "text/"),
                ("binarized", "BinarizedPrefix", "binarized/"),
                ("results", "ResultPrefix", "results/"),
                ("failed", "FailedPrefix", "failed/"),
            )
        }

    @property
    def state_machine_arn(self) -> str:
        """The state machine the drop bucket's functions start (named in their environment), or the first."""
        if not self.spec.state_machines:
            raise StackError("the template declares no state machine")
        targets = {n["LambdaFunctionArn"] for n in notifications(self.drop_bucket)}
        values = {v for f in self.spec.functions if f.arn in targets for v in f.environment.values()}
        started = [m.arn for m in self.spec.state_machines if m.arn in values]
        return (started or [self.spec.state_machines[0].arn])[0]

    @property
    def deliveries(self) -> list[Delivery]:
        """Every status-change event delivered to an event rule target so far."""
        return self.status_events.deliveries

    def wait_idle(self, deadline_seconds: float) -> bool:
        """Wait until no asynchronous invocation is queued or running; False at the deadline."""
        deadline = time.monotonic() + deadline_seconds
        while self.runner.pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    @property
    def throttles(self) -> dict[str, dict[str, int]]:
        """Throttled invocations per function and invocation type (`RequestResponse`, `Event`)."""
        return self.runner.throttles()

    @property
    def peak_concurrency(self) -> dict[str, int]:
        """The most invocations of each function that ran at once."""
        return self.runner.peak_concurrency()

    def aws_requests(self) -> dict[str, int]:
        """AWS API requests the stack served so far, by `service operation` (`s3 PUT`, `dynamodb
        GetItem`, `states StartExecution`...): its clients', the functions' and the interpreter's."""
        return self.moto.requests()

    @property
    def invocations(self) -> list[InvocationRecord]:
        """Every Lambda invocation so far."""
        return self.runner.records

    def upload(self, path: Path, key: str | None = None) -> str:
        """Put the file at `path` as `key` (default: input prefix + file name); return the key.

        Returns at once: the S3-triggered function is invoked asynchronously, as on AWS.
        """
        return self.upload_bytes(path.read_bytes(), key if key is not None else self.input_prefix + path.name)

    def upload_bytes(self, data: bytes, key: str) -> str:
        """Put `data` as `key` in the drop bucket; return the key."""
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        self._uploaded.append(key)
        return key

    def records(self, keys: Iterable[str] | None = None) -> list[ExecutionRecord]:
        """The current record of each key (default: every uploaded key), in upload order."""
        wanted = list(dict.fromkeys(keys if keys is not None else self._uploaded))
        by_key: dict[str, list[dict[str, Any]]] = {}
        for execution in self.executions():
            arn = execution["executionArn"]
            if arn not in self._key_of_execution:
                self._key_of_execution[arn] = key_of(execution["input"])
            key = self._key_of_execution[arn]
            if key is not None:
                by_key.setdefault(key, []).append(execution)
        result = []
        for key in wanted:
            executions = sorted(by_key.get(key, []), key=lambda e: e["startDate"])
            if not executions:
                result.append(ExecutionRecord(key=key, status=NOT_STARTED))
                continue
            latest, arn = executions[-1], executions[-1]["executionArn"]
            record = self._finished.get(arn)
            if record is None or record.executions != len(executions):
                if latest["status"] in TERMINAL:
                    record = describe(self.sfn, key, arn, len(executions), self._poll_states)
                else:  # the listing says all there is of a running execution (its history is not read)
                    status, name = str(latest["status"]), str(latest.get("name"))
                    record = ExecutionRecord(key, status, arn, name, executions=len(executions))
                if record.finished:
                    # A terminal execution never changes: its history is read once.
                    self._finished[arn] = record
            result.append(record)
        return result

    def executions(self, status: str | None = None) -> list[dict[str, Any]]:
        """The state machine's executions (optionally of one status), newest first (`summaries`)."""
        env = self.environment
        return summaries(env.account_id, env.region, self.state_machine_arn, status=status)

    def running(self) -> int:
        """How many executions of the state machine are running."""
        return len(self.executions("RUNNING"))

    def known_keys(self) -> list[str]:
        """Every key named by an execution so far (uploaded here or by anyone else), oldest first."""
        self.records([])
        keys = [key for key in self._key_of_execution.values() if key is not None]
        return list(dict.fromkeys(keys))

    def wait_all(
        self,
        deadline_seconds: float,
        keys: Iterable[str] | None = None,
        on_progress: Callable[[list[ExecutionRecord]], None] | None = None,
    ) -> list[ExecutionRecord]:
        """Wait until every key's execution is finished or `deadline_seconds` pass; return the records.

        Finished means terminal and its status-change event delivered to the matching event rules, so
        the failure record of a timed-out or aborted execution exists on return; a key without execution
        is finished once no invocation is queued or running (its notification was refused or failed).
        Keys still running at the deadline keep status `RUNNING` (or `NOT_STARTED`) in the result; a
        terminal key whose event is still pending at the deadline is returned with its terminal status.
        """
        wanted = list(keys if keys is not None else self._uploaded)
        deadline = time.monotonic() + deadline_seconds
        while True:
            # Idle first: once no invocation is queued or running, a key without execution never gets one.
            idle = self.runner.pending() == 0
            records = self.records(wanted)
            if on_progress is not None:
                on_progress(records)
            settled = all(self._settled(record, idle) for record in records)
            if settled or time.monotonic() >= deadline:
                return records
            time.sleep(_POLL_INTERVAL_SECONDS)

    def _settled(self, record: ExecutionRecord, idle: bool) -> bool:
        if record.status == NOT_STARTED:
            return idle
        if not record.finished:
            return False
        return record.execution_arn is None or self.status_events.handled(record.execution_arn)


def _overrides(template: Path, service: Any, requested: Mapping[str, str]) -> dict[str, str]:
    declared = declared_parameters(template)
    local = {
        **LOCAL_PARAMETER_DEFAULTS,
        "OcrApiBaseUrl": str(service.base_url),
        "OcrClientId": str(service.client_id),
        "OcrClientSecret": str(service.client_secret),
    }
    overrides = {name: value for name, value in local.items() if name in declared}
    overrides.update(requested)
    return overrides


def _send_to_dead_letter_queue(
    sqs: Any, target_arn: str, event: Any, request_id: str, error_type: str, message: str
) -> None:
    """Lambda's DLQ message: the event as body, the request id and error as message attributes."""
    attributes = {
        "RequestID": request_id,
        "ErrorCode": error_type,
        "ErrorMessage": message[:256] or error_type,
    }
    _send_to_queue(sqs, target_arn, json.dumps(event), attributes)


def _send_to_queue(sqs: Any, target_arn: str, body: str, attributes: Mapping[str, str] | None = None) -> None:
    """One message to the SQS queue named by `target_arn` (a DLQ or an on-failure destination)."""
    if ":sqs:" not in target_arn:
        raise StackError(f"target {target_arn} is not an SQS queue (not emulated)")
    url = sqs.get_queue_url(QueueName=target_arn.rsplit(":", 1)[1])["QueueUrl"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody=body,
        MessageAttributes={
            k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()
        },
    )
