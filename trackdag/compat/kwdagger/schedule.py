"""``kwdagger schedule`` on trackdag: KWDagger's options, spelled as KWDagger spells them, mapped to a run.

============================  ===================================================================
KWDagger option               here
============================  ===================================================================
``--params``, ``--pipeline``  the same; the params' ``pipeline:`` key wins over ``--pipeline``, as
                              in KWDagger
``--root_dpath``              ``--root`` (default ``./kwdagger_output``, KWDagger's)
``--backend=serial``          ``--backend local --workers 1``; a job asking for more CPUs (a Slurm
                              ``cpus``) takes the one slot, one asking for more GPUs than the
                              machine has gets those it has (none: it runs without), as KWDagger
                              ran them, instead of being refused (:mod:`trackdag.caps`)
``--backend=tmux``            ``--backend local --workers <tmux_workers>`` (default 8), requests
                              capped the same way
``--backend=slurm``           refused, in one line: trackdag has no Slurm backend; start a Ray
                              cluster in the allocation and pass ``--backend=ray --ray_address``
``--backend=ray|local``       trackdag's own backends (``--ray_address`` for a cluster)
``--run=0`` (the default)     ``--dry-run``: the plan and its commands, nothing written
``--run=1``                   run
``--skip_existing``,          a done job is run again only with ``--skip_existing=0`` *and*
``--cache``                   ``--no-cache`` (KWDagger skips existing outputs either way)
``--max_configs``             ``--max-configs``
``--devices=0,1``             the local backend's GPUs (instead of CUDA_VISIBLE_DEVICES)
``--slurm_options``           the least specific Slurm layer; cpus/gpus/mem become resources
``<node>.<output>: name``     (in the params) the output's file, in the job folder (KWDagger: the
                              path as written, from the launch directory)
``--print_commands``          with ``--run=0``: every command
other options                 accepted; named once as having no meaning here (``--monitor``,
                              ``--queue_name``, ``--virtualenv_cmd``, ...)
============================  ===================================================================

Exit codes are trackdag's (1 when a job failed), not KWDagger's (always 0).

Example:
    >>> backend_of('serial', 8)
    ('local', 1)
    >>> truthy('0'), truthy('True'), truthy(None, default=True)
    (False, True, True)
"""
from __future__ import annotations

from typing import Any

from ...errors import TrackdagError
from .entry import KwdaggerCommand

DEFAULT_ROOT = "./kwdagger_output"


class SlurmRefused(TrackdagError):
    """``--backend=slurm``: trackdag has no Slurm backend."""

    exit_code = 2


def truthy(value: Any, default: bool = False) -> bool:
    """A KWDagger flag value: ``1``/``0``, ``True``/``False``, ``yes``... (None: ``default``)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "y", "t"):
        return True
    if text in ("0", "false", "no", "off", "n", "f", "none", "null", ""):
        return False
    raise TrackdagError(f"{value!r} is not a yes/no value: write 1 or 0")


def backend_of(backend: str, tmux_workers: int) -> tuple[str, int | None]:
    """trackdag's (backend, workers) for KWDagger's ``--backend``."""
    if backend == "serial":
        return "local", 1
    if backend == "tmux":
        return "local", tmux_workers
    if backend in ("local", "ray"):
        return backend, None
    if backend == "slurm":
        raise SlurmRefused("--backend=slurm: trackdag has no Slurm backend; start a Ray cluster in your Slurm "
                           "allocation (`ray start --head` on one node, `ray start --address=...` on the others) "
                           "and run `trackdag schedule ... --backend=ray --ray_address=HEAD:6379`; Slurm options "
                           "(cpus, gpus, mem) become the jobs' Ray resources")
    raise TrackdagError(f"--backend={backend!r}: use serial, tmux, ray or local")


def schedule(*, params: Any, pipeline: Any = None, root_dpath: str = DEFAULT_ROOT, backend: str = "tmux",
             tmux_workers: int = 8, skip_existing: Any = False, cache: Any = True, run: Any = False,
             max_configs: int | None = None, devices: Any = None, slurm_options: Any = None,
             ray_address: str | None = None, print_commands: Any = None, on_event: Any = None,
             on_plan: Any = None, argv: list[str] | None = None) -> tuple[str, Any]:
    """Run (or, with ``run`` false, dry-run) a sweep with KWDagger's options; returns ('run'|'dry', result)."""
    from ... import sweep
    from ... import yaml12

    kind, workers = backend_of(str(backend), int(tmux_workers))
    if isinstance(slurm_options, str):
        slurm_options = yaml12.load(slurm_options) or None
    if isinstance(devices, str):
        devices = None if devices.strip() == "auto" else [d.strip() for d in devices.split(",") if d.strip()]
    elif isinstance(devices, (list, tuple)):
        devices = [str(d) for d in devices]
    keep = truthy(skip_existing) or truthy(cache, default=True)
    # KWDagger's serial and tmux backends run a job whatever it asks for: cap requests at the slots and
    # at the machine's GPUs (trackdag.caps)
    max_cpus = max_gpus = None
    if workers is not None:
        from ...execute.local import detect_devices

        max_cpus, max_gpus = float(workers), float(len(devices if devices is not None else detect_devices()))
    if not truthy(run):
        prepared = sweep.prepare(params, pipeline=pipeline, root=root_dpath, max_configs=max_configs,
                                 slurm_options=slurm_options, params_pipeline_first=True, max_cpus=max_cpus,
                                 max_gpus=max_gpus, out_overrides=True, kwdagger_rows=True)
        return "dry", sweep.dry_run(prepared, skip_existing=keep)
    return "run", sweep.run(params, pipeline=pipeline, root=root_dpath, backend=kind, workers=workers,
                            ray_address=ray_address, max_configs=max_configs, skip_existing=keep,
                            devices=devices, slurm_options=slurm_options, params_pipeline_first=True,
                            max_cpus=max_cpus, max_gpus=max_gpus, out_overrides=True, kwdagger_rows=True, argv=argv, on_event=on_event, on_plan=on_plan)


#: KWDagger's ``kwdagger.schedule.__cli__``: ``__cli__.main(argv=False, **options)`` (see :mod:`.entry`)
__cli__ = KwdaggerCommand("schedule")

__all__ = ["__cli__", "schedule", "backend_of", "truthy", "DEFAULT_ROOT"]
