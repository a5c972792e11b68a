"""The ``trackdag schedule``, ``aggregate`` and ``import`` commands: KWDagger's command lines, and its trees.

Options are spelled as KWDagger spells them, with ``_`` or ``-``
(``--root_dpath`` / ``--root-dpath``), and take KWDagger's values
(``--skip_existing=1``, ``--run=0``, ``--cache=False``); see
:mod:`.schedule` and :mod:`.aggregate` for what each becomes.  Only click is
imported here, so ``trackdag --help`` stays fast.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import click

#: KWDagger options with no meaning for trackdag: accepted, named once
IGNORED_SCHEDULE = ("enable_links", "log", "duplicate_policy", "pred_workers", "queue_size", "print_varied",
                    "monitor", "queue_name", "print_queue", "with_textual", "other_session_handler",
                    "virtualenv_cmd")
IGNORED_AGGREGATE = ("io_workers", "resource_report", "cache_resolved_results", "symlink_results", "embed",
                     "snapshot", "rois", "inspect", "query", "custom_query", "display_metric_cols")


def _option(name: str, **kwargs: Any) -> Callable:
    """An option spelled ``--a_b`` and ``--a-b``; a flag-like one also takes ``=value``."""
    spellings = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    return click.option(*spellings, name, **kwargs)


def _flag(name: str, help: str) -> Callable:
    """``--name`` (yes), ``--name=0`` / ``--name=False`` (no), and ``--no-name``."""
    def deco(func: Callable) -> Callable:
        func = _option(name, is_flag=False, flag_value="1", default=None, metavar="[0|1]", help=help)(func)
        return click.option(f"--no-{name.replace('_', '-')}", f"--no_{name}", f"no_{name}", is_flag=True,
                            hidden=True)(func)
    return deco


def _note_ignored(values: dict[str, Any], names: tuple[str, ...]) -> None:
    given = [n for n in names if values.get(n) not in (None, False)]
    if given:
        click.echo("note: " + ", ".join(f"--{n}" for n in given) + " have no meaning for trackdag: ignored", err=True)


def _schedule_options(func: Callable) -> Callable:
    for deco in reversed([
        _option("params", required=True, metavar="YAML|FILE", help="The parameter matrix (YAML/JSON text or file)."),
        _option("pipeline", metavar="REF", help="The pipeline; a 'pipeline:' key in the params wins over it."),
        _option("root_dpath", default="./kwdagger_output", show_default=True, help="The root folder (--root)."),
        _option("backend", default="tmux", show_default=True,
                help="serial (local, 1 worker), tmux (local, --tmux_workers), ray, local; slurm is refused."),
        _option("tmux_workers", type=int, default=8, show_default=True, help="Workers of --backend=tmux."),
        _option("ray_address", metavar="HOST:PORT", help="With --backend=ray: the cluster to join."),
        _option("skip_existing", default=None, metavar="0|1", help="Skip jobs already done (with --cache, the default)."),
        _flag("cache", "Skip jobs whose outputs exist (default yes; --no-cache with --skip_existing=0 reruns)."),
        _flag("run", "Run (default: print the plan and the commands, KWDagger's --run=0)."),
        _option("max_configs", type=int, help="Use only the first N rows of the grid."),
        _option("devices", help="GPUs for the local backends, e.g. 0,1 (auto: CUDA_VISIBLE_DEVICES or nvidia-smi)."),
        _option("slurm_options", help="Slurm options (YAML): cpus, gpus, mem become resources."),
        _flag("print_commands", "With --run=0: print every command."),
        *[_option(n, default=None, hidden=True) for n in IGNORED_SCHEDULE],
        click.option("--no-enable-links", "--no_enable_links", "no_enable_links", is_flag=True, hidden=True),
        click.option("--no-log", "--no_log", "no_log", is_flag=True, hidden=True),
        click.option("--no-print-varied", "--no_print_varied", "no_print_varied", is_flag=True, hidden=True),
    ]):
        func = deco(func)
    return func


def schedule_command(ctx: click.Context, **values: Any) -> None:
    """Run a KWDagger-style ``schedule`` command line on trackdag (see trackdag.compat.kwdagger.schedule)."""
    from ...cli import format_dry_run, format_summary
    from .schedule import schedule, truthy

    _note_ignored(values, IGNORED_SCHEDULE)
    if truthy(values["print_commands"]) and truthy(values["run"]):
        click.echo("note: --print_commands with --run=1: each job's command is in its invoke.sh "
                   "(`trackdag show JOB`); --run=0 --print_commands prints them all", err=True)
    cache = "0" if values.pop("no_cache") else values.get("cache")
    kind, result = schedule(params=values["params"], pipeline=values["pipeline"], root_dpath=values["root_dpath"],
                            backend=values["backend"], tmux_workers=values["tmux_workers"],
                            skip_existing=values["skip_existing"], cache=cache, run=values["run"],
                            max_configs=values["max_configs"], devices=values["devices"],
                            slurm_options=values["slurm_options"], ray_address=values["ray_address"],
                            argv=["trackdag", *sys.argv[1:]])
    if kind == "dry":
        click.echo(format_dry_run(result, None if truthy(values["print_commands"]) else 10))
        return
    click.echo(format_summary(result))
    ctx.exit(result.exit_code)


def _aggregate_options(func: Callable) -> Callable:
    for deco in reversed([
        click.argument("targets", nargs=-1, metavar="[TARGET]..."),
        click.option("--target", "target_opt", multiple=True, help="A root to report on (repeatable)."),
        _option("pipeline", default="auto", show_default=True, help="The pipeline for objectives (auto: the runs').",),
        _option("eval_nodes", help="The nodes to report, a YAML list such as '[evaluate]'."),
        _option("stdout_report", default="1", help="Print the report: 1/0, or options such as '{top_k: 10}'."),
        _option("output_dpath", default="./aggregate", show_default=True, help="Where exports and charts go."),
        _option("primary_metric_cols", help="Rank by these columns (a YAML list of metrics.<node>.<name>)."),
        _flag("export_tables", "Write every table and view as CSV into --output_dpath."),
        _option("plot_params", default=None, help="Charts: 1 (or {enabled: 1}) writes <output_dpath>/report.html."),
        *[_option(n, default=None, hidden=True) for n in IGNORED_AGGREGATE],
    ]):
        func = deco(func)
    return func


def aggregate_command(ctx: click.Context, **values: Any) -> None:
    """Run a KWDagger-style ``aggregate`` command line on trackdag (see trackdag.compat.kwdagger.aggregate)."""
    from .aggregate import aggregate, node_list

    _note_ignored(values, IGNORED_AGGREGATE)
    values.pop("no_export_tables", None)
    targets = list(values["targets"]) + [t for raw in values["target_opt"] for t in node_list(raw)]
    text = aggregate(targets=targets, pipeline=values["pipeline"], eval_nodes=values["eval_nodes"],
                     stdout_report=values["stdout_report"], output_dpath=values["output_dpath"],
                     export_tables=values["export_tables"], plot_params=values["plot_params"],
                     primary_metric_cols=values["primary_metric_cols"])
    if text:
        click.echo(text)


def import_command(ctx: click.Context, tree: str, pipeline: str, root: str | None, catalog: str | None) -> None:
    """Index a KWDagger 0.4.1 result tree DIR in a trackdag catalog, reading DIR only (nothing is run).

    Afterwards `trackdag report`, `sql`, `export` and `report --html` work on it
    (with the same --root/--catalog). Importing again adds only what is new.
    Exit codes: 0 imported, 1 some job folders could not be read (listed),
    2 bad input (nothing imported).
    """
    from .importer import format_summary, import_tree

    result = import_tree(tree, pipeline, root=root, catalog=catalog, argv=["trackdag", *sys.argv[1:]])
    if result.warning:
        click.echo(result.warning, err=True)
    click.echo(format_summary(result))
    ctx.exit(result.exit_code)


def _import_options(func: Callable) -> Callable:
    for deco in reversed([
        click.argument("tree", metavar="DIR", type=click.Path(file_okay=False)),
        click.option("--pipeline", required=True, metavar="REF",
                     help="The ported pipeline: 'file.py::func()', 'pkg.mod.func()' or 'pipeline.yaml'."),
        click.option("--root", type=click.Path(file_okay=False),
                     help="Where the catalog goes (the --root of later reports) [default: DIR itself, where "
                          "catalog.duckdb is then the only file written]."),
        click.option("--catalog", type=click.Path(dir_okay=False),
                     help="Catalog file [default: <root>/catalog.duckdb]."),
    ]):
        func = deco(func)
    return func


def register(group: click.Group) -> None:
    """Add ``schedule``, ``aggregate`` and ``import`` to the trackdag command."""
    group.command("schedule", context_settings={"show_default": False})(
        _schedule_options(click.pass_context(schedule_command)))
    group.command("aggregate")(_aggregate_options(click.pass_context(aggregate_command)))
    group.command("import")(_import_options(click.pass_context(import_command)))


__all__ = ["register", "schedule_command", "aggregate_command", "import_command"]
