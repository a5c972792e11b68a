"""The HTML report's page shell: escaping, the style, the two small scripts and the page around a body.

What every page of :mod:`trackdag.html_report` (the report, a chart's own
page) is made of, apart from its content: :func:`e` escapes every name and
value for HTML (quotes too), :func:`script_json` writes JSON that no value
can break out of a ``<script>`` element with, and :func:`page` puts a body,
the Vega bundle and the charts' specs into one self-contained document
under a Content-Security-Policy (:data:`CSP`) that refuses any request.

Example:
    >>> e('<a href="x">')
    '&lt;a href=&quot;x&quot;&gt;'
    >>> script_json({"v": "</script>", "x": float("nan")})
    '{"v":"\\\\u003c/script\\\\u003e","x":null}'
"""
from __future__ import annotations

import html
import json
import math
from typing import Any

CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:")
EMBED_OPTIONS = {"mode": "vega-lite", "renderer": "svg", "actions": {"export": True, "source": False, "compiled": False,
                                                "editor": False}}


def e(value: Any) -> str:
    """Text for HTML (quotes too, so it is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (NaN/inf become null)."""
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=False, default=str, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_clean(value), ensure_ascii=True, allow_nan=False, default=str, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1400px;padding:0 1.2em 3em;
 color:#222;line-height:1.4}
header{border-bottom:1px solid #ddd;margin-bottom:1em}
nav a{margin-right:1em}
h2{border-bottom:1px solid #eee;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 1.2em .8em 0;font-size:.9em}
caption{text-align:left;font-weight:600;padding:.2em 0}
th,td{border:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.id{font-family:ui-monospace,monospace}
td.bad{color:#c00;font-weight:600}
table.runs tr.current td{background:#fff8dc}
table.runs details pre{max-height:12em;margin:.2em 0}
p.scope{background:#fff8dc;padding:.4em .6em;border-left:3px solid #d4a017}
table.sortable thead th{cursor:pointer;user-select:none;background:#f6f6f6;white-space:nowrap}
table.sortable thead th:hover{background:#eaeaea}
table.sortable thead th[aria-sort=ascending]::after{content:" \\25B2"}
table.sortable thead th[aria-sort=descending]::after{content:" \\25BC"}
.blocks{display:flex;flex-wrap:wrap;align-items:flex-start}
.charts{display:flex;flex-wrap:wrap;gap:1em}
figure.chart-box{margin:0;border:1px solid #eee;padding:.4em;overflow-x:auto;max-width:100%}
dl.facts{display:flex;flex-wrap:wrap;gap:.2em 1.6em;margin:.4em 0}
dl.facts div{display:flex;gap:.4em}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0;word-break:break-all}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;max-height:24em}
pre.stderr{border-left:3px solid #c00}
.note{color:#8a5a00}
.empty{color:#777}
article.failure h3{margin-bottom:.2em;font-family:ui-monospace,monospace;font-size:1em}
"""

SORT_JS = """
(function () {
  function key(cell, numeric) {
    var raw = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent;
    if (raw === '') return null;
    if (!numeric) return raw;
    var n = Number(raw);
    return isNaN(n) ? null : n;
  }
  function sortBy(th) {
    var table = th.closest('table'), body = table.tBodies[0], heads = th.parentNode.children;
    var col = Array.prototype.indexOf.call(heads, th);
    var numeric = th.getAttribute('data-type') === 'number';
    var now = th.getAttribute('aria-sort');
    var dir = now ? (now === 'ascending' ? 'descending' : 'ascending') : (th.getAttribute('data-first') || 'ascending');
    Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir);
    var sign = dir === 'ascending' ? 1 : -1;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var a = key(r1.cells[col], numeric), b = key(r2.cells[col], numeric);
      if (a === null || b === null) return (a === null) - (b === null);  // missing values last
      var c = numeric ? a - b : String(a).localeCompare(String(b), undefined, {numeric: true});
      return sign * c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll('table.sortable thead th').forEach(function (th) {
    th.tabIndex = 0;
    th.addEventListener('click', function () { sortBy(th); });
    th.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); sortBy(th); }
    });
  });
})();
"""

EMBED_JS = """
(function () {
  var specs = JSON.parse(document.getElementById('td-specs').textContent);
  var options = JSON.parse(document.getElementById('td-embed-options').textContent);
  document.querySelectorAll('div.td-chart').forEach(function (el) {
    vegaEmbed(el, specs[Number(el.getAttribute('data-spec'))], options)
      .then(function () { el.setAttribute('data-rendered', 'yes'); })
      .catch(function (err) {
        el.setAttribute('data-rendered', 'error');
        el.textContent = 'This chart could not be drawn: ' + err;
        console.error(err);
      });
  });
})();
"""


def page(title: str, body: str, specs: list[dict[str, Any]], bundle: str) -> str:
    """A whole page: the style, the Vega bundle, ``body``, the specs and the two small scripts."""
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
        f"<style>{STYLE}</style>",
        f"<script>{bundle}</script>" if specs else "",
        "</head><body>",
        body,
        f'<script type="application/json" id="td-specs">{script_json(specs)}</script>',
        f'<script type="application/json" id="td-embed-options">{script_json(EMBED_OPTIONS)}</script>',
        f"<script>{SORT_JS}</script>",
        f"<script>{EMBED_JS}</script>" if specs else "",
        "</body></html>",
    ])


__all__ = ["CSP", "EMBED_OPTIONS", "STYLE", "e", "script_json", "page"]
