"""Lambda's execution model, locally: worker processes, reserved concurrency, throttling, async retries.

Each function gets its own pool of worker processes, one per concurrent execution environment, forked
from a worker template (`local_stack.environments`, `local_stack.worker`) with that function's
environment variables only and reused warm, so nothing is shared between functions or between
invocations running at once. Concurrency is capped as Lambda caps it:
a function with `ReservedConcurrentExecutions` has that many slots of its own; the others share what is
left of the account limit. Beyond the cap:

- a synchronous invoke (`invoke`) raises `Throttled` (the Invoke API answers 429 TooManyRequestsException);
- an asynchronous invoke (`invoke_async`: S3 notifications, EventBridge targets, `InvocationType=Event`)
  waits in the function's queue and is retried with backoff until its `MaximumEventAgeInSeconds`; a
  function error is retried `MaximumRetryAttempts` times (after `retry_delays`), then the event goes to the
  function's dead-letter queue.

`Timeout` and `MemorySize` are enforced: a worker that has not answered by then, or whose resident
memory went over, is killed and the invocation fails with `Sandbox.Timedout` or `Runtime.OutOfMemory`;
the next invocation starts a fresh (cold) worker.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local_stack.environments import HOST_VARIABLES, Template, Worker, failure_payload
from local_stack.resources import FunctionSpec
from local_stack.worker import error_payload

log = logging.getLogger(__name__)

ACCOUNT_CONCURRENCY = 1000
"""Lambda's default concurrent executions per account and region."""
_MAX_RECORDS = 100_000
_MAX_QUEUED = 100_000
_STOP_SECONDS = 10.0

DeadLetter = Callable[[str, Any, str, str, str], None]
"""(target ARN, event, request id, error type, error message) → send the failed event to a DLQ."""
Destination = Callable[[str, dict[str, Any]], None]
"""(target ARN, invocation record) → send the record of a failed event to an on-failure destination."""


class Throttled(RuntimeError):
    """No free concurrency slot for a synchronous invoke (Lambda's 429 TooManyRequestsException)."""


class UnknownFunction(KeyError):
    """No function of the stack has this name."""


@dataclass(frozen=True)
class RunnerOptions:
    """Local knobs. `account_concurrency` is Lambda's account limit (the unreserved functions share what
    the reservations leave); `max_processes` bounds the worker processes of one function: an invocation
    within the concurrency limit but beyond that waits for a worker (a laptop cannot run 1,000), it is
    not throttled. AWS retries a failed asynchronous invocation after 1 and 2 minutes: `retry_delays`
    scales that down; `throttle_backoff` is (first, longest) wait of a throttled queued event."""

    account_concurrency: int = ACCOUNT_CONCURRENCY
    max_processes: int = 10
    retry_delays: tuple[float, ...] = (1.0, 2.0)
    throttle_backoff: tuple[float, float] = (0.05, 1.0)
    duplicate_delivery_rate: float = 0.0
    init_timeout_seconds: float = 60.0
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    """One handler run (an attempt), for progress reports, cost figures and tests (slots: a burst keeps
    eight per object)."""

    function_name: str
    request_id: str
    seconds: float
    errored: bool
    error_type: str | None
    invocation_type: str = "RequestResponse"
    cold_start: bool = False
    memory_size_mb: int = 0
    max_memory_mb: int = 0
    init_seconds: float = 0.0
    """For a cold start: from the spawn request to the handler imported (Lambda's Init Duration)."""
    init_cpu_seconds: float = 0.0
    """For a cold start: CPU the new environment spent until ready (fork, handler import, clients)."""


@dataclass(order=True)
class AsyncInvocation:
    """An event accepted for asynchronous invocation; `done` is set once it succeeded or was given up."""

    due: float
    sequence: int
    function_name: str = field(compare=False)
    event: Any = field(compare=False, repr=False)
    request_id: str = field(compare=False)
    received: float = field(compare=False)
    attempts: int = field(default=0, compare=False)
    throttles: int = field(default=0, compare=False)
    ok: bool | None = field(default=None, compare=False)
    error: str | None = field(default=None, compare=False)
    payload: str | None = field(default=None, compare=False, repr=False)
    done: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


class _Slots:
    """A concurrency limit shared by one or more functions."""

    def __init__(self, limit: int):
        self.limit = limit
        self.in_use = 0


class FunctionPool:
    """The warm workers, concurrency counters and asynchronous queue of one function."""

    def __init__(self, spec: FunctionSpec, slots: _Slots, runner: Runner):
        self.spec = spec
        self.slots = slots
        self._runner = runner
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self.active = 0
        self.running = 0
        self.peak = 0
        self.capacity = max(1, min(slots.limit, runner.options.max_processes))
        self.throttles: Counter[str] = Counter()
        self.queue: list[AsyncInvocation] = []
        self.executor = ThreadPoolExecutor(max_workers=self.capacity, thread_name_prefix=spec.name)
        self.dispatcher = threading.Thread(target=self._dispatch, name=f"async-{spec.name}", daemon=True)

    def try_acquire(self) -> bool:
        """Take a concurrency slot if one is free (caller holds the runner's lock)."""
        if self.slots.in_use >= self.slots.limit:
            return False
        self.slots.in_use += 1
        self.active += 1
        return True

    def take_worker_slot(self) -> None:
        """Count one more invocation running in a worker (caller holds the lock; capacity checked)."""
        self.running += 1
        self.peak = max(self.peak, self.running)

    def wait_for_worker_slot(self) -> None:
        """Block until fewer than `capacity` invocations of this function run, then take a worker slot."""
        with self._runner.lock:
            while self.running >= self.capacity and not self._runner.stopped:
                self._runner.lock.wait(1.0)
            self.take_worker_slot()

    def release(self) -> None:
        """Give back the concurrency slot and the worker slot of a finished invocation."""
        with self._runner.lock:
            self.slots.in_use -= 1
            self.active -= 1
            self.running -= 1
            self._runner.lock.notify_all()

    def run(self, event: Any, request_id: str, invocation_type: str) -> tuple[str, bool]:
        """Run the handler once in a warm (or new) worker of this function; (payload JSON, errored)."""
        spec = self.spec
        started = time.monotonic()
        with self._runner.lock:
            worker = self._idle.pop() if self._idle else None
        cold = worker is None
        max_memory = 0
        if worker is None:
            worker, failure = self._start_worker()
            if worker is None:
                failed_init = (time.monotonic() - started, 0.0)
                self._runner.record(spec, request_id, started, failure, True, invocation_type, 0, failed_init)
                return failure, True
        request = {
            "request_id": request_id,
            "event": event,
            "deadline_epoch": time.time() + spec.timeout,
            "function_arn": spec.arn,
        }
        reply = worker.call(request, spec.timeout, spec.memory_size)
        if isinstance(reply, dict) and int(reply.get("max_memory_mb", 0)) > spec.memory_size:
            reply = "memory"  # the peak between two looks went over: Lambda would have killed it
        if isinstance(reply, dict):
            payload, errored = str(reply["payload"]), bool(reply["errored"])
            max_memory = int(reply.get("max_memory_mb", 0))
            with self._runner.lock:
                self._idle.append(worker)
        else:
            if reply == "memory":
                max_memory = max(int(worker.rss_mb()), spec.memory_size)
            self._discard(worker)
            payload, errored = failure_payload(reply, request_id, spec.timeout), True
        init = (worker.init_seconds, worker.init_cpu_seconds) if cold else None
        self._runner.record(spec, request_id, started, payload, errored, invocation_type, max_memory, init)
        return payload, errored

    def _discard(self, worker: Worker) -> None:
        worker.kill()
        with self._runner.lock:
            self._all.discard(worker)

    def _start_worker(self) -> tuple[Worker | None, str]:
        if self._runner.stopped:
            return None, error_payload("Runtime.ExitError", "the local stack is stopping")
        timeout = self._runner.options.init_timeout_seconds
        started = time.monotonic()
        try:
            worker = self._runner.spawn(self.spec)
        except OSError as exc:
            return None, error_payload("Runtime.InitError", f"no execution environment: {exc}")
        with self._runner.lock:
            self._all.add(worker)
        ready = worker.wait_ready(timeout, self.spec.memory_size)
        if isinstance(ready, dict) and ready.get("ready"):
            worker.init_seconds = time.monotonic() - started
            return worker, ""
        self._discard(worker)
        if isinstance(ready, dict):
            error = ready["error"]
            return None, error_payload(str(error["errorType"]), str(error["errorMessage"]))
        if ready == "timeout":
            return None, error_payload("Runtime.InitError", f"no ready message within {timeout} s")
        return None, failure_payload(ready, "(init)", timeout)

    def close(self) -> None:
        """Kill the idle workers; terminate the busy ones (their callers see EOF and close them)."""
        with self._runner.lock:
            idle = list(self._idle)
            busy = [worker for worker in self._all if worker not in self._idle]
            self._all.clear()
            self._idle.clear()
        for worker in idle:
            worker.kill()
        for worker in busy:
            worker.terminate()

    # -- asynchronous invocations ------------------------------------------------------------------

    def enqueue(self, item: AsyncInvocation) -> None:
        with self._runner.lock:
            if len(self.queue) >= _MAX_QUEUED:
                raise Throttled(f"{self.spec.name}: asynchronous queue full ({_MAX_QUEUED} events)")
            heapq.heappush(self.queue, item)
            self._runner.lock.notify_all()

    def _dispatch(self) -> None:
        runner = self._runner
        first, longest = runner.options.throttle_backoff
        while True:
            expired = None
            with runner.lock:
                item = self._next_due()
                if item is None:
                    return
                if time.monotonic() - item.received > self.spec.max_event_age_seconds:
                    expired = item
                elif self.slots.in_use >= self.slots.limit:
                    item.throttles += 1
                    self.throttles["Event"] += 1
                    heapq.heappush(self.queue, item)
                    runner.lock.wait(min(longest, first * 2 ** min(item.throttles - 1, 16)))
                    continue
                elif self.running >= self.capacity:
                    # Every worker of this function is busy: a local limit, not a throttle.
                    heapq.heappush(self.queue, item)
                    runner.lock.wait(longest)
                    continue
                else:
                    self.try_acquire()
                    self.take_worker_slot()
            if expired is not None:
                self._give_up(expired, "EventAgeExceeded", "maximum event age reached")
            else:
                self.executor.submit(self._attempt, item)

    def _next_due(self) -> AsyncInvocation | None:
        """Pop the next due event (caller holds the lock); None once the runner stops."""
        runner = self._runner
        while not runner.stopped:
            if self.queue and self.queue[0].due <= time.monotonic():
                return heapq.heappop(self.queue)
            runner.lock.wait(self.queue[0].due - time.monotonic() if self.queue else None)
        return None

    def _attempt(self, item: AsyncInvocation) -> None:
        item.attempts += 1
        try:
            payload, errored = self.run(item.event, item.request_id, "Event")
        except Exception as exc:
            payload, errored = error_payload("Runtime.Unknown", f"{type(exc).__name__}: {exc}"), True
        finally:
            self.release()
        item.payload = payload
        if not errored:
            item.ok = True
            self._runner.finished(item)
            return
        error = json.loads(payload)
        if item.attempts > self.spec.max_retry_attempts or self._runner.stopped:
            self._give_up(item, str(error.get("errorType")), str(error.get("errorMessage"))[:500])
            return
        delays = self._runner.options.retry_delays or (0.0,)
        item.due = time.monotonic() + delays[min(item.attempts, len(delays)) - 1]
        self.enqueue(item)

    def _give_up(self, item: AsyncInvocation, error_type: str, message: str) -> None:
        item.ok = False
        item.error = f"{error_type}: {message}"
        fields = {"function": self.spec.name, "request_id": item.request_id, "attempts": item.attempts}
        dead_letter, on_failure = self.spec.dead_letter_arn, self.spec.on_failure_arn
        if self._runner.stopped:
            log.warning("asynchronous invocation abandoned at stop", extra=fields)
        elif not (dead_letter or on_failure):
            log.error("asynchronous invocation failed, event dropped: %s", item.error, extra=fields)
        if dead_letter and not self._runner.stopped and self._runner.dead_letter is not None:
            try:
                self._runner.dead_letter(dead_letter, item.event, item.request_id, error_type, message)
                log.error("asynchronous invocation failed, event sent to %s", dead_letter, extra=fields)
            except Exception:
                log.exception("asynchronous invocation failed and the dead-letter queue refused it")
        if on_failure and not self._runner.stopped and self._runner.on_failure is not None:
            try:
                self._runner.on_failure(on_failure, self._invocation_record(item, error_type, message))
                log.error("asynchronous invocation failed, record sent to %s", on_failure, extra=fields)
            except Exception:
                log.exception("asynchronous invocation failed and its on-failure destination refused it")
        self._runner.finished(item)

    def _invocation_record(self, item: AsyncInvocation, error_type: str, message: str) -> dict[str, Any]:
        """What Lambda sends to an on-failure destination: the request, why it was given up, the error."""
        expired = error_type == "EventAgeExceeded"
        record: dict[str, Any] = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "requestId": item.request_id,
                "functionArn": f"{self.spec.arn}:$LATEST",
                "condition": "EventAgeExceeded" if expired else "RetriesExhausted",
                "approximateInvokeCount": item.attempts,
            },
            "requestPayload": item.event,
        }
        if not expired:
            record["responseContext"] = {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            }
            record["responsePayload"] = {"errorType": error_type, "errorMessage": message}
        return record


class Runner:
    """Every function of a stack, each in its own worker processes (see the module docstring).

    `base_environment` is laid under each function's variables (endpoint, dummy credentials, region);
    `log_file` receives the workers' output (handler logs, `REPORT` lines); `dead_letter` sends an event
    whose asynchronous invocation failed for good to its function's DLQ, `on_failure` its invocation record
    to the function's on-failure destination.
    """

    def __init__(
        self,
        functions: Iterable[FunctionSpec],
        *,
        base_environment: Mapping[str, str] | None = None,
        options: RunnerOptions | None = None,
        log_file: IO[Any] | None = None,
        dead_letter: DeadLetter | None = None,
        on_failure: Destination | None = None,
    ):
        self.options = options or RunnerOptions()
        self.base_environment = dict(base_environment or {})
        self.log_file = log_file
        self.dead_letter = dead_letter
        self.on_failure = on_failure
        self.lock = threading.Condition()
        self.stopped = False
        self.listeners: list[Callable[[AsyncInvocation], None]] = []
        """Called (in a runner thread) with each asynchronous invocation once it succeeded or failed."""
        self._records: deque[InvocationRecord] = deque(maxlen=_MAX_RECORDS)
        self._sequence = itertools.count()
        self._random = random.Random(self.options.seed)
        specs = list(functions)
        reserved = sum(f.reserved_concurrency or 0 for f in specs)
        account = self.options.account_concurrency
        unreserved = account - reserved
        if unreserved < 1:
            raise ValueError(
                f"account concurrency {account} leaves nothing for unreserved functions "
                f"(reserved: {reserved}); give at least {reserved + 1}"
            )
        shared = _Slots(unreserved)
        self.pools: dict[str, FunctionPool] = {}
        for spec in specs:
            reservation = spec.reserved_concurrency
            slots = _Slots(reservation) if reservation is not None else shared
            self.pools[spec.name] = FunctionPool(spec, slots, self)
        for pool in self.pools.values():
            pool.dispatcher.start()
        self._template_lock = threading.Lock()
        self._templates: dict[Path, Template] = {}
        for code_dir in {spec.code_uri for spec in specs}:
            self._templates[code_dir] = self._template(code_dir)

    def _template(self, code_dir: Path) -> Template:
        handlers = [pool.spec.handler for pool in self.pools.values() if pool.spec.code_uri == code_dir]
        return Template(code_dir, handlers, self.log_file)

    def spawn(self, spec: FunctionSpec) -> Worker:
        """A new execution environment of `spec`, forked from its code directory's template (restarted
        once if it died)."""
        timeout = self.options.init_timeout_seconds
        with self._template_lock:
            template = self._templates[spec.code_uri]
        try:
            return template.spawn(self.environment_for(spec), spec.code_uri, timeout)
        except OSError:
            log.warning("worker template failed, restarting it", extra={"code_uri": str(spec.code_uri)})
            with self._template_lock:
                if self._templates[spec.code_uri] is template and not self.stopped:
                    template.close()
                    self._templates[spec.code_uri] = self._template(spec.code_uri)
                template = self._templates[spec.code_uri]
            return template.spawn(self.environment_for(spec), spec.code_uri, timeout)

    def pool(self, name_or_arn: str) -> FunctionPool:
        name = name_or_arn.split(":")[6] if name_or_arn.startswith("arn:") else name_or_arn
        pool = self.pools.get(name)
        if pool is None:
            raise UnknownFunction(name)
        return pool

    def invoke(self, name: str, event: Any) -> tuple[str, bool]:
        """Synchronous invoke: (payload JSON, errored); `Throttled` when every slot is taken."""
        pool = self.pool(name)
        with self.lock:
            if self.stopped or not pool.try_acquire():
                pool.throttles["RequestResponse"] += 1
                raise Throttled(f"Rate Exceeded. ({pool.spec.name}: {pool.slots.limit} concurrent)")
        try:
            pool.wait_for_worker_slot()
            return pool.run(event, str(uuid.uuid4()), "RequestResponse")
        finally:
            pool.release()

    def invoke_async(self, name: str, event: Any, *, duplicates: bool = False) -> list[AsyncInvocation]:
        """Accept `event` for asynchronous invocation (returns at once). With `duplicates`, the event is
        accepted twice at `duplicate_delivery_rate` (at-least-once delivery, as S3 may do)."""
        pool = self.pool(name)
        copies = 1
        if duplicates and self._random.random() < self.options.duplicate_delivery_rate:
            copies = 2
        accepted = []
        for _ in range(copies):
            now = time.monotonic()
            item = AsyncInvocation(
                due=now,
                sequence=next(self._sequence),
                function_name=pool.spec.name,
                event=json.loads(json.dumps(event)),
                request_id=str(uuid.uuid4()),
                received=now,
            )
            pool.enqueue(item)
            accepted.append(item)
        return accepted

    def finished(self, item: AsyncInvocation) -> None:
        """Mark `item` done and tell the listeners (a failing listener is logged, never raised)."""
        item.done.set()
        for listener in list(self.listeners):
            try:
                listener(item)
            except Exception:
                log.exception("asynchronous invocation listener failed")

    def environment_for(self, spec: FunctionSpec) -> dict[str, str]:
        """A worker's whole environment: nothing of this process but PATH/LANG, then Lambda's variables."""
        env = {key: os.environ[key] for key in HOST_VARIABLES if key in os.environ}
        env.update(self.base_environment)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "LAMBDA_TASK_ROOT": str(spec.code_uri),
                "PYTHONPATH": str(spec.code_uri),
                "PYTHONUNBUFFERED": "1",
                "_HANDLER": spec.handler,
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )
        env.update(spec.environment)
        # No X-Ray daemon exists locally: tracing stays off whatever the template says.
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
        return env

    def record(
        self,
        spec: FunctionSpec,
        request_id: str,
        started: float,
        payload: str,
        errored: bool,
        invocation_type: str,
        max_memory: int,
        init: tuple[float, float] | None,
    ) -> None:
        """Keep one invocation's record; `init` is (seconds, CPU seconds) of its cold start, if any."""
        error_type = None
        if errored:
            error = json.loads(payload)
            error_type = str(error.get("errorType"))
            message = str(error.get("errorMessage"))[:500]
            log.error(
                "lambda invocation failed: %s %s: %s",
                spec.name,
                error_type,
                message,
                extra={"function": spec.name, "request_id": request_id, "error_type": error_type},
            )
        self._records.append(
            InvocationRecord(
                function_name=spec.name,
                request_id=request_id,
                seconds=time.monotonic() - started,
                errored=errored,
                error_type=error_type,
                invocation_type=invocation_type,
                cold_start=init is not None,
                memory_size_mb=spec.memory_size,
                max_memory_mb=max_memory,
                init_seconds=init[0] if init else 0.0,
                init_cpu_seconds=init[1] if init else 0.0,
            )
        )

    @property
    def records(self) -> list[InvocationRecord]:
        """Handler runs so far (oldest first, bounded)."""
        return list(self._records)

    def throttles(self) -> dict[str, dict[str, int]]:
        """Throttled invocations per function and invocation type."""
        with self.lock:
            return {name: dict(pool.throttles) for name, pool in self.pools.items()}

    def peak_concurrency(self) -> dict[str, int]:
        """The most invocations of each function that ran at once (in its workers)."""
        with self.lock:
            return {name: pool.peak for name, pool in self.pools.items()}

    def worker_pids(self) -> dict[str, list[int]]:
        """The process ids of each function's live workers (for CPU and memory figures)."""
        with self.lock:
            return {name: [w.pid for w in pool._all] for name, pool in self.pools.items()}

    def template_pids(self) -> list[int]:
        """The process ids of the worker templates."""
        with self._template_lock:
            return [template.process.pid for template in self._templates.values()]

    def pending(self) -> int:
        """Asynchronous events accepted and not finished yet (queued or running)."""
        with self.lock:
            return sum(len(pool.queue) for pool in self.pools.values()) + sum(
                pool.active for pool in self.pools.values()
            )

    def close(self) -> None:
        """Stop the queues (queued events are dropped and logged) and kill every worker."""
        with self.lock:
            self.stopped = True
            dropped = [item for pool in self.pools.values() for item in pool.queue]
            for pool in self.pools.values():
                pool.queue.clear()
            self.lock.notify_all()
        if dropped:
            log.warning("asynchronous events dropped at stop", extra={"count": len(dropped)})
        for item in dropped:
            item.ok, item.error = False, "LocalStackStopped"
            item.done.set()
        for pool in self.pools.values():
            pool.dispatcher.join(_STOP_SECONDS)
            pool.close()
            pool.executor.shutdown(wait=False, cancel_futures=True)
        with self._template_lock:
            for template in self._templates.values():
                template.close()
