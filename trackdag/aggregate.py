"""``python -m trackdag.aggregate ...``: KWDagger's ``python -m kwdagger.aggregate`` command line, on trackdag.

The same as ``trackdag aggregate ...`` (see :mod:`trackdag.compat.kwdagger.cli`).
"""
from __future__ import annotations

import sys


def main(argv: "list[str] | None" = None) -> None:
    """Run ``trackdag aggregate`` with these arguments."""
    from .cli import main as trackdag

    trackdag(["aggregate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
