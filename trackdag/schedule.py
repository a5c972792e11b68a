"""``python -m trackdag.schedule ...``: KWDagger's ``python -m kwdagger.schedule`` command line, on trackdag.

The same as ``trackdag schedule ...`` (see :mod:`trackdag.compat.kwdagger.cli`).
"""
from __future__ import annotations

import sys


def main(argv: "list[str] | None" = None) -> None:
    """Run ``trackdag schedule`` with these arguments."""
    from .cli import main as trackdag

    trackdag(["schedule", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
