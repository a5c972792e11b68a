"""``kwdagger.aggregate_loader``: what KWDagger pipelines import from it (see :mod:`trackdag.process_context`).

Example:
    >>> new_process_context_parser({'properties': {'name': 'eval'}})['context']['task']
    'eval'
"""
from ...process_context import new_process_context_parser

__all__ = ["new_process_context_parser"]
