"""The report as text, in the seed's four blocks per node, and as JSON.

Text is for people (strings as they are, numbers right-aligned like pandas'
``to_string``); ``--format json`` keeps the types for programs.

Example:
    >>> format_value('README.rst'), format_value(123), format_value([1, 'a'])
    ('README.rst', '123', '[1, "a"]')
"""
from __future__ import annotations

import json
from typing import Any

from .report_model import ORDER_NOTE, NodeReport, Report


def format_value(value: Any) -> str:
    """A value as the report shows it: strings as they are (``README.rst``, not ``'README.rst'``),
    numbers, booleans and None as Python prints them, lists and mappings as JSON.

    ``--format json`` keeps the types for programs; this is for people.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return repr(value)


def _block(title: str, mapping: dict[str, Any]) -> list[str]:
    if not mapping:
        return [f"{title}{{}}"]
    lines = [f"{title}{{"]
    for key, value in mapping.items():
        if isinstance(value, dict):
            if not value:
                lines.append(f"    {format_value(key)}: {{}},")
                continue
            lines.append(f"    {format_value(key)}: {{")
            lines += [f"        {format_value(k)}: {format_value(v)}," for k, v in value.items()]
            lines.append("    },")
        else:
            lines.append(f"    {format_value(key)}: {format_value(value)},")
    lines.append("}")
    return lines


def format_column(values: list[Any]) -> tuple[list[str], bool]:
    """Cells of one column, pandas-like: whole floats as ints, others to 6 decimals (common zeros trimmed)."""
    present = [v for v in values if v is not None]
    numeric = bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    if not numeric:
        return [("None" if v is None else str(v)) for v in values], False
    if all(float(v).is_integer() for v in present):
        cells = [None if v is None else str(int(v)) for v in values]
    else:
        cells = [None if v is None else f"{v:.6f}" for v in values]
        trim = min(len(c) - len(c.rstrip("0")) for c in cells if c is not None)
        trim = min(trim, 5)
        cells = [None if c is None else (c[:-trim] if trim else c) for c in cells]
    return [" NaN" if c is None else (c if c.startswith("-") else " " + c) for c in cells], True


def format_table(headers: list[str], rows: list[list[Any]], *, plain: int = 0) -> list[str]:
    """A right-aligned text table like pandas' ``to_string(index=False)``.

    Numeric cells (and their headers) keep pandas' sign slot, a leading
    space; the first ``plain`` columns are laid out as text.

    >>> print("\\n".join(format_table(['id', 'acc', 'n'], [['a', 0.5, 3], ['b', 0.25, 12]], plain=1)))
    id   acc   n
     a  0.50   3
     b  0.25  12
    """
    columns, numeric = [], []
    for i in range(len(headers)):
        values = [r[i] for r in rows]
        cells, is_num = format_column(values) if i >= plain else ([str(v) for v in values], False)
        columns.append(cells)
        numeric.append(is_num)
    widths = [max([len(h) + is_num] + [len(c) for c in col]) for h, col, is_num in zip(headers, columns, numeric)]
    lines = [" ".join(h.rjust(w) for h, w in zip(headers, widths))]
    for i in range(len(rows)):
        lines.append(" ".join(col[i].rjust(w) for col, w in zip(columns, widths)))
    return lines


def format_node(report: NodeReport) -> str:
    """One node's report as text, in the seed's layout."""
    ranking = ", ".join(f"{m.name} ({m.objective})" for m in report.ranking) or "nothing"
    lines = [f"== {report.node} ==", f"ranked by: {ranking}; {ORDER_NOTE}"]
    if report.where:
        lines.append(f"filter: {report.where}")
    if report.average_over:
        values = ", ".join(format_value(v) for v in report.average_values or [])
        lines.append(f"averaged over {report.average_over} ({len(report.average_values or [])} values: {values}); "
                     "n_values = how many of them each average covers")
    lines += [f"Note: {n}" for n in report.notes]
    if not report.rows:
        lines.append(f"No {report.node} results to report" + (" (after the filter)" if report.where else ""))
        return "\n".join(lines)
    basis = {k: {v: n for v, n in counts} if all(_hashable(v) for v, _ in counts) else
             {json.dumps(v): n for v, n in counts} for k, counts in report.varied_basis.items()}
    lines += _block("Varied Basis: = ", basis)
    lines += _block("Constant Params: ", report.constant_params)
    lines += _block("Varied Parameter LUT: ", report.varied_lut)
    lines.append("---")
    lines.append(f"Top {len(report.rows)} / {report.n_rows} for {report.node}")
    headers = ["rank", "param_hashid"] + [m.name for m in report.display]
    extra = ["n_values", "n_rows"] if report.average_over else []
    table = [[r["rank"], r["param_hashid"]] + [r["metrics"][m.name] for m in report.display] + [r[k] for k in extra]
             for r in report.rows]
    lines += format_table(headers + extra, table, plain=2)
    return "\n".join(lines)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def format_text(report: Report) -> str:
    """The whole report as text: one block per node, separated by blank lines (after the run's line, with --run)."""
    from .run_scope import run_counts_line

    parts = [run_counts_line(report.run) + "; results as of its end"] if report.run else []
    parts += [f"Note: {n}" for n in report.notes]
    parts += [format_node(n) for n in report.nodes]
    return "\n\n".join(parts) if parts else "Nothing to report"


def format_json(report: Report) -> str:
    """The same content as JSON."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str)
