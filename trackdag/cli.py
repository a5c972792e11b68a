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

from . import quick_exit
from .errors import TrackdagError


class TrackdagGroup(click.Group):
    """Translates library errors into one clear line and the family's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackdagError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:  # the disk refused (full, read-only, gone): say which file, no traceback
            if exc.errno is None:
                raise
            where = f" ({exc.filename})" if exc.filename else ""
            click.echo(f"Error: {exc.strerror or exc}{where}; free space or fix the folder, then run the same "
                       "command again (finished jobs are kept)", err=True)
            ctx.exit(1)


@click.group(cls=TrackdagGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trackdag", prog_name="trackdag")
def main() -> None:
    """Run shell-command pipelines over parameter grids; record every job in DuckDB."""


def _catalog_options(func: Any) -> Any:
    """--root / --catalog, shared by the commands that read a catalog."""
    func = click.option("--catalog", type=click.Path(dir_okay=False),
                        help="Catalog file [default: <root>/catalog.duckdb].")(func)
    func = click.option("--root", default="trackdag_output", show_default=True, type=click.Path(file_okay=False),
                        help="Folder that holds the job folders and the catalog.")(func)
    return func


@main.command()
@click.option("--params", required=True, metavar="YAML|FILE",
              help="The parameter matrix: YAML/JSON text or a path to a YAML file.")
@click.option("--pipeline", metavar="REF",
              help="'pkg.module.func()', 'file.py::func()' or 'pipeline.yaml' (default: 'pipeline:' in the params).")
@_catalog_options
@click.option("--backend", type=click.Choice(["ray", "local"]), default="ray", show_default=True,
              help="ray: a pool of Ray actors (private local Ray, or --ray-address); "
                   "local: a thread pool in this process, no start-up cost.")
@click.option("--ray-address", metavar="HOST:PORT", envvar="RAY_ADDRESS",
              help="Join this Ray cluster (its nodes must see --root) [env: RAY_ADDRESS].")
@click.option("--ray-timeout", type=click.FloatRange(min=0.1), metavar="SECONDS", envvar="TRACKDAG_RAY_TIMEOUT",
              help="Give up on an unreachable --ray-address after this long [default: 30; env: TRACKDAG_RAY_TIMEOUT].")
@click.option("--workers", type=click.IntRange(min=1),
              help="Jobs run at once [default: the CPUs Ray sees, or this machine's]; 1 = serial.")
@click.option("--retry", type=click.IntRange(min=0), default=0, show_default=True,
              help="Run a failed job again up to N times (every attempt is recorded).")
@click.option("--max-configs", type=click.IntRange(min=1), help="Use only the first N rows of the grid.")
@click.option("--limit", metavar="N", help="Run at most N rows not complete yet this time (run again for more).")
@click.option("--order", metavar="matrix|random|spread",
              help="Which rows --limit takes first: grid order, seeded random, or every value of every axis "
                   "as early as possible [default: matrix].")
@click.option("--seed", metavar="N", help="With --order random: the permutation's seed [default: 0].")
@click.option("--grid-limit", type=click.IntRange(min=0), default=1_000_000, show_default=True, metavar="N",
              help="Refuse a grid of more than N rows, counted before any row is made; 0 = no limit.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Kill a job still running after this long and record a timeout (a node's own timeout wins).")
@click.option("--log-limit", type=click.IntRange(min=0), metavar="BYTES", envvar="TRACKDAG_LOG_LIMIT",
              help="Keep at most this much of each job's stdout.log/stderr.log (head and tail) "
                   "[default: 100 MiB; 0 = all; env: TRACKDAG_LOG_LIMIT].")
@click.option("--hash-outputs", is_flag=True,
              help="Keep a sha256 of every output in the done record, for `trackdag verify --hash`.")
@click.option("--skip-existing/--no-skip-existing", default=True, show_default=True,
              help="Skip jobs whose done record matches; --no-skip-existing reruns them.")
@click.option("--fail-fast", is_flag=True, help="Start no new job after the first failure.")
@click.option("--rerun", multiple=True, metavar="SELECTOR",
              help="Run these done jobs again, old outputs moved to .superseded/: a job id or folder, a node, "
                   "or a SQL predicate over job_state and params.* columns. Repeatable (union).")
@click.option("--no-downstream", is_flag=True, help="With --rerun: not the done jobs downstream of the selected.")
@click.option("--env", "env_items", multiple=True, metavar="KEY[=VALUE]",
              help="Set KEY in every job's environment (KEY alone: its value here). Repeatable.")
@click.option("--dry-run", is_flag=True, help="Print the plan and the commands; write nothing at all.")
@click.option("--show-commands", type=click.IntRange(min=0), default=10, show_default=True,
              help="With --dry-run: how many commands to print.")
@click.option("--all-commands", is_flag=True, help="With --dry-run: print every command.")
@click.option("--explain", is_flag=True, help="With --dry-run: say for every job why it would run or be skipped.")
def run(params: str, pipeline: str | None, root: str, catalog: str | None, backend: str, ray_address: str | None,
        ray_timeout: float | None, workers: int | None, retry: int, max_configs: int | None,
        limit: str | None, order: str | None, seed: str | None, grid_limit: int, timeout: float | None, log_limit: int | None, hash_outputs: bool, skip_existing: bool, fail_fast: bool,
        rerun: tuple[str, ...], no_downstream: bool, env_items: tuple[str, ...], dry_run: bool, show_commands: int, all_commands: bool, explain: bool) -> None:
    """Expand the grid, plan the jobs and run the ones not done yet.

    Progress goes to stderr, the summary to stdout. Exit codes: 0 every job
    done, 1 some job failed, 2 bad input (nothing ran), 130 interrupted.
    """
    from . import sweep
    from .order import check_fill
    from .progress import Progress

    fill = dict(zip(("limit", "order", "seed"), check_fill(limit, order, seed)), rerun=rerun,
                downstream=not no_downstream)
    if dry_run:
        prepared = sweep.prepare(params, pipeline=pipeline, root=root, max_configs=max_configs, grid_limit=grid_limit)
        quick_exit.arm()  # (the process ends after the report: its objects need no collecting, nor freeing)
        report = sweep.dry_run(prepared, skip_existing=skip_existing, catalog=catalog, **fill)
        click.echo(format_explain(report, None if all_commands else show_commands) if explain
                   else format_dry_run(report, None if all_commands else show_commands))
        if report.problem:
            click.echo(f"Error: the run would fail: {report.problem}", err=True)
            sys.exit(2)
        return
    if explain:
        raise click.UsageError("--explain goes with --dry-run (or use `trackdag explain JOB`)")
    shown: dict[str, Progress] = {}

    def on_plan(plan: Any, n_to_run: int) -> None:
        shown["progress"] = Progress(n_to_run)

    def on_event(kind: str, job: Any, outcome: Any) -> None:
        if "progress" in shown:
            shown["progress"].event(kind, job, outcome)

    def on_tick() -> None:
        if "progress" in shown:
            shown["progress"].tick()

    try:
        result = sweep.run(params, pipeline=pipeline, root=root, catalog=catalog, backend=backend,
                           workers=workers, ray_address=ray_address, ray_timeout=ray_timeout, retry=retry,
                           max_configs=max_configs, grid_limit=grid_limit, timeout=timeout, log_limit=log_limit,
                           hash_outputs=hash_outputs,
                           skip_existing=skip_existing, fail_fast=fail_fast, env=_parse_env(env_items), **fill,
                           argv=["trackdag", *sys.argv[1:]],
                           on_plan=on_plan, on_event=on_event, on_tick=on_tick)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    finally:
        if "progress" in shown:
            shown["progress"].close()
    click.echo(format_summary(result))
    sys.exit(result.exit_code)


def _parse_env(items: tuple[str, ...]) -> dict[str, str]:
    import os

    env = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise click.BadParameter(f"{item!r}: write KEY=VALUE or KEY", param_hint="--env")
        env[key] = value if eq else os.environ.get(key, "")
    return env


@main.command()
@_catalog_options
@click.option("--run", "run_id", metavar="RUN_ID", help="A past run instead of the latest one.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(root: str, catalog: str | None, run_id: str | None, fmt: str) -> None:
    """Job counts by node and state, running jobs with their age, failed jobs with their logs.

    Works from another shell while a run is active.
    """
    from . import status as st

    report = st.status(root, catalog=catalog, run_id=run_id)
    if fmt == "json":
        import dataclasses
        import json

        click.echo(json.dumps(dataclasses.asdict(report), default=str, indent=2))
    else:
        click.echo(st.format_status(report))


@main.command()
@click.argument("job", required=False, default=".")
@click.option("--root", type=click.Path(file_okay=False),
              help="Folder that holds the job folders and the catalog [default: the root of the job folder "
                   "JOB is in, else trackdag_output].")
@click.option("--catalog", type=click.Path(dir_okay=False), help="Catalog file [default: <root>/catalog.duckdb].")
@click.option("--lines", type=click.IntRange(min=0), default=20, show_default=True, help="Log lines to show.")
def show(job: str, root: str | None, catalog: str | None, lines: int) -> None:
    """Config, command, state, attempts, lineage and log tail of JOB.

    JOB is a short id (or a unique prefix of one), a full id, a folder name
    (node_id_xxxxxxxxxxxx) or a path in a job folder [default: ., the job
    folder you are in].
    """
    from . import status as st

    click.echo(st.format_show(st.show(job, root, catalog=catalog, lines=lines)))


def _per_node(plan: Any, job_ids: Any = None) -> str:
    """``node: count, ...`` of ``job_ids`` (default: every job), in pipeline order."""
    from collections import Counter

    jobs = plan.jobs
    counts = Counter(job.node for job in jobs.values()) if job_ids is None else Counter(jobs[j].node for j in job_ids)
    return ", ".join(f"{n}: {counts[n]}" for n in plan.pipeline.order if n in counts)


def format_dry_run(report: Any, limit: int | None) -> str:
    """The text printed by ``trackdag run --dry-run``."""
    import shlex

    plan = report.plan
    every_node = _per_node(plan)
    would_nodes = every_node if len(report.would_run) == len(plan.jobs) else _per_node(plan, report.would_run)
    lines = [
        f"rows: {len(plan.rows)}",
        *(report.fill.taken_lines(plan.rows, limit) if report.fill else []),
        f"jobs: {len(plan.jobs)} ({every_node})",
        f"would run: {len(report.would_run)}" + (f" ({would_nodes})" if report.would_run else ""),
        f"already done (skipped): {len(report.already_done)}",
        *(report.rerun.lines(plan, limit) if report.rerun else []),
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


def format_explain(report: Any, limit: int | None) -> str:
    """``trackdag run --dry-run --explain``: the plan's counts, then each job's action and reason."""
    from .verify import explain_plan

    plan = report.plan
    reasons = explain_plan(plan, report.would_run)
    reasons.update({j: ("run", report.rerun.reason(j)) for j in report.rerun.job_ids} if report.rerun else {})
    lines = format_dry_run(report, 0).split("\n")
    lines = [line for line in lines if not line.startswith("... ")]
    by_reason: dict[str, int] = {}
    for action, reason in reasons.values():
        key = f"{action}: {reason.split(':')[0].split(';')[0]}"
        by_reason[key] = by_reason.get(key, 0) + 1
    lines += [""] + [f"{n:>7}  {key}" for key, n in sorted(by_reason.items())]
    items = list(reasons.items()) if limit is None else list(reasons.items())[:limit]
    lines.append("")
    lines += [f"{plan.jobs[j].node}/{plan.jobs[j].name}: {action}: {reason}" for j, (action, reason) in items]
    if len(items) < len(reasons):
        lines.append(f"... {len(reasons) - len(items)} more job(s); pass --all-commands to explain them all")
    return "\n".join(lines)


def format_summary(result: Any) -> str:
    """The few lines printed at the end of ``trackdag run``."""
    c, fill = result.counts, result.fill
    rows = f"{len(result.plan.rows)} rows"
    rows = f"{fill.rows} of {rows} ({fill.describe()})" if fill else rows
    lines = [
        f"run {result.run_id}: {len(result.plan.jobs)} jobs from {rows}",
        f"  done: {c.done}  already done: {c.cached}  failed: {c.failed}  skipped: {c.skipped}"
        + (f"  cancelled: {c.cancelled}" if c.cancelled else "")
        + (f"  not started: {c.not_started}" if c.not_started else ""),
        *([f"  {fill.filled_line()}"] if fill else []),
        *([f"  {result.rerun.line()}"] if result.rerun else []),
        f"  time: {result.elapsed:.1f}s  root: {result.plan.root}",
        f"  catalog: {result.catalog}",
    ]
    lines += [f"  note: {n}" for n in result.plan.notes]
    if result.failures:
        lines.append("failed jobs:")
        lines += [f"  {f.job.node}/{f.job.name}: {f.outcome.error}; log: {f.log}" for f in result.failures]
    if result.interrupted:
        lines.append("interrupted: running jobs were stopped and marked cancelled")
    if result.catalog_held:
        lines.append(f"  note: {result.catalog_held.split('; wait')[0]}: the last outcomes "
                     "are kept in the job folders and reach the catalog with the next `trackdag run` or "
                     "`trackdag reindex` on this root")
    return "\n".join(lines)



# -- the disk and the catalog: reindex, verify, explain -------------------------------------
@main.command()
@_catalog_options
def reindex(root: str, catalog: str | None) -> None:
    """Bring the catalog in line with the job folders and run records under --root (creates it if missing).

    The job folders are the record; the catalog is their index: after a
    deleted or corrupt catalog (move it away first), this gives back every
    job, attempt, result and run.
    """
    from .reindex import reindex as do_reindex

    counts = do_reindex(root, catalog)
    if counts.get("moved_aside"):
        click.echo(f"the damaged catalog was moved to {counts['moved_aside']}", err=True)
    click.echo(f"{counts['folders']} job folders and {counts['runs']} run records read: {counts['jobs']} jobs, "
               f"{counts['attempts']} attempts and {counts['results']} results recorded")


@main.command()
@_catalog_options
@click.option("--hash", "content", is_flag=True,
              help="Also compare each output's sha256 (for outputs recorded with run --hash-outputs).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def verify(root: str, catalog: str | None, content: bool, fmt: str) -> None:
    """List every disagreement between the catalog and the job folders; exit 1 if there is any."""
    import json

    from .verify import verify as do_verify

    problems = do_verify(root, catalog, content=content)
    if fmt == "json":
        click.echo(json.dumps([p.__dict__ for p in problems], indent=2))
    else:
        click.echo("\n".join(p.line() for p in problems) if problems else "catalog and job folders agree")
    sys.exit(1 if problems else 0)


@main.command()
@click.argument("job", required=False, default=".")
@click.option("--root", type=click.Path(file_okay=False),
              help="Folder that holds the job folders and the catalog [default: as for `trackdag show`].")
@click.option("--catalog", type=click.Path(dir_okay=False), help="Catalog file [default: <root>/catalog.duckdb].")
def explain(job: str, root: str | None, catalog: str | None) -> None:
    """Why the next run would run or skip JOB (a short id or prefix, full id, folder name or folder)."""
    from .verify import explain_job

    found = explain_job(job, root, catalog=catalog)
    click.echo(f"{found['job']}: {found['action']}: {found['reason']}")


@main.command()
@click.argument("a")
@click.argument("b")
@click.option("--root", type=click.Path(file_okay=False),
              help="Folder that holds the job folders and the catalog [default: as for `trackdag show`].")
@click.option("--catalog", type=click.Path(dir_okay=False), help="Catalog file [default: <root>/catalog.duckdb].")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def diff(a: str, b: str, root: str | None, catalog: str | None, fmt: str) -> None:
    """How jobs A and B differ: effective params, ancestor jobs, why their ids differ, metrics.

    A and B are what `trackdag show` takes (a short id or prefix, full id,
    folder name or folder) or param_hashids from `trackdag report`.
    """
    from .diff import diff_jobs, format_diff

    found = diff_jobs(a, b, root, catalog=catalog)
    if fmt == "json":
        import json

        click.echo(json.dumps(found.as_dict(), indent=2, default=str))
    else:
        click.echo(format_diff(found))


@main.command()
@_catalog_options
@click.option("--not-in", "not_in", metavar="PARAMS", help="Jobs this sweep (YAML/JSON text or file) does not plan.")
@click.option("--pipeline", metavar="REF", help="With --not-in: the pipeline, as for `trackdag run`.")
@click.option("--failed", is_flag=True, help="Jobs without a done record: failed, cancelled, skipped leftovers.")
@click.option("--superseded", is_flag=True, help="Outputs `run --rerun` moved aside (<job>/.superseded/).")
@click.option("--ray-logs", "ray_logs", type=click.FloatRange(min=0), metavar="DAYS",
              help="<root>/ray-logs/session_* not modified for DAYS days.")
@click.option("--yes/--dry-run", "yes", default=False, help="Remove them [default: --dry-run, only show them].")
@click.option("--all", "show_all", is_flag=True, help="List every path [default: the first 20].")
def clean(root: str, catalog: str | None, not_in: str | None, pipeline: str | None, failed: bool,
          superseded: bool, ray_logs: float | None, yes: bool, show_all: bool) -> None:
    """Remove job folders and catalog rows a sweep no longer needs, after showing them.

    Without a category: --failed and --superseded. Without --yes nothing is removed.
    """
    from .clean import SHOWN, apply_clean, format_clean, plan_clean

    plan = plan_clean(root, catalog, not_in=not_in, pipeline=pipeline, failed=failed, superseded=superseded,
                      ray_logs=ray_logs)
    removed = apply_clean(plan) if yes and (plan.items or plan.leftovers) else None
    click.echo(format_clean(plan, removed=removed, limit=None if show_all else SHOWN))


# -- results: report, sql, export, schema ---------------------------------------------------
@main.command()
@_catalog_options
@click.option("--node", "nodes", multiple=True, metavar="NODE",
              help="Report this node (repeatable) [default: every node with metrics].")
@click.option("--top-k", type=click.IntRange(min=1), default=10, show_default=True, help="Rows per node.")
@click.option("--metric", "metrics", multiple=True, metavar="NAME[:min|max]",
              help="Rank by this metric (repeatable, in order) instead of the node's default_metrics.")
@click.option("--where", metavar="SQL", help='Filter rows of results_<node>, e.g. \'"params.a.lr" < 0.1\'.')
@click.option("--average-over", metavar="KEY",
              help="Average metrics over this parameter (e.g. a dataset); shows how many values each covers.")
@click.option("--pipeline", metavar="REF", help="Pipeline for metric objectives [default: the latest run's].")
@click.option("--run", "run_id", metavar="RUN_ID",
              help="The report as of this run (an id or a unique prefix): the jobs it planned, each with its "
                   "state and result at its end.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--html", "html_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write a self-contained HTML page (tables, charts, run summary, runs, failures) to FILE "
                   "instead of printing; prints its path.")
def report(root: str, catalog: str | None, nodes: tuple[str, ...], top_k: int, metrics: tuple[str, ...],
           where: str | None, average_over: str | None, pipeline: str | None, run_id: str | None, fmt: str,
           html_path: str | None) -> None:
    """Rank each node's results: Varied Basis, Constant Params, LUT and Top k (best first)."""
    from .api import catalog_path
    from .report import build_report, format_json, format_text

    if html_path:
        from .html_report import write_html_report

        written = write_html_report(html_path, catalog_path(root, catalog), nodes=nodes, top_k=top_k,
                                    metrics=metrics, where=where, average_over=average_over, pipeline=pipeline,
                                    run=run_id)
        click.echo(f"{written.n_charts} charts, {written.size / 1e6:.1f} MB", err=True)
        click.echo(written.path)
        return
    result = build_report(catalog_path(root, catalog), nodes=nodes, top_k=top_k, metrics=metrics, where=where,
                          average_over=average_over, pipeline=pipeline, run=run_id)
    click.echo(format_json(result) if fmt == "json" else format_text(result))


@main.command()
@click.argument("query")
@_catalog_options
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout (parquet needs it).")
@click.option("--read-files", "read_files", multiple=True, type=click.Path(file_okay=False, exists=True),
              metavar="DIR", help="Let the query read the files of DIR (read_csv, read_parquet...); SELECT only. "
                                  "Repeatable. [default: the catalog only]")
def sql(query: str, root: str, catalog: str | None, fmt: str, out: str | None, read_files: tuple[str, ...]) -> None:
    """Run a read-only SQL query on the catalog (views: job_state, metrics, results_<node>, ...).

    The connection cannot write anything: not the catalog, not any file.
    """
    if fmt == "parquet" and not out:
        raise click.UsageError("--format parquet needs --out FILE")
    from .api import catalog_path, query as run_query
    from .export import write_table

    table = run_query(catalog_path(root, catalog), query, read_files=list(read_files) or None)
    write_table(table, fmt, out if out else sys.stdout)
    if out:
        click.echo(f"wrote {table.num_rows} rows to {out}", err=True)


@main.command("export")
@_catalog_options
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write the files into.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
def export_(root: str, catalog: str | None, out: str, fmt: str) -> None:
    """Write every view and table to Parquet (or CSV) files, with a manifest.json."""
    from .api import catalog_path
    from .export import MANIFEST, export_catalog

    manifest = export_catalog(catalog_path(root, catalog), out, fmt=fmt)
    for item in manifest["objects"]:
        click.echo(f"{item['file']}\t{item['rows']} rows")
    click.echo(f"{MANIFEST}\tschema version {manifest['schema_version']}, {len(manifest['objects'])} files in {out}")


@main.command()
@_catalog_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def schema(root: str, catalog: str | None, fmt: str) -> None:
    """List the views (with the question each answers) and tables, with their columns."""
    import json

    from .api import catalog_path, describe_catalog

    relations = describe_catalog(catalog_path(root, catalog))
    if fmt == "json":
        click.echo(json.dumps([{"name": r.name, "kind": r.kind, "comment": r.comment,
                                "columns": [{"name": c, "type": t} for c, t in r.columns]} for r in relations],
                              indent=2))
        return
    blocks = []
    for rel in relations:
        width = max((len(c) for c, _ in rel.columns), default=0)
        head = f"{rel.kind} {rel.name}" + (f": {rel.comment}" if rel.comment else "")
        blocks.append("\n".join([head] + [f"    {c.ljust(width)}  {t}" for c, t in rel.columns]))
    click.echo("\n\n".join(blocks))


@main.command()
@_catalog_options
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write the charts into.")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "html"]), default="png", show_default=True,
              help="png/svg rendered offline by vl-convert; html: one self-contained page per chart.")
@click.option("--node", "nodes", multiple=True, metavar="NODE",
              help="Chart this node (repeatable) [default: every node with metrics].")
def plot(root: str, catalog: str | None, out: str, fmt: str, nodes: tuple[str, ...]) -> None:
    """Write the report's charts as files: metrics vs parameters, vantage points, timeline, durations."""
    from .api import catalog_path
    from .charts import build_charts, save_charts

    charts = build_charts(catalog_path(root, catalog), nodes=nodes)
    for note in charts.notes:
        click.echo(f"note: {note}", err=True)
    for path in save_charts(charts.charts, out, fmt):
        click.echo(path)


@main.command()
@click.argument("folder", default=".")
@click.option("--yaml", "as_yaml", is_flag=True, help="Write the pipeline as pipeline.yaml instead of pipelines.py.")
def init(folder: str, as_yaml: bool) -> None:
    """Write a small working project into FOLDER (default: here) to edit: two nodes, a sweep, a README.

    Never overwrites a file.  Then: cd FOLDER && trackdag run --params params.yaml && trackdag report
    """
    from .init import init_project

    for path in init_project(folder, yaml=as_yaml):
        click.echo(path)
    where = "" if folder in (".", "./") else f"cd {folder} && "
    click.echo(f"next: {where}trackdag run --params params.yaml && trackdag report", err=True)


# KWDagger's command lines (`trackdag schedule`, `trackdag aggregate`): see trackdag.compat.kwdagger.
from .compat.kwdagger.cli import register as _register_kwdagger  # noqa: E402

_register_kwdagger(main)


def entry() -> None:
    """The installed ``trackdag`` command (see :mod:`trackdag.quick_exit`)."""
    quick_exit.run_command(main)


if __name__ == "__main__":
    entry()
