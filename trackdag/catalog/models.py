"""The catalog's tables, as SQLModel classes (the schema in code).

These classes are the single definition of the tables: migrations compile
them to DuckDB DDL, and code that wants typed rows can read them back with
SQLModel.  Bulk writes do not go through the ORM (one INSERT per object is
~100x slower); they go through Arrow tables on the raw DuckDB connection.

Timestamps are ``TIMESTAMP WITH TIME ZONE`` (UTC when written); JSON columns
hold params as written in the matrix.

Example:
    >>> Job.__tablename__, Attempt.__tablename__, Environment.__tablename__
    ('jobs', 'attempts', 'environments')
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, BigInteger, Column, DateTime, Double, Integer
from sqlmodel import Field, SQLModel

TZ = DateTime(timezone=True)


class Run(SQLModel, table=True):
    """One `trackdag run` invocation."""

    __tablename__ = "runs"
    run_id: str = Field(primary_key=True)
    argv: Optional[list] = Field(default=None, sa_column=Column(JSON))
    params_text: Optional[str] = None
    pipeline_ref: Optional[str] = None
    root: str
    backend: str
    workers: Optional[int] = None
    host: str
    user: Optional[str] = None
    pid: int
    git_sha: Optional[str] = None
    trackdag_version: str
    started: datetime = Field(sa_column=Column(TZ, nullable=False))
    ended: Optional[datetime] = Field(default=None, sa_column=Column(TZ))
    #: running, done, failed, cancelled, interrupted (driver died)
    status: str
    n_rows: Optional[int] = None
    n_jobs: Optional[int] = None
    n_done: Optional[int] = None
    n_failed: Optional[int] = None
    n_skipped: Optional[int] = None
    n_cached: Optional[int] = None
    #: provenance (trackdag.provenance): the environment (environments.env_id), the Python version,
    #: whether the launch directory's work tree differed from git_sha, and the sha256 of that diff
    env_id: Optional[str] = None
    python: Optional[str] = None
    git_dirty: Optional[bool] = None
    git_diff_hash: Optional[str] = None


class Environment(SQLModel, table=True):
    """One Python environment runs ran under, stored once however many runs share it."""

    __tablename__ = "environments"
    #: the first 16 hex digits of the sha256 of (python, platform, sorted name==version lines)
    env_id: str = Field(primary_key=True)
    python: str
    platform: str
    #: the installed distributions, ``name==version`` one a line, sorted
    packages: str
    created: datetime = Field(sa_column=Column(TZ, nullable=False))


class Job(SQLModel, table=True):
    """One job (node + resolved params), shared by every run and row that asks for it."""

    __tablename__ = "jobs"
    job_id: str = Field(primary_key=True)
    short_id: str
    node: str
    folder: str
    command: str
    #: planned, queued, running, done, failed, skipped, cancelled
    status: str
    requested: Optional[dict] = Field(default=None, sa_column=Column(JSON))
    resolved: Optional[dict] = Field(default=None, sa_column=Column(JSON))
    first_run: str
    last_run: str
    attempts: int = 0
    started: Optional[datetime] = Field(default=None, sa_column=Column(TZ))
    ended: Optional[datetime] = Field(default=None, sa_column=Column(TZ))
    error: Optional[str] = None
    #: ok, broken (load_result raised or returned junk), or NULL (no result yet)
    result_status: Optional[str] = None
    result_error: Optional[str] = None


class RunJob(SQLModel, table=True):
    """Which run asked for which job, and from which matrix row."""

    __tablename__ = "run_jobs"
    run_id: str = Field(primary_key=True)
    row_index: int = Field(primary_key=True)
    job_id: str = Field(primary_key=True)


class Edge(SQLModel, table=True):
    """Parent job -> child job (the child reads an output of the parent)."""

    __tablename__ = "edges"
    parent_id: str = Field(primary_key=True)
    child_id: str = Field(primary_key=True)


class Param(SQLModel, table=True):
    """Long form of every job's resolved arguments (algo, perf, input)."""

    __tablename__ = "params"
    job_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    node: str
    #: algo, perf or input
    kind: str
    value: Optional[str] = Field(default=None, sa_column=Column(JSON))
    value_num: Optional[float] = Field(default=None, sa_type=Double)
    value_text: Optional[str] = None
    value_bool: Optional[bool] = None


class Attempt(SQLModel, table=True):
    """One execution of a job: exit code or signal, timings, host, stderr tail."""

    __tablename__ = "attempts"
    job_id: str = Field(primary_key=True)
    attempt: int = Field(primary_key=True)
    run_id: str
    #: done, failed, cancelled
    status: str
    exit_code: Optional[int] = None
    signal: Optional[int] = None
    started: Optional[datetime] = Field(default=None, sa_column=Column(TZ))
    ended: Optional[datetime] = Field(default=None, sa_column=Column(TZ))
    duration: Optional[float] = Field(default=None, sa_type=Double)
    host: Optional[str] = None
    #: the Ray node that ran it (NULL for the local backend)
    node_id: Optional[str] = None
    pid: Optional[int] = None
    peak_rss_kb: Optional[int] = Field(default=None, sa_type=BigInteger)
    stderr_tail: Optional[str] = None
    error: Optional[str] = None


class Result(SQLModel, table=True):
    """Long form of each done job's result row (``load_result``): one row per key."""

    __tablename__ = "results"
    job_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    value_num: Optional[float] = Field(default=None, sa_type=Double)
    value_text: Optional[str] = None
    #: the key's place in the row load_result returned (the report follows it when no metric is declared)
    ord: Optional[int] = None


class SchemaVersion(SQLModel, table=True):
    """Migrations applied to this catalog, by number and name."""

    __tablename__ = "schema_version"
    # autoincrement=False: duckdb-engine would emit SERIAL, which DuckDB lacks.
    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    name: str
    applied: datetime = Field(sa_column=Column(TZ, nullable=False))


#: tables in creation order
TABLES = [Run, Job, RunJob, Edge, Param, Attempt, Result, Environment, SchemaVersion]
