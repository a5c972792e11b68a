"""Backends behind one small interface (see :mod:`trackdag.execute.base`).

Only :mod:`trackdag.execute.ray_backend` may import ray.
"""
