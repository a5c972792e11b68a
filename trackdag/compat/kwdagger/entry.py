"""KWDagger's ``__cli__`` objects: ``schedule.__cli__.main(argv=False, **config)`` from Python.

KWDagger scripts (its own ``demo.demodata.run_demo_schedule`` among them)
run a sweep from Python by calling ``kwdagger.schedule.__cli__.main`` (or
``kwdagger.aggregate.__cli__.main``) with the command line's options as
keyword arguments.  Here each keyword becomes ``--key=value`` on trackdag's
``schedule`` / ``aggregate`` command: a path is its text, a mapping or a
list (``params={...}``, ``eval_nodes=[...]``, ``stdout_report={top_k: 3}``)
its JSON, and ``None`` is left out.  ``argv=True`` also reads
``sys.argv[1:]`` (KWDagger's default), ``argv=False`` only the keywords, a
list those arguments; they come after the keywords, so they win.

``main`` returns ``None`` when the command succeeds and raises
``SystemExit`` with trackdag's exit code (and its one-line error already
printed) when it does not, so a script stops at a failed sweep.

Example:
    >>> from pathlib import Path
    >>> command_line({'root_dpath': Path('/r'), 'params': {'m': [1]}, 'run': 1, 'x': None})
    ['--root_dpath=/r', '--params={"m": [1]}', '--run=1']
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Mapping


def _text(value: Any) -> str:
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, default=lambda v: os.fspath(v) if isinstance(v, os.PathLike) else str(v))
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def command_line(kwargs: Mapping[str, Any]) -> list[str]:
    """``--key=value`` for each keyword (see the module docstring)."""
    return [f"--{key}={_text(value)}" for key, value in kwargs.items() if value is not None]


class KwdaggerCommand:
    """The ``__cli__`` of one of KWDagger's commands (``schedule`` or ``aggregate``)."""

    def __init__(self, command: str):
        self.command = command

    def __repr__(self) -> str:
        return f"KwdaggerCommand({self.command!r})"

    def main(self, argv: "bool | list[str]" = True, **kwargs: Any) -> None:
        """Run ``trackdag <command>`` with ``kwargs`` (then ``argv``) as its options."""
        from ...cli import main as trackdag

        extra = sys.argv[1:] if argv is True else list(argv or [])
        try:
            trackdag([self.command, *command_line(kwargs), *extra], prog_name="trackdag")
        except SystemExit as done:
            if done.code not in (0, None):
                raise


__all__ = ["KwdaggerCommand", "command_line"]
