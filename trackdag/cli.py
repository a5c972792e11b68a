"""The ``trackdag`` command: thin click wrappers over the library.

Each command turns options into arguments, calls one library function and
formats the answer: data on stdout, progress and errors on stderr.  Expected
problems (:class:`~trackdag.errors.TrackdagError`) become one ``Error:`` line
and a non-zero exit, never a traceback.  Only click and the standard library
are imported at module level, so ``trackdag --help`` is instant and loads
neither ray, altair nor pyarrow.

Exit codes of ``trackdag run``: 0 every job done, 1 some job failed, 2 bad
input (nothing ran), 130 interrupted.
"""
from __future__ import annotations

import sys
from typing import Any

import click

from .errors import TrackdagError


class TrackdagGroup(click.Group):
    """Translates library errors into one clear line and the family's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackdagError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=TrackdagGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trackdag", prog_name="trackdag")
def main() -> None:
    """Run shell-command pipelines over parameter grids; record every job in DuckDB."""


@main.command()
@click.option("--params", required=True, metavar="YAML|FILE",
              help="The parameter matrix: YAML/JSON text or a path to a YAML file.")
@click.option("--pipeline", metavar="REF",
              help="'pkg.module.func()', 'file.py::func()' or 'pipeline.yaml' (default: 'pipeline:' in the params).")
@click.option("--root", default="trackdag_output", show_default=True, type=click.Path(file_okay=False),
              help="Folder that holds the job folders and the catalog.")
@click.option("--catalog", type=click.Path(dir_okay=False), help="Catalog file [default: <root>/catalog.duckdb].")
@click.option("--backend", type=click.Choice(["local"]), default="local", show_default=True,
              help="local: a thread pool running subprocesses in this process.")
@click.option("--workers", type=click.IntRange(min=1), help="Jobs run at once [default: number of CPUs]; 1 = serial.")
@click.option("--max-configs", type=click.IntRange(min=1), help="Use only the first N rows of the grid.")
@click.option("--skip-existing/--no-skip-existing", default=True, show_default=True,
              help="Skip jobs whose done record matches; --no-skip-existing reruns them.")
@click.option("--fail-fast", is_flag=True, help="Start no new job after the first failure.")
@click.option("--dry-run", is_flag=True, help="Print the plan and the commands; write nothing at all.")
@click.option("--show-commands", type=click.IntRange(min=0), default=10, show_default=True,
              help="With --dry-run: how many commands to print.")
@click.option("--all-commands", is_flag=True, help="With --dry-run: print every command.")
def run(params: str, pipeline: str | None, root: str, catalog: str | None, backend: str, workers: int | None,
        max_configs: int | None, skip_existing: bool, fail_fast: bool, dry_run: bool, show_commands: int,
        all_commands: bool) -> None:
    """Expand the grid, plan the jobs and run the ones not done yet."""
    from . import sweep

    if dry_run:
        report = sweep.dry_run(sweep.prepare(params, pipeline=pipeline, root=root, max_configs=max_configs),
                               skip_existing=skip_existing)
        click.echo(format_dry_run(report, None if all_commands else show_commands))
        return
    result = sweep.run(params, pipeline=pipeline, root=root, catalog=catalog, backend=backend, workers=workers,
                       max_configs=max_configs, skip_existing=skip_existing, fail_fast=fail_fast,
                       argv=["trackdag", *sys.argv[1:]], on_event=_print_failure)
    click.echo(format_summary(result))
    sys.exit(result.exit_code)


def _print_failure(kind: str, job: Any, outcome: Any) -> None:
    if kind == "failed":
        click.echo(f"failed: {job.node}/{job.name}: {outcome.error}", err=True)


def _per_node(plan: Any, job_ids: Any) -> str:
    counts: dict[str, int] = {}
    for job_id in job_ids:
        node = plan.jobs[job_id].node
        counts[node] = counts.get(node, 0) + 1
    return ", ".join(f"{n}: {counts[n]}" for n in plan.pipeline.order if n in counts)


def format_dry_run(report: Any, limit: int | None) -> str:
    """The text printed by ``trackdag run --dry-run``."""
    import shlex

    plan = report.plan
    lines = [
        f"rows: {len(plan.rows)}",
        f"jobs: {len(plan.jobs)} ({_per_node(plan, plan.jobs)})",
        f"would run: {len(report.would_run)}" + (f" ({_per_node(plan, report.would_run)})" if report.would_run else ""),
        f"already done (skipped): {len(report.already_done)}",
        f"root: {plan.root}",
    ]
    lines += [f"note: {n}" for n in plan.notes]
    shown = report.would_run if limit is None else report.would_run[:limit]
    for job_id in shown:
        job = plan.jobs[job_id]
        lines += ["", f"# {job.node}/{job.name}", f"cd {shlex.quote(job.folder)} && {job.command}"]
    hidden = len(report.would_run) - len(shown)
    if hidden:
        lines += ["", f"... {hidden} more command(s); pass --all-commands to print them all"]
    return "\n".join(lines)


def format_summary(result: Any) -> str:
    """The few lines printed at the end of ``trackdag run``."""
    c = result.counts
    lines = [
        f"run {result.run_id}: {len(result.plan.jobs)} jobs from {len(result.plan.rows)} rows",
        f"  done: {c.done}  already done: {c.cached}  failed: {c.failed}  skipped: {c.skipped}"
        + (f"  cancelled: {c.cancelled}" if c.cancelled else ""),
        f"  time: {result.elapsed:.1f}s  root: {result.plan.root}",
        f"  catalog: {result.catalog}",
    ]
    lines += [f"  note: {n}" for n in result.plan.notes]
    if result.failures:
        lines.append("failed jobs:")
        lines += [f"  {f.job.node}/{f.job.name}: {f.outcome.error}; log: {f.log}" for f in result.failures]
    if result.interrupted:
        lines.append("interrupted: running jobs were stopped and marked cancelled")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
