"""Compatibility layers: code written for other tools, running on trackdag.

- :mod:`trackdag.compat.kwdagger`: KWDagger 0.4's helper modules, at module
  paths that mirror KWDagger's (``kwdagger.utils.util_dotdict`` is
  ``trackdag.compat.kwdagger.utils.util_dotdict``), so a KWDagger pipeline
  file ports by rewriting its import lines, and KWDagger's ``schedule``,
  ``aggregate`` and ``import`` commands.  The core library never imports this
  package; only the CLI (``trackdag/cli.py``) registers its commands.
"""
