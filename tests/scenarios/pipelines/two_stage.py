"""A pipeline module loaded by reference in tests ('two_stage.py::make()')."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from conftest import two_stage  # noqa: E402


def make():
    return two_stage()


def not_a_pipeline():
    return 42


def broken():
    raise ValueError("boom")


def sleeper():
    """One node whose jobs take tool options as params (sleep, spawn, ...)."""
    from conftest import single

    return single("job", sleep=0, spawn=False)
