"""html_report: the report's blocks from the same computation, one inlined copy of Vega, escaping, failures, CLI."""
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import label_catalog, label_pipeline, run_demo
from trackdag.cli import main
from trackdag.html_report import build_html_report, vega_bundle, write_html_report
from trackdag.report import build_report

XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("html") / "demo")


@pytest.fixture(scope="module")
def demo_page(demo_root):
    text, n_charts, notes = build_html_report(demo_root)
    assert n_charts == 7 and notes == []
    return text


@pytest.fixture(scope="module")
def xss_root(tmp_path_factory):
    """A sweep with a hostile label value, a metric named '<i>odd</i>' and failing jobs with HTML on stderr."""
    folder = tmp_path_factory.mktemp("xss")
    return label_catalog(folder, [XSS, "plain"], [1, 2, 3], fail_at="3"), folder


def _specs(text):
    return json.loads(re.search(r'<script type="application/json" id="td-specs">(.*?)</script>', text, re.S)[1])


def _leaderboard_ids(text):
    table = re.search(r'<table class="sortable leaderboard".*?</table>', text, re.S)[0]
    return re.findall(r'<td class="id" data-sort="(\w+)">', table)


def test_page_shows_the_report_blocks_in_the_report_order(demo_root, demo_page):
    report = build_report(demo_root)
    node = report.nodes[0]
    for caption in ("Top 8 / 8 for stage1_evaluate", "Varied Basis", "Constant Params", "Varied Parameter LUT"):
        assert f"<caption>{caption}</caption>" in demo_page
    assert _leaderboard_ids(demo_page) == [r["param_hashid"] for r in node.rows]
    assert "ranked by: accuracy (maximize), hamming_distance (minimize)" in demo_page
    # the leaderboard's header cells: metrics sort best first on the first click, params ascending
    assert re.search(r'<th data-type="number" data-first="descending" title="maximize">accuracy</th>', demo_page)
    assert re.search(r'<th data-type="number" data-first="ascending" title="minimize">hamming_distance</th>',
                     demo_page)
    assert '<th data-type="number" data-first="ascending" title="params.stage1_predict.param1">' in demo_page
    # values as the text report shows them: README.rst without Python quotes, numbers right-aligned
    assert "<td>README.rst</td>" in demo_page and "&#x27;README.rst&#x27;" not in demo_page
    assert re.search(r'<td class="num" data-sort="123">123</td>', demo_page)
    # run summary and (no) failures
    assert 'id="run"' in demo_page and "Failed jobs (0)" in demo_page
    assert re.search(r"<th>stage1_predict</th><td class=\"num\">8</td>", demo_page)


def test_page_is_self_contained_with_one_copy_of_vega(demo_page):
    assert demo_page.count(vega_bundle()) == 1
    ours = demo_page.replace(vega_bundle(), "")  # the bundle's JS holds HTML snippets of its own, as strings
    assert not re.search(r"<(script|img|iframe|link|embed|object)\b[^>]*\b(src|href)\s*=", ours, re.I)
    ours = re.sub(r'"\$schema":"https://vega\.github\.io/schema/vega-lite/v[\d.]+\.json"', "", ours)  # an id only
    assert "@import" not in ours and "http" not in ours.replace("http-equiv", "")
    assert len(demo_page.encode()) < len(vega_bundle().encode()) + 200_000
    assert "Content-Security-Policy" in demo_page and "default-src &#x27;none&#x27;" in demo_page
    specs = _specs(demo_page)
    assert len(specs) == 7 and len(re.findall(r'<div class="td-chart" id="chart-\d+" data-spec="\d+"', demo_page)) == 7
    # data is inline: no spec loads a URL
    assert not any("url" in data for spec in specs for data in [spec.get("data", {})] if isinstance(data, dict))
    assert all("datasets" in spec for spec in specs)


def test_every_name_and_value_is_escaped(xss_root):
    root, folder = xss_root
    text, _n, _notes = build_html_report(root, pipeline=label_pipeline(folder), metrics=["score", "<i>odd</i>:max"])
    text = text.replace(vega_bundle(), "")
    assert XSS not in text and "<i>odd</i>" not in text and "<img src=x" not in text
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in text      # the value, shown as text
    assert "&lt;i&gt;odd&lt;/i&gt;" in text                                    # a metric name
    # in the chart data it is a JSON string that cannot close the script element
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in text
    assert any(XSS in json.dumps(spec) for spec in _specs(text))


def test_failed_jobs_are_listed_with_their_stderr_tail(xss_root):
    root, folder = xss_root
    text, _n, _notes = build_html_report(root, pipeline=label_pipeline(folder))
    assert "Failed jobs (2)" in text
    failures = re.findall(r'<article class="failure">.*?</article>', text, re.S)
    assert len(failures) == 2
    for item in failures:
        assert "exit code 1" in item and "stderr.log" in item
        assert "tool: &lt;img src=x onerror=alert(2)&gt; failing on purpose" in item
    assert re.search(r'<td class="num bad">2</td>', text)


def test_report_html_command_writes_the_file_and_prints_its_path(demo_root, tmp_path):
    out = tmp_path / "site" / "report.html"
    res = CliRunner().invoke(main, ["report", "--root", str(demo_root), "--html", str(out), "--top-k", "3"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out) and out.is_file()
    assert "Top 3 / 8 for stage1_evaluate" in out.read_text()
    assert re.match(r"7 charts, \d+\.\d MB", res.stderr)
    res = CliRunner().invoke(main, ["report", "--root", str(demo_root), "--html", str(out), "--node", "nope"])
    assert res.exit_code == 2 and res.output.startswith("Error: --node 'nope': no such node")


def test_write_is_atomic_and_reports_its_size(demo_root, tmp_path):
    written = write_html_report(tmp_path / "r.html", demo_root, nodes=["stage1_evaluate"], top_k=2)
    assert written.size == Path(written.path).stat().st_size and written.n_charts == 7
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_the_vega_bundle_is_cached_on_disk_per_version(tmp_path, monkeypatch):
    import trackdag.html_report as hr

    monkeypatch.setenv("TRACKDAG_CACHE_DIR", str(tmp_path / "cache"))
    hr.vega_bundle.cache_clear()
    try:
        bundle = hr.vega_bundle()
        (cached,) = (tmp_path / "cache").iterdir()
        assert cached.name.startswith("vega-bundle-vlc") and cached.read_text(encoding="utf-8") == bundle
        assert "vegaEmbed" in bundle and "</script" not in bundle.lower()
        cached.write_text("/* cached */", encoding="utf-8")   # a later process reads the file, not vl-convert
        hr.vega_bundle.cache_clear()
        assert hr.vega_bundle() == "/* cached */"
    finally:
        hr.vega_bundle.cache_clear()


def test_a_failure_says_its_exit_code_once():
    from types import SimpleNamespace

    from trackdag.html_report import failed_section

    status = SimpleNamespace(failed=[{"node": "n", "short_id": "x" * 12, "error": "exit code 1", "exit_code": 1,
                                      "attempt": 1, "log": "/l", "stderr_tail": ""},
                                     {"node": "n", "short_id": "y" * 12, "error": "exit 0 but output missing",
                                      "exit_code": 0, "attempt": 1, "log": "/l", "stderr_tail": ""}])
    html = failed_section(status)
    assert html.count("exit code 1") == 1 and "missing; exit code 0" in html


def test_the_runs_section_lists_each_run_with_what_it_executed(demo_root, demo_page):
    import duckdb

    con = duckdb.connect(str(demo_root / "catalog.duckdb"), read_only=True)
    try:
        (run_id,) = [r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()]
    finally:
        con.close()
    section = re.search(r'<section id="runs">.*?</section>', demo_page, re.S)[0]
    assert "<h2>Runs (1)</h2>" in section and '<a href="#runs">runs</a>' in demo_page
    heads = re.findall(r"<th>(.*?)</th>", section)
    assert heads == ["run", "started", "duration", "state", "backend", "git", "planned", "executed", "already done",
                     "failed", "executed by node", "params source", "python", "env", "dirty"]
    (row,) = re.findall(r"<tr class=\"current\" data-run=\"(?:[^\"]+)\">(.*?)</tr>", section, re.S)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[0] == f"{run_id} (this report)" and cells[3:5] == ["done", "local"]
    assert re.fullmatch(r"\d+\.\ds", cells[2])
    assert cells[6:11] == ["16", "16", "0", "0", "stage1_predict 8, stage1_evaluate 8"]
    assert "<summary>a Python call (see the parameters)</summary>" in cells[11]
    assert "stage1_predict.param1: [123, 456, 32, 33]" in cells[11]
    # the earlier-runs table of the run summary gave way to this section
    assert "other runs" not in demo_page


def test_the_runs_section_escapes_the_parameters(xss_root):
    root, folder = xss_root
    text, _n, _notes = build_html_report(root, pipeline=label_pipeline(folder))
    section = re.search(r'<section id="runs">.*?</section>', text, re.S)[0]
    assert XSS not in section and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert re.findall(r"<td[^>]*>(.*?)</td>", section, re.S)[6:10] == ["6", "6", "0", "2"]
