"""A job's process-context record (kwutil's ``ProcessContext``) as result sections.

Programs that use kwutil's ``ProcessContext`` end their JSON output with an
``info`` list whose last item is ``{'type': 'process', 'properties': {name,
config, machine, start_timestamp, stop_timestamp, duration, uuid, ...}}``.
:func:`new_process_context_parser` turns it into the four sections KWDagger
pipelines put in a result row: ``context`` (task, uuid, start and stop
times), ``resolved_params`` (the program's config), ``resources`` (hours,
duration, hardware) and ``machine`` (host, cpu, os...).

Example:
    >>> item = {'type': 'process', 'properties': {'name': 'eval', 'uuid': 'u1', 'config': {'thresh': 0.5},
    ...         'machine': {'host': 'vm'}, 'start_timestamp': '2026-12-01T10:00:00',
    ...         'stop_timestamp': '2026-12-01T10:30:00', 'duration': '0:30:00'}}
    >>> out = new_process_context_parser(item)
    >>> out['context']['task'], out['resolved_params'], out['resources']['total_hours'], out['machine']
    ('eval', {'thresh': 0.5}, 0.5, {'host': 'vm'})
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping


def _timestamp(text: Any) -> _dt.datetime | None:
    if not isinstance(text, str):
        return None
    cleaned = text.strip().replace("Z", "+00:00")
    for candidate in (cleaned, cleaned.split("+")[0]):
        try:
            return _dt.datetime.fromisoformat(candidate)
        except ValueError:
            pass
    for fmt in ("%Y-%m-%dT%H%M%S%z", "%Y-%m-%dT%H%M%S"):
        try:
            return _dt.datetime.strptime(text.strip(), fmt)
        except ValueError:
            pass
    return None


def _seconds(duration: Any) -> float | None:
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        return float(duration)
    if isinstance(duration, str):
        try:
            parts = [float(p) for p in duration.split(" day")[-1].strip(", s").split(":")]
        except ValueError:
            return None
        days = float(duration.split(" day")[0]) if " day" in duration else 0.0
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + part
        return days * 86400 + seconds
    return None


def new_process_context_parser(proc_item: Mapping[str, Any]) -> dict[str, Any]:
    """The context, resolved_params, resources and machine sections of one process-context record."""
    props = dict(proc_item.get("properties") or {})
    machine = dict(props.get("machine") or {})
    start = props.get("start_timestamp")
    stop = props.get("stop_timestamp", props.get("end_timestamp"))
    seconds = _seconds(props.get("duration"))
    if seconds is None and _timestamp(start) and _timestamp(stop):
        try:
            seconds = (_timestamp(stop) - _timestamp(start)).total_seconds()  # type: ignore[operator]
        except TypeError:  # one with a time zone, one without
            seconds = None
    cpu = machine.get("cpu_brand") or "unknown"
    resources: dict[str, Any] = {
        "total_hours": (seconds or 0.0) / 3600,
        "duration": str(_dt.timedelta(seconds=round(seconds or 0))),
        "cpu_name": cpu,
        "hardware": cpu,
    }
    extra = props.get("extra") or {}
    emissions = extra.get("emissions") if isinstance(extra, Mapping) else None
    if isinstance(emissions, Mapping):
        for key, name in (("co2_kg", "co2_kg"), ("total_kWH", "kwh")):
            if key in emissions:
                resources[name] = emissions[key]
    if machine.get("gpus") or machine.get("gpu_name"):
        resources["hardware"] = machine.get("gpu_name") or str(machine.get("gpus"))
    return {
        "context": {"task": props.get("name"), "uuid": props.get("uuid"), "start_timestamp": start,
                    "stop_timestamp": stop},
        "resolved_params": dict(props.get("config") or {}),
        "resources": resources,
        "machine": machine,
    }


__all__ = ["new_process_context_parser"]
