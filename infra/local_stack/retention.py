"""What moto keeps of finished work: on disk where AWS keeps it, released where AWS would not keep it.

Measured with tracemalloc in the process hosting moto after a burst (every execution ended, after
`gc.collect()`), moto 5.2.5 kept about 184 KiB per dropped object, of which:

- 49 KiB: each execution's event history, in memory for the life of the process. AWS keeps it too
  (`GetExecutionHistory`), so it moves to a temporary file (`HistoryStore`, compressed), read back on
  request; the execution's interpreter state (its environment: context object, frames, callback and
  map-run pools, 7 KiB) is released with it, leaving an `EndedEnvironment` that answers what moto asks
  of an ended execution;
- 30 KiB: every DynamoDB item moto ever built (each write, each transaction's copies) stays listed in
  `Item.instances_tracked`, moto's list of model instances (read only by its `/moto-api/data.json`
  dashboard): the lists of models that own no resource (no `dispose`) keep weak references instead;
- 15 KiB: every thread moto's interpreter started (one per execution, its program and each task) stays in
  `TMP_THREADS`, a list moto never reads: finished ones are removed as executions end;
- the ended execution's input (parsed, and as given) and output (4.4 KiB for the pipeline's, 3 x 32 KiB
  for the test's Pass chain): AWS keeps them (`DescribeExecution`), so they go next to the history, read
  back on request (the execution's class becomes one whose `input_data`, `execution_input` and `output`
  read the store).

While a burst runs, its upload bodies also lingered: moto runs its Flask apps in debug mode, where
Flask's `attach_enctype_error_multidict(request)` gives every request with a body a class whose method
closes over the request, a reference cycle that keeps the request and its body (the uploaded image) until
the next full garbage collection, which a heap of moto's size makes rare: 4 to 19 MiB of them at the peak
of a burst of 100. That helper only rewords a `KeyError` on `request.files`, which moto never reads for
these requests, so it is replaced by one that does nothing.

While an execution runs, moto's interpreter holds three threads for it: one for the execution, which
starts one for its program and waits for it with the execution's `TimeoutSeconds`, and one per task
attempt (a thread each: 12 KiB of stack touched, the interpreter's frame stack, 4 KiB of thread objects).
A burst runs every execution at once (most wait for an admission slot), so these grow with N. The
execution's thread now runs its program itself, and one shared thread (`Deadlines`) times executions out,
as the waiting thread did: at the deadline it marks the execution timed out and reports its end, and the
program's own end reports nothing more (`_InlineProgram`, `_TerminatedOnce`).

Object bodies are AWS state: those over `server.S3_MEMORY_BYTES` are already kept in temporary files,
which moto opened buffered: each kept an 8 KiB write buffer for the life of the object version (8.6 KiB
per dropped object, tracemalloc); they are opened unbuffered (each body is written and read whole).
These are private moto and Flask names, pinned like the Lambda hook's (`check_points` at `install`).
"""

from __future__ import annotations

import contextlib
import heapq
import inspect
import itertools
import logging
import os
import pickle
import tempfile
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from local_stack.executions import TERMINAL_HISTORY_EVENTS
from local_stack.lambda_hook import PINNED_MOTO_VERSION, HookError

log = logging.getLogger(__name__)


class HistoryStore:
    """Event histories of ended executions in one unlinked temporary file (each compressed), by ARN."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="ocr-local-history-")  # noqa: SIM115 (closed by close())
        self._index: dict[str, tuple[int, int]] = {}
        self._size = 0
        self._lock = threading.Lock()

    def put(self, arn: str, events: list[Any]) -> None:
        blob = zlib.compress(pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL), 1)
        with self._lock:
            os.pwrite(self._file.fileno(), blob, self._size)
            self._index[arn] = (self._size, len(blob))
            self._size += len(blob)

    def get(self, arn: str) -> list[Any]:
        offset, length = self._index[arn]
        events: list[Any] = pickle.loads(zlib.decompress(os.pread(self._file.fileno(), length, offset)))
        return events

    def __contains__(self, arn: object) -> bool:
        return arn in self._index

    @property
    def size_bytes(self) -> int:
        return self._size

    def close(self) -> None:
        self._file.close()


class EndedEnvironment:
    """Stands in for an ended execution's interpreter environment: its history (read from the store),
    its final program state, no callbacks, and its map runs."""

    def __init__(self, store: HistoryStore, arn: str, program_state: Any, map_runs: Any):
        from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackPoolManager

        self._store = store
        self._arn = arn
        self._program_state = program_state
        self.map_run_record_pool_manager = map_runs
        self.callback_pool_manager = CallbackPoolManager(activity_store={})

    @property
    def event_manager(self) -> EndedEnvironment:
        return self

    def get_event_history(self) -> list[Any]:
        return self._store.get(self._arn)

    def program_state(self) -> Any:
        return self._program_state

    def is_running(self) -> bool:
        return False

    def set_stop(self, stop_date: Any, cause: str | None, error: str | None) -> None:
        """Stopping an ended execution changes nothing (as moto's environment does when not running)."""


class LiveInstances:
    """A model class's `instances_tracked` holding weak references: lists the instances still alive."""

    def __init__(self, instances: list[Any] | None = None):
        self._refs: dict[int, Any] = {}
        self._strong: list[Any] = []
        for instance in instances or []:
            self.append(instance)

    def append(self, instance: Any) -> None:
        key = id(instance)

        def forget(_ref: Any) -> None:
            self._refs.pop(key, None)

        try:
            self._refs[key] = weakref.ref(instance, forget)
        except TypeError:  # no weak reference possible: kept, as moto would
            self._strong.append(instance)

    def __iter__(self) -> Iterator[Any]:
        alive = [ref() for ref in list(self._refs.values())]
        return iter([instance for instance in alive if instance is not None] + self._strong)

    def __len__(self) -> int:
        return len(self._refs) + len(self._strong)


class UnbufferedSpool:
    """`tempfile` as moto's S3 models see it: a `SpooledTemporaryFile` rolls over into an unbuffered
    file (no 8 KiB buffer kept per stored body)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(tempfile, name)

    @staticmethod
    def SpooledTemporaryFile(
        max_size: int = 0, mode: str = "w+b", buffering: int = -1, **options: Any
    ) -> Any:
        return tempfile.SpooledTemporaryFile(max_size, mode, 0 if buffering == -1 else buffering, **options)


class Deadlines:
    """One thread calling each registered function at its time (`call_at`), unless cancelled first."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._calls: dict[int, Callable[[], None]] = {}
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def call_at(self, when: float, function: Callable[[], None]) -> Callable[[], None]:
        """Call `function` at `when` (`time.monotonic()`) in this object's thread; return the cancel."""
        with self._changed:
            number = next(self._order)
            self._calls[number] = function
            heapq.heappush(self._heap, (when, number))
            if len(self._heap) > 2 * len(self._calls) + 64:  # cancelled entries: rebuild, stay bounded
                self._heap = [entry for entry in self._heap if entry[1] in self._calls]
                heapq.heapify(self._heap)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="local-stack-deadlines", daemon=True)
                self._thread.start()
            self._changed.notify()

        def cancel() -> None:
            with self._changed:
                self._calls.pop(number, None)

        return cancel

    def pending(self) -> int:
        with self._changed:
            return len(self._calls)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._changed.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, number = heapq.heappop(self._heap)
                function = self._calls.pop(number, None)
            if function is not None:
                try:
                    function()
                except Exception:
                    log.exception("execution deadline not handled")


DEADLINES = Deadlines()
"""Execution timeouts of every stack of this process (moto's interpreter state is process-wide)."""


class _TerminatedOnce:
    """An execution's worker communication that reports the execution's end once."""

    def __init__(self, communication: Any) -> None:
        self._communication = communication
        self._lock = threading.Lock()
        self._reported = False

    def terminated(self) -> None:
        with self._lock:
            if self._reported:
                return
            self._reported = True
        self._communication.terminated()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._communication, name)


class _InlineProgram:
    """An execution's program run in the calling thread: moto's `Program.eval` runs it in a thread of
    its own and waits for it up to the program's `TimeoutSeconds`, then marks the execution timed out;
    here `DEADLINES` does that at the same time and reports the end (`terminated`) as the waiting thread
    then did."""

    def __init__(self, program: Any, communication: _TerminatedOnce) -> None:
        self._program = program
        self._communication = communication

    def __getattr__(self, name: str) -> Any:
        return getattr(self._program, name)

    def eval(self, env: Any) -> None:
        from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

        program = self._program
        timeout = program.timeout_seconds.timeout_seconds if program.timeout_seconds else None
        env.next_state_name = program.start_at.start_at_name
        lock = threading.Lock()
        running = [True]

        def time_out() -> None:
            with lock:
                if not running[0]:
                    return
                running[0] = False
            env.set_timed_out()
            self._communication.terminated()

        cancel = None if timeout is None else DEADLINES.call_at(time.monotonic() + timeout, time_out)
        try:
            EvalComponent.eval(program, env)
        except Exception:  # as in moto's program thread, whose error only its thread saw
            log.exception("state machine program ended with an error")
        finally:
            with lock:
                running[0] = False
            if cancel is not None:
                cancel()


def _start_execution(self: Any) -> None:
    """`ExecutionWorker.start`: the execution's thread runs its program itself (`_InlineProgram`)."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    communication = _TerminatedOnce(self._execution_communication)
    self._execution_communication = communication
    entrypoint = self._get_evaluation_entrypoint
    self._get_evaluation_entrypoint = lambda: _InlineProgram(entrypoint(), communication)
    thread = threading.Thread(target=self._execution_logic, daemon=True)
    TMP_THREADS.append(thread)
    thread.start()


class _State:
    store: ClassVar[HistoryStore | None] = None
    enctype_helper: ClassVar[Any] = None
    execution_start: ClassVar[Any] = None
    tracked: ClassVar[list[Any]] = []
    pending: ClassVar[list[Any]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()


def check_points() -> None:
    """Raise `HookError` unless moto keeps these where this module expects (moto 5.2.5)."""
    from flask import debughelpers
    from moto.core import model_instances
    from moto.s3 import models as s3_models
    from moto.stepfunctions.parser import utils
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    hint = f"the local stack is pinned to moto=={PINNED_MOTO_VERSION}"
    checks = {
        "moto.stepfunctions.parser.utils.TMP_THREADS (a list)": isinstance(
            getattr(utils, "TMP_THREADS", None), list
        ),
        "moto.core.model_instances.model_data (a dict)": isinstance(
            getattr(model_instances, "model_data", None), dict
        ),
        "Environment.event_manager / program_state / map_run_record_pool_manager": all(
            name in Environment.__annotations__ for name in ("event_manager", "map_run_record_pool_manager")
        )
        and callable(getattr(Environment, "program_state", None)),
        "EventManager.get_event_history": callable(getattr(EventManager, "get_event_history", None)),
        "Execution.to_history_output": callable(getattr(Execution, "to_history_output", None)),
        "moto.s3.models.tempfile": getattr(s3_models, "tempfile", None) is tempfile
        or isinstance(getattr(s3_models, "tempfile", None), UnbufferedSpool),
        "ExecutionWorker: start, _execution_logic, _get_evaluation_entrypoint": all(
            callable(getattr(ExecutionWorker, name, None))
            for name in ("start", "_execution_logic", "_get_evaluation_entrypoint")
        )
        and "_execution_communication" in ExecutionWorker.__annotations__,
        "Program.timeout_seconds / start_at": {"timeout_seconds", "start_at"}
        <= set(_parameters(Program.__init__) or []),
        "flask.debughelpers.attach_enctype_error_multidict(request)": _parameters(
            getattr(debughelpers, "attach_enctype_error_multidict", None)
        )
        == ["request"],
    }
    for what, ok in checks.items():
        if not ok:
            raise HookError(f"{what} not found; {hint}")


def _parameters(function: Any) -> list[str] | None:
    return list(inspect.signature(function).parameters) if callable(function) else None


def _no_enctype_helper(request: Any) -> None:
    """Flask's debug-mode helper, without the reference cycle it builds around each request."""


def install() -> HistoryStore:
    """Check the moto names, open the history store, track model instances weakly, replace Flask's
    debug-mode helper, open S3 body files unbuffered and run each execution's program in its execution's
    thread (until `uninstall`)."""
    from moto.core.model_instances import model_data

    check_points()
    uninstall()
    _State.store = HistoryStore()
    from flask import debughelpers

    _State.enctype_helper = debughelpers.attach_enctype_error_multidict
    debughelpers.attach_enctype_error_multidict = _no_enctype_helper
    from moto.s3 import models as s3_models

    setattr(s3_models, "tempfile", UnbufferedSpool())  # noqa: B010 (not exported by moto)
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    _State.execution_start = vars(ExecutionWorker)["start"]
    ExecutionWorker.start = _start_execution  # type: ignore[method-assign]
    for models in model_data.values():
        for model in models.values():
            current = getattr(model, "instances_tracked", None)
            if isinstance(current, list) and not hasattr(model, "dispose"):
                _State.tracked.append(model)
                model.instances_tracked = LiveInstances(current)  # type: ignore[attr-defined]
    return _State.store


def uninstall() -> None:
    """Give moto its lists and `tempfile` and Flask its helper back and close the history store (ended
    executions then lose their history)."""
    for model in _State.tracked:
        tracker = getattr(model, "instances_tracked", None)
        if isinstance(tracker, LiveInstances):
            model.instances_tracked = list(tracker)
    _State.tracked.clear()
    _State.pending.clear()
    from moto.s3 import models as s3_models

    setattr(s3_models, "tempfile", tempfile)  # noqa: B010 (not exported by moto)
    if _State.execution_start is not None:
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        ExecutionWorker.start = _State.execution_start  # type: ignore[method-assign]
        _State.execution_start = None
    if _State.enctype_helper is not None:
        from flask import debughelpers

        debughelpers.attach_enctype_error_multidict = _State.enctype_helper
        _State.enctype_helper = None
    if _State.store is not None:
        _State.store.close()
        _State.store = None


def execution_ended(execution: Any) -> None:
    """Told by the Lambda hook once moto has recorded `execution`'s end: prune finished interpreter
    threads, then move its history to the store and release its environment, unless the history lacks
    its final event yet (a timed-out execution's task may still be running: retried at the next end)."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    for thread in list(TMP_THREADS):
        if not thread.is_alive():
            with contextlib.suppress(ValueError):
                TMP_THREADS.remove(thread)
    store = _State.store
    if store is None:
        return
    with _State.lock:
        waiting = [*_State.pending, execution]
        _State.pending = [e for e in waiting if not _release(store, e)]


_ENDED_FIELDS = ("input_data", "execution_input", "output")
"""What DescribeExecution reads of an ended execution (its input, parsed and as given, and its output)."""
_ENDED_CLASSES: dict[type, type] = {}


def _ended_field(index: int) -> property:
    name = _ENDED_FIELDS[index]

    def get(self: Any) -> Any:
        if name in self._kept:
            return self._kept[name]
        return self._store.get(self._stored_as)[index]

    def set_(self: Any, value: Any) -> None:
        self._kept[name] = value

    return property(get, set_)


def ended_class(cls: type) -> type:
    """`cls` (moto's execution) reading `_ENDED_FIELDS` from the history store, where `_release` put them."""
    if cls not in _ENDED_CLASSES:
        fields = {name: _ended_field(index) for index, name in enumerate(_ENDED_FIELDS)}
        _ENDED_CLASSES[cls] = type(f"Ended{cls.__name__}", (cls,), fields)
    return _ENDED_CLASSES[cls]


def _move_input_and_output(store: HistoryStore, execution: Any, arn: str) -> None:
    """Put an ended execution's input and output next to its history and read them from there."""
    if not all(name in vars(execution) for name in _ENDED_FIELDS):
        return
    stored_as = f"{arn} input and output"
    store.put(stored_as, [vars(execution)[name] for name in _ENDED_FIELDS])
    execution._store, execution._stored_as, execution._kept = store, stored_as, {}
    execution.__class__ = ended_class(type(execution))
    for name in _ENDED_FIELDS:
        del vars(execution)[name]
    worker = getattr(execution, "exec_worker", None)
    details = getattr(getattr(worker, "_evaluation_details", None), "execution_details", None)
    if details is not None:
        details.inpt = None  # the same parsed input, read by the interpreter once, at the start


def _release(store: HistoryStore, execution: Any) -> bool:
    worker: Any = getattr(execution, "exec_worker", None)
    env = getattr(worker, "env", None)
    if env is None:
        return True
    if isinstance(env, EndedEnvironment):
        return True
    events = env.event_manager.get_event_history()
    last = events[-1].get("type") if events else None
    if str(getattr(last, "value", last)) not in TERMINAL_HISTORY_EVENTS:
        return False
    arn = str(execution.exec_arn)
    store.put(arn, events)
    worker.env = EndedEnvironment(store, arn, env.program_state(), env.map_run_record_pool_manager)
    _move_input_and_output(store, execution, arn)
    return True
