"""Ending the ``trackdag`` process quickly after a dry run, whose objects need no freeing.

A dry run of a million configurations holds ten million objects (two
million jobs, their dicts and strings).  Freeing them one by one when the
process ends took 1.5 s, and each pass of the garbage collector over them
after planning 0.7 s.  A dry run starts nothing and writes nothing, so once
it is planned :func:`arm` takes its objects out of the collector's sight
(``gc.freeze``), and once its report is printed :func:`run_command` flushes
stdout and stderr and ends the process with ``os._exit``: the system frees
its memory at once.

Only the installed command's own process does this (``trackdag`` and
``python -m trackdag`` go through :func:`run_command`): click's test runner
and library callers share their process with other work, and :func:`arm` does
nothing there.

Example:
    >>> arm()  # (not the command's own process: nothing happens)
    >>> armed()
    False
"""
from __future__ import annotations

import gc
import os
import sys
from typing import Callable, NoReturn

_own_process = False
_armed = False


def arm() -> None:
    """In the command's own process: freeze the objects alive now, and end the process when the command ends."""
    global _armed
    if _own_process:
        gc.freeze()
        _armed = True


def armed() -> bool:
    return _armed


def run_command(main: Callable[[], object]) -> NoReturn:
    """Run click's ``main`` as the process's command (it exits with its code), quickly when armed."""
    global _own_process
    _own_process = True
    try:
        main()
    except SystemExit as exc:
        if _armed and (exc.code is None or isinstance(exc.code, int)):
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):  # (a closed pipe, as `| head` leaves: nothing more to say)
                    pass
            os._exit(exc.code or 0)
        raise
    sys.exit(0)


__all__ = ["arm", "armed", "run_command"]
