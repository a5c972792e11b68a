"""The Ray backend: a bounded pool of Ray actors runs jobs whose parents are done.

This is the only module that imports ray.  The driver keeps the DAG and the
catalog; an actor gets a frozen :class:`JobSpec`, runs it with the shared
:func:`~trackdag.execute.runner.run_job` and returns a plain
:class:`Outcome`.  Actors never open the catalog.

- **Resources**: each job asks Ray for its node's ``resources``
  (``num_cpus`` default 1, ``num_gpus``, ``memory`` in bytes, anything else
  is a custom resource).  Actors are made per resource shape, so jobs with
  different needs run side by side and a GPU job only runs where Ray has a
  GPU; Ray sets ``CUDA_VISIBLE_DEVICES`` in the actor, and the job inherits
  it.  A shape no node in the cluster can ever provide fails at once with a
  clear error instead of waiting forever.
- **Local or cluster**: without an address trackdag starts a private Ray
  (``address="local"``: never silently attaches to a cluster started with
  ``ray start``) on 127.0.0.1, dashboard off, token auth off, console quiet;
  its logs are linked from ``<root>/ray-logs/<session>`` during the run and
  copied there at the end.
  With ``--ray-address`` (or ``RAY_ADDRESS``) it joins an existing cluster,
  whose nodes must see the root folder.  If Ray is already initialised in
  this process (tests, notebooks) it is used as is and left running.
- **No hidden retries**: actors use ``max_restarts=0`` and
  ``max_task_retries=0``; a dead actor (killed, out of memory) is a failed
  attempt with that reason.
- **Cancel**: a threaded actor kills the job's whole process group; jobs on
  this host are also killed by pid from the driver, in case Ctrl-C already
  took Ray's own processes down.

Example:
    >>> RayExecutor(workers=2).capacity
    2
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import socket
import tempfile
import time
from typing import Any, Mapping

from ..errors import ExecutionError
from .base import Executor, JobSpec, Outcome
from .runner import ProcessTable, kill_running_job, run_job

_QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",        # no token warning, no ~/.ray/auth_token
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_IGNORE_UNHANDLED_ERRORS": "1",
    "RAY_DEDUP_LOGS": "0",
}


def _shape(resources: Mapping[str, Any]) -> tuple:
    """A hashable resource request: (num_cpus, num_gpus, memory, ((custom, amount), ...))."""
    res = dict(resources or {})
    cpus = float(res.pop("num_cpus", 1))
    gpus = float(res.pop("num_gpus", 0))
    memory = res.pop("memory", None)
    return cpus, gpus, (int(memory) if memory else None), tuple(sorted((k, float(v)) for k, v in res.items()))


def _describe(shape: tuple) -> str:
    """A readable form of a shape, e.g. ``{num_cpus=1, num_gpus=1}``."""
    cpus, gpus, memory, custom = shape
    parts = [f"num_cpus={cpus:g}"] + ([f"num_gpus={gpus:g}"] if gpus else []) + (
        [f"memory={memory}"] if memory else []) + [f"{k}={v:g}" for k, v in custom]
    return "{" + ", ".join(parts) + "}"


def _make_actor_class(ray: Any) -> Any:
    @ray.remote(max_restarts=0, max_task_retries=0, max_concurrency=2)
    class JobActor:
        """Runs one job at a time; a second thread serves terminate()."""

        def __init__(self) -> None:
            self.table = ProcessTable()
            self.table.start()
            self.node_id = ray.get_runtime_context().get_node_id()

        def run(self, spec: JobSpec) -> Outcome:
            return run_job(spec, self.table, worker=self.node_id)

        def terminate(self) -> None:
            self.table.terminate_all()

    return JobActor


class _Slot:
    """One actor of the pool: starting (waiting for Ray to place it), idle or busy."""

    __slots__ = ("actor", "shape", "state", "ready", "since")

    def __init__(self, actor: Any, shape: tuple, ready: Any) -> None:
        self.actor = actor
        self.shape = shape
        self.state = "starting"
        self.ready = ready  # ObjectRef that resolves once the actor is up
        self.since = time.monotonic()


def _fits(available: Mapping[str, float], shape: tuple) -> bool:
    cpus, gpus, memory, custom = shape
    return (available.get("CPU", 0) >= cpus and available.get("GPU", 0) >= gpus
            and (memory is None or available.get("memory", 0) >= memory)
            and all(available.get(k, 0) >= v for k, v in custom))


def _subtract(available: dict[str, float], shape: tuple) -> None:
    cpus, gpus, memory, custom = shape
    available["CPU"] = available.get("CPU", 0) - cpus
    available["GPU"] = available.get("GPU", 0) - gpus
    if memory:
        available["memory"] = available.get("memory", 0) - memory
    for key, value in custom:
        available[key] = available.get(key, 0) - value


class RayExecutor(Executor):
    """Bounded pool of Ray actors; see the module docstring.

    Jobs wait in the executor's own queue until an actor of their resource
    shape is up and idle: a job is never handed to an actor Ray has not
    placed yet, so an idle actor holding a scarce resource cannot starve a
    job that waits for a second actor of the same shape.  An actor is only
    created when the cluster has the resources free and the pool is below
    ``workers``; when the pool is full, an idle actor of another shape is
    retired to make room.
    """

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None,
                 log_link: str | None = None, connect_timeout: float | None = None) -> None:
        self.workers = workers
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        #: how long to wait for a cluster at ``address`` before giving up
        self.connect_timeout = connect_timeout if connect_timeout is not None else float(
            os.environ.get("TRACKDAG_RAY_TIMEOUT", CONNECT_TIMEOUT))
        self.log_link = log_link
        self._owns = False
        self._ray: Any = None
        self._actor_cls: Any = None
        self._slots: list[_Slot] = []
        self._queue: list[tuple[JobSpec, tuple]] = []
        self._inflight: dict[Any, tuple[JobSpec, _Slot]] = {}
        self._immediate: list[Outcome] = []
        self._started: list[str] = []
        self._feasible: dict[tuple, str | None] = {}
        self._capacity: int | None = None

    @property
    def capacity(self) -> int:
        if self.workers:
            return self.workers
        if self._capacity is None and self._ray is not None:
            self._capacity = max(1, int(self._ray.cluster_resources().get("CPU", 1)))
        return self._capacity or max(1, os.cpu_count() or 1)

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        for key, value in _QUIET_ENV.items():
            os.environ.setdefault(key, value)
        import ray

        self._ray = ray
        if not ray.is_initialized():
            if self.address:
                _check_reachable(self.address, self.connect_timeout)
            # ray.init installs its own signal handlers; ours (Ctrl-C/SIGTERM
            # -> cancel every job cleanly) must stay in charge.
            saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            common = dict(log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
            self._owns = True  # even a Ctrl-C during init must end in ray.shutdown()
            try:
                if self.address:
                    with _one_connect_attempt():
                        ray.init(address=self.address, **common)
                else:
                    cpus = max(os.cpu_count() or 1, self.workers or 0)
                    ray.init(address="local", num_cpus=cpus, include_dashboard=False,
                             _node_ip_address="127.0.0.1", _temp_dir=_short_temp_dir(), **common)
            except Exception as exc:  # connection refused, bad address, ...
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
                text = str(exc).strip().splitlines()
                raise ExecutionError(f"could not start {where}: {text[0] if text else type(exc).__name__}") from None
            finally:
                if threading.current_thread() is threading.main_thread():
                    for sig, handler in saved.items():
                        if handler is not None:
                            signal.signal(sig, handler)
            self._link_logs()
        self._actor_cls = _make_actor_class(ray)

    def _link_logs(self) -> None:
        """``<root>/ray-logs/<session>``: a link to the live logs while the run lasts.

        Ray's temp folder must stay short (socket paths), so the logs cannot
        live under the root itself; :meth:`_keep_logs` copies them there at the end.
        """
        if not self.log_link:
            return
        try:
            session = self._ray._private.worker._global_node.get_session_dir_path()
            link = os.path.join(self.log_link, os.path.basename(session))
            os.makedirs(self.log_link, exist_ok=True)
            if os.path.islink(link):
                os.unlink(link)
            os.symlink(os.path.join(session, "logs"), link)
            self._log_session = link
        except Exception:  # a missing log link must never stop a run
            pass

    def _keep_logs(self) -> None:
        """Replace the link by a copy of the logs, which outlives Ray's temp folder."""
        link = getattr(self, "_log_session", None)
        if not link or not os.path.islink(link):
            return
        try:
            import shutil

            target = os.readlink(link)
            os.unlink(link)
            shutil.copytree(target, link, ignore_dangling_symlinks=True)
        except Exception:  # best effort: the logs are a convenience
            pass

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        if self._inflight:
            self.cancel()
        for slot in self._slots:
            _quietly(ray.kill, slot.actor)
        self._slots.clear()
        self._inflight.clear()
        self._queue.clear()
        if self._owns:
            _quietly(ray.shutdown)
            self._keep_logs()
        self._ray = None

    # -- scheduling ----------------------------------------------------------------
    def _check_feasible(self, shape: tuple) -> str | None:
        if shape not in self._feasible:
            nodes = [n.get("Resources", {}) for n in self._ray.nodes() if n.get("Alive")]
            self._feasible[shape] = None if any(_fits(r, shape) for r in nodes) else (
                f"no Ray node can provide {_describe(shape)} (cluster nodes offer: "
                + "; ".join(", ".join(f"{k}={v:g}" for k, v in sorted(r.items()) if not k.startswith("node:")
                                      and k not in ("object_store_memory",)) for r in nodes) + ")")
        return self._feasible[shape]

    def submit(self, spec: JobSpec) -> None:
        assert self._ray is not None, "start() first"
        shape = _shape(spec.resources)
        problem = self._check_feasible(shape)
        if problem:
            now = time.time()
            self._immediate.append(Outcome(spec.job_id, spec.attempt, "failed", None, None, now, now,
                                           socket.gethostname(), error=problem))
            return
        # load_result travels pickled by the driver (cloudpickle), so a worker
        # that cannot import the user's module still gets the function.
        if spec.load_result is not None and not isinstance(spec.load_result, bytes):
            import dataclasses

            from ray import cloudpickle

            _by_value(cloudpickle, spec.load_result)
            spec = dataclasses.replace(spec, load_result=cloudpickle.dumps(spec.load_result))
        self._queue.append((spec, shape))
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand queued jobs to idle actors of their shape; start actors where room allows."""
        available: dict[str, float] | None = None
        waiting: list[tuple[JobSpec, tuple]] = []
        starting = {}
        for slot in self._slots:
            if slot.state == "starting":
                starting[slot.shape] = starting.get(slot.shape, 0) + 1
        for spec, shape in self._queue:
            slot = next((s for s in self._slots if s.state == "idle" and s.shape == shape), None)
            if slot is not None:
                slot.state = "busy"
                self._inflight[slot.actor.run.remote(spec)] = (spec, slot)
                self._started.append(spec.job_id)
                continue
            waiting.append((spec, shape))
            if starting.get(shape, 0) >= sum(1 for w in waiting if w[1] == shape):
                continue  # enough actors of this shape are already on their way
            if len(self._slots) >= self.capacity:
                retired = next((s for s in self._slots if s.state == "idle" and s.shape != shape), None)
                if retired is None:
                    continue
                self._slots.remove(retired)
                _quietly(self._ray.kill, retired.actor)
            if available is None:
                available = dict(self._ray.available_resources())
                for slot in self._slots:
                    if slot.state == "starting":
                        _subtract(available, slot.shape)
            if not _fits(available, shape):
                continue  # wait for an actor of this shape, or for resources to free up
            _subtract(available, shape)
            self._slots.append(self._new_actor(shape))
            starting[shape] = starting.get(shape, 0) + 1
        self._queue = waiting

    def _new_actor(self, shape: tuple) -> _Slot:
        cpus, gpus, memory, custom = shape
        options: dict[str, Any] = {"num_cpus": cpus, "num_gpus": gpus}
        if memory:
            options["memory"] = memory
        if custom:
            options["resources"] = dict(custom)
        actor = self._actor_cls.options(**options).remote()
        return _Slot(actor, shape, actor.__ray_ready__.remote())

    def take_started(self) -> list[str]:
        started, self._started = self._started, []
        return started

    def wait(self, timeout: float) -> list[Outcome]:
        ray = self._ray
        self._dispatch()  # resources may have freed up since the last call
        outcomes, self._immediate = self._immediate, []
        readies = {s.ready: s for s in self._slots if s.state == "starting"}
        refs = list(self._inflight) + list(readies)
        if not refs:
            if not outcomes:
                time.sleep(min(timeout, 0.05))
            return outcomes
        ready, _ = ray.wait(refs, num_returns=1, timeout=0 if outcomes else timeout)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            if ref in readies:
                slot = readies[ref]
                try:
                    ray.get(ref)
                    slot.state = "idle"
                except Exception as exc:  # the actor could not start: its jobs fail with the reason
                    self._slots.remove(slot)
                    detail = str(exc).strip().splitlines()
                    why = f"could not start a Ray worker for {_describe(slot.shape)}: " + (
                        detail[-1][:300] if detail else type(exc).__name__)
                    now = time.time()
                    kept = []
                    for spec, shape in self._queue:
                        if shape == slot.shape:
                            outcomes.append(Outcome(spec.job_id, spec.attempt, "failed", None, None, now, now,
                                                    socket.gethostname(), error=why))
                        else:
                            kept.append((spec, shape))
                    self._queue = kept
                continue
            spec, slot = self._inflight.pop(ref)
            try:
                outcomes.append(ray.get(ref))
                slot.state = "idle"
            except Exception as exc:  # the actor died: killed, out of memory, node lost
                self._slots.remove(slot)
                _quietly(ray.kill, slot.actor)
                now = time.time()
                detail = str(exc).strip().splitlines()
                why = f"worker died ({type(exc).__name__})" + (f": {detail[-1][:300]}" if detail else "")
                outcomes.append(Outcome(spec.job_id, spec.attempt, "failed", None, None, now, now,
                                        socket.gethostname(), error=why))
        self._dispatch()
        return outcomes

    def cancel(self) -> None:
        ray = self._ray
        if ray is None:
            return
        now = time.time()
        for spec, _ in self._queue:  # never started
            self._immediate.append(Outcome(spec.job_id, spec.attempt, "cancelled", None, None, now, now,
                                           socket.gethostname(), error="cancelled before it started"))
        self._queue.clear()
        for _, slot in self._inflight.values():
            _quietly(slot.actor.terminate.remote)
        # Jobs on this host are also killed directly: after a terminal Ctrl-C,
        # Ray's own daemons may be gone and the actors unreachable.
        for spec, _ in self._inflight.values():
            kill_running_job(spec.folder)
        deadline = time.monotonic() + 5
        while self._inflight and time.monotonic() < deadline:
            refs = list(self._inflight)
            ready, _ = _quietly(ray.wait, refs, num_returns=len(refs), timeout=0.2) or ([], [])
            for ref in ready:
                spec, slot = self._inflight.pop(ref)
                try:
                    self._immediate.append(ray.get(ref))
                    slot.state = "idle"
                except Exception:
                    self._immediate.append(Outcome(spec.job_id, spec.attempt, "cancelled", None, None, now,
                                                   time.time(), socket.gethostname(), error="cancelled"))
            if not ready:
                time.sleep(0.05)
        for ref, (spec, slot) in list(self._inflight.items()):
            _quietly(ray.kill, slot.actor)
            self._immediate.append(Outcome(spec.job_id, spec.attempt, "cancelled", None, None, now, time.time(),
                                           socket.gethostname(), error="cancelled"))
            del self._inflight[ref]



#: seconds to wait for a cluster's address to answer (TRACKDAG_RAY_TIMEOUT, --ray-timeout)
CONNECT_TIMEOUT = 30.0


def _check_reachable(address: str, timeout: float) -> None:
    """Fail at once, in one line, when nothing answers at a cluster's ``host:port``.

    Ray itself retries an unreachable address for many minutes, printing
    warnings; a TCP connection answers in milliseconds (refused) or within
    ``timeout`` seconds (a host that drops packets).  ``auto``, ``local`` and
    ``ray://`` (Ray Client) addresses are left to Ray.
    """
    if address in ("auto", "local") or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ExecutionError(f"--ray-address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379)")
    host = host.strip("[]") or "127.0.0.1"
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        why = f"no answer within {timeout:g}s" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc)).lower()
        raise ExecutionError(
            f"cannot reach the Ray cluster at {address}: {why}; check the address and port "
            "(`ray status` on the head node prints it; the default port is 6379), that the head node runs "
            "`ray start --head`, and that no firewall is in the way") from None


class _one_connect_attempt:
    """Ask Ray for one connection attempt instead of about twenty (each waits ~30 s) while we connect."""

    KEY = "RAY_gcs_server_port_wait_time_s"

    def __enter__(self) -> None:
        self.saved = os.environ.get(self.KEY)
        if self.saved is None:
            os.environ[self.KEY] = "1"

    def __exit__(self, *exc: Any) -> None:
        if self.saved is None:
            os.environ.pop(self.KEY, None)


def _by_value(cloudpickle: Any, fn: Any) -> None:
    """Pickle a ``file.py::func()`` pipeline's code by value.

    Such a file is imported under a made-up module name
    (``trackdag_user_...``) that no worker can import, so a function or
    node class from it must travel as code, not as a reference.
    """
    import sys

    owner = getattr(fn, "__self__", None)
    for obj in (fn, type(owner) if owner is not None else None):
        name = getattr(obj, "__module__", None) or ""
        module = sys.modules.get(name)
        if module is not None and name.startswith("trackdag_user_"):
            cloudpickle.register_pickle_by_value(module)


def _quietly(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except Exception:
        return None


def _short_temp_dir() -> str:
    """Ray's temp dir must be short: its socket paths may not exceed 107 bytes."""
    path = os.path.join(tempfile.gettempdir(), f"tdray-{os.getuid()}")
    if len(path) > 40:
        path = f"/tmp/tdray-{os.getuid()}"
    os.makedirs(path, exist_ok=True)
    return path
