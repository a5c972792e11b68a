"""Capping a plan's resource requests at what a backend has (``trackdag schedule``'s serial and tmux).

KWDagger's serial and tmux backends start a job whatever it asks for (its
Slurm options mean nothing there).  trackdag's local backend refuses a job
it can never place, which is right for ``trackdag run`` but would make a
ported KWDagger sweep fail where it used to run.  So ``trackdag schedule
--backend=serial|tmux`` caps each job's ``num_cpus`` at the backend's slots
(a bigger job takes every slot and runs alone) and its ``num_gpus`` at the
GPUs the machine has (none: the job runs without one, as it did under
KWDagger), and says so once per resource, naming the nodes.  The dry run
caps the same way, so it says what the run will do.

Example:
    >>> capped({'num_cpus': 4.0, 'num_gpus': 1.0}, {'num_cpus': 2.0, 'num_gpus': 0.0})
    {'num_cpus': 2.0}
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from .plan import Plan

_DEFAULTS = {"num_cpus": 1.0, "num_gpus": 0.0}
_NOTES = {
    "num_cpus": "num_cpus above the {limit:g} slot(s) of this backend: {asked}; those jobs take every slot and run alone",
    "num_gpus": "num_gpus above the {limit:g} GPU(s) this machine has: {asked}; those jobs get {limit:g} "
                "(KWDagger's serial and tmux backends ignored Slurm's GPU requests too)",
}


def capped(resources: Mapping[str, Any], limits: Mapping[str, float]) -> dict[str, Any]:
    """``resources`` with each limited key at most its limit (a GPU request capped at 0 is dropped)."""
    out = dict(resources)
    for key, limit in limits.items():
        if float(out.get(key, _DEFAULTS[key])) > limit:
            out[key] = float(limit)
            if key == "num_gpus" and limit == 0:
                del out[key]
    return out


def cap_resources(the_plan: Plan, *, max_cpus: float | None = None, max_gpus: float | None = None) -> Plan:
    """The plan with every job's requests capped (see the module docstring); the same plan when none is over."""
    limits = {k: float(v) for k, v in (("num_cpus", max_cpus), ("num_gpus", max_gpus)) if v is not None}
    over: dict[str, dict[str, float]] = {k: {} for k in limits}
    jobs = {}
    for job_id, job in the_plan.jobs.items():
        for key, limit in limits.items():
            asked = float(job.resources.get(key, _DEFAULTS[key]))
            if asked > limit:
                over[key][job.node] = max(asked, over[key].get(job.node, 0.0))
        if any(job.node in nodes for nodes in over.values()):
            job = job.replace(resources=capped(job.resources, limits))
        jobs[job_id] = job
    notes = [_NOTES[key].format(limit=limits[key], asked=", ".join(f"{n} ({a:g})" for n, a in nodes.items()))
             for key, nodes in over.items() if nodes]
    if not notes:
        return the_plan
    return dataclasses.replace(the_plan, jobs=jobs, notes=[*the_plan.notes, *notes])


__all__ = ["cap_resources", "capped"]
