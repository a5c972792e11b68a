"""The same sweep under the real KWDagger 0.4.1 and under trackdag, from one pipeline file.

Each case under ``cases/`` is a KWDagger user's folder (pipeline module,
programs, params).  It is laid out twice: as written (run by ``kwdagger
schedule --backend=serial``) and with its import lines ported (run by
``trackdag schedule``, same options).  Both trees must hold the same jobs per
node with the same commands (paths aside), and both ``aggregate`` commands
must rank the same way.
"""
from __future__ import annotations

import pytest

from kwd_support import concurrently, kwd, kwdagger_commands, lay_out, top_table, trackdag_commands, trackdag_run

pytestmark = pytest.mark.slow


def schedule_both(kwd, tmp_path, case: str, *options: str):
    kwd_dir = lay_out(case, tmp_path / "kwd", port=False)
    td_dir = lay_out(case, tmp_path / "td", port=True)
    argv = ["schedule", *options, "--root_dpath=results", "--backend=serial", "--skip_existing=1", "--run=1"]
    ran_kwd, ran_td = concurrently(lambda: kwd.run(["kwdagger", *argv], cwd=kwd_dir),
                                   lambda: trackdag_run(["trackdag", *argv], cwd=td_dir))
    assert ran_kwd.returncode == 0, ran_kwd.stdout[-2000:] + ran_kwd.stderr[-2000:]
    assert ran_td.returncode == 0, ran_td.stdout[-2000:] + ran_td.stderr[-2000:]
    return kwd_dir, td_dir


def aggregate_both(kwd, kwd_dir, td_dir, *options: str):
    argv = ["aggregate", "--target", "results", "--io_workers=0", "--cache_resolved_results=False", *options]
    agg_kwd, agg_td = concurrently(lambda: kwd.run(["kwdagger", *argv], cwd=kwd_dir),
                                   lambda: trackdag_run(["trackdag", *argv], cwd=td_dir))
    assert agg_kwd.returncode == 0, agg_kwd.stdout[-2000:] + agg_kwd.stderr[-2000:]
    assert agg_td.returncode == 0, agg_td.stdout[-2000:] + agg_td.stderr[-2000:]
    return agg_kwd.stdout, agg_td.stdout


def assert_same_jobs(kwd_dir, td_dir):
    kwd_jobs = kwdagger_commands(kwd_dir / "results")
    td_jobs = trackdag_commands(td_dir / "results")
    assert {n: len(c) for n, c in td_jobs.items()} == {n: len(c) for n, c in kwd_jobs.items()}
    assert td_jobs == kwd_jobs


def ranking(text, node, metrics):
    return [tuple(round(float(row[m]), 6) for m in metrics) for row in top_table(text, node)]


def test_two_stage(kwd, tmp_path):
    kwd_dir, td_dir = schedule_both(kwd, tmp_path, "twostage", "--pipeline=pipelines.py::make_pipeline()",
                                    "--params=params.yaml")
    assert_same_jobs(kwd_dir, td_dir)
    assert len(kwdagger_commands(kwd_dir / "results")["toy_evaluate"]) == 8
    for pipeline in ("pipelines.py::make_pipeline()", "pipelines.py::make_pipeline(with_metrics=False)"):
        out_kwd, out_td = aggregate_both(kwd, kwd_dir, td_dir, f"--pipeline={pipeline}",
                                         "--eval_nodes=[toy_evaluate]", "--stdout_report={top_k: 5, concise: 1}")
        columns = ["score", "mae"] if "False" not in pipeline else ["mae", "score", "n"]
        assert ranking(out_td, "toy_evaluate", columns) == ranking(out_kwd, "toy_evaluate", columns)
        assert len(top_table(out_td, "toy_evaluate")) == 5


# --- the feature cases ---------------------------------------------------------------------------
#
# Each case below is its own folder under cases/, written as a KWDagger user writes it.  The
# helpers compare the jobs by folder (``conftest.kwdagger_job_table`` / ``trackdag_job_table``):
# a job folder itself normalizes to ``<node>/*`` as well, and gather manifests compare member by
# member (each member named by its job's command).

import json
import os
import re as _re
import subprocess
from pathlib import Path

from kwd_support import (by_node, gather_manifests, kwdagger_job_table, kwdagger_printed_commands,
                      trackdag_job_table, trackdag_printed_commands)


def lay_both(tmp_path, case):
    return lay_out(case, tmp_path / "kwd", port=False), lay_out(case, tmp_path / "td", port=True)


def schedule_kwd(kwd, where, *options, root="results", run="1", env=None):
    argv = ["kwdagger", "schedule", *options, f"--root_dpath={root}", "--backend=serial", f"--run={run}"]
    done = kwd.run(argv, cwd=where, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def schedule_td(where, *options, root="results", run="1", env=None, code=0):
    argv = ["trackdag", "schedule", *options, f"--root_dpath={root}", "--backend=serial", f"--run={run}"]
    done = trackdag_run(argv, cwd=where, env=env)
    assert done.returncode == code, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def schedule_pair(kwd, kwd_dir, td_dir, *options, root="results", run="1", kwd_env=None):
    return concurrently(lambda: schedule_kwd(kwd, kwd_dir, *options, root=root, run=run, env=kwd_env),
                        lambda: schedule_td(td_dir, *options, root=root, run=run))


def aggregate_pair(kwd, kwd_dir, td_dir, *options, root="results", kwd_env=None):
    argv = ["aggregate", "--target", root, "--io_workers=0", "--cache_resolved_results=False", *options]
    agg_kwd = kwd.run(["kwdagger", *argv], cwd=kwd_dir, env=kwd_env)
    assert agg_kwd.returncode == 0, agg_kwd.stdout[-3000:] + agg_kwd.stderr[-3000:]
    agg_td = trackdag_run(["trackdag", *argv], cwd=td_dir)
    assert agg_td.returncode == 0, agg_td.stdout[-3000:] + agg_td.stderr[-3000:]
    return agg_kwd.stdout, agg_td.stdout


def job_tables(kwd_dir, td_dir, root="results"):
    return kwdagger_job_table(kwd_dir / root), trackdag_job_table(td_dir / root)


def assert_same_job_tables(kwd_table, td_table):
    kwd_jobs, td_jobs = by_node(kwd_table), by_node(td_table)
    assert {n: len(c) for n, c in td_jobs.items()} == {n: len(c) for n, c in kwd_jobs.items()}
    assert td_jobs == kwd_jobs


def top_rows(text, node):
    """The ranked rows an aggregate printed for ``node``, best first.

    Besides ``Top N / M for <node>``, KWDagger prints a lone row as ``Top results for <node>``.
    """
    if _re.search(rf"^Top \d+ / \d+ for {_re.escape(node)}\b", text, _re.M):
        return top_table(text, node)
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"Top results for {node}"))
    header = lines[start + 1].split()
    return [dict(zip(header, lines[start + 2].split()))]


def ranked(text, node, metrics):
    return [tuple(round(float(row[m]), 6) for m in metrics) for row in top_rows(text, node)]


def output_stamps(root: Path) -> dict[str, int]:
    """Every file under ``root``'s job folders but the tools' own records -> its mtime (ns)."""
    own = {"job_config.json", "invoke.sh", "done.json", ".result.json", "stdout.log", "stderr.log"}
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.glob("*/*_id_*/**/*"))
            if p.is_file() and p.name not in own and ".attempts" not in p.parts and "_gather" not in p.parts}


def td_job_configs(root: Path, node: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.glob(f"{node}/*_id_*/job_config.json"))]


def test_config_class_params(kwd, tmp_path):
    """params = a kwconf.Config class, a scriptconfig.DataConfig class, a kwconf.Config instance."""
    kwd_dir, td_dir = lay_both(tmp_path, "configclass")
    schedule_pair(kwd, kwd_dir, td_dir, "--pipeline=pipelines.py::make_pipeline()", "--params=params.yaml")
    kwd_table, td_table = job_tables(kwd_dir, td_dir)
    assert_same_job_tables(kwd_table, td_table)
    jobs = by_node(td_table)
    assert {n: len(c) for n, c in jobs.items()} == {"count_kw": 2, "count_scfg": 2, "count_override": 2}
    kw_command = jobs["count_kw"][0]
    # tags decide: in_path, out_path+primary, out_path '.' (the job folder), untagged and bare fields
    # are algo params, perf_param; an out_path without a default is left out
    assert "--dst_dpath=count_kw/*" in kw_command and "--dst_fpath=count_kw/*/counts.json" in kw_command
    assert "--plain_default=5" in kw_command and "--lower=True" in kw_command and "--workers=0" in kw_command
    assert not any(t.startswith("--log_fpath") for t in kw_command)
    # scriptconfig: tags 'algo' and 'perf', no dst_dpath field
    assert [t for t in jobs["count_scfg"][0] if t.startswith("--")] == [
        "--dst_fpath=count_scfg/*/counts.json", "--lower=False", "--minlen=1", "--src_fpath=words.txt",
        "--workers=0"]
    # an instance's values are the defaults; the node's own out_paths / perf_params win
    override = jobs["count_override"]
    assert all("--dst_fpath=count_override/*/explicit.json" in c and "--workers=2" in c for c in override)
    assert all("--lower=False" in c for c in override)
    assert sorted(t for c in override for t in c if t.startswith("--minlen")) == ["--minlen=2", "--minlen=4"]
    for node in ("count_kw", "count_override"):
        out_kwd, out_td = aggregate_pair(kwd, kwd_dir, td_dir, "--pipeline=pipelines.py::make_pipeline()",
                                         f"--eval_nodes=[{node}]", "--stdout_report={top_k: 5, concise: 1}")
        metrics = ["unique_ratio", "n_tokens"]
        assert ranked(out_td, node, metrics) == ranked(out_kwd, node, metrics)
        assert len(top_rows(out_td, node)) == 2


def test_gather(kwd, tmp_path):
    """GatherSpec fan-in: cross-validation folds per (algorithm, seed); a map-reduce with param_ports,
    qualified src/dst group keys and a global gather (group_by=[]); programs given relative to the
    launch folder (``python gather_demo.py``)."""
    kwd_dir, td_dir = lay_both(tmp_path, "gather")
    # cross-validation: the pipeline is named in the params (pipeline: pipelines.py::cross_validation())
    schedule_pair(kwd, kwd_dir, td_dir, "--params=params-cv.yaml", root="cv")
    kwd_table, td_table = job_tables(kwd_dir, td_dir, "cv")
    assert_same_job_tables(kwd_table, td_table)
    assert {n: len(c) for n, c in by_node(td_table).items()} == {"train": 6, "build_ensemble": 2, "evaluate": 4}
    manifests = gather_manifests(td_dir / "cv", td_table)
    assert manifests == gather_manifests(kwd_dir / "cv", kwd_table)
    for _node, command, members in manifests:   # one consumer per group, its members ordered by fold
        algorithm = next(t for t in command if t.startswith("--algorithm="))
        assert [next(t for t in m if t.startswith("--fold=")) for m in members] == ["--fold=0", "--fold=1", "--fold=2"]
        assert all(algorithm in m for m in members)
    # the relative program was made absolute: invoke.sh redoes the job from any folder
    folder = next(f for f, (node, _) in td_table.items() if node == "build_ensemble")
    (folder / "ensemble.json").unlink()
    redo = subprocess.run(["bash", str(folder / "invoke.sh")], cwd="/", capture_output=True, text=True)
    assert redo.returncode == 0, redo.stderr
    assert json.loads((folder / "ensemble.json").read_text())["folds"] == [0, 1, 2]
    out_kwd, out_td = aggregate_pair(kwd, kwd_dir, td_dir, "--pipeline=pipelines.py::cross_validation()",
                                     "--eval_nodes=[evaluate]", "--stdout_report={top_k: 10, concise: 1}", root="cv")
    assert ranked(out_td, "evaluate", ["score"]) == ranked(out_kwd, "evaluate", ["score"])
    assert len(top_rows(out_td, "evaluate")) == 4

    # map-reduce: chunks gathered per document (qualified keys), documents gathered globally
    schedule_pair(kwd, kwd_dir, td_dir, "--pipeline=pipelines.py::map_reduce()", "--params=params-mapreduce.yaml",
                  root="mr")
    kwd_table, td_table = job_tables(kwd_dir, td_dir, "mr")
    assert_same_job_tables(kwd_table, td_table)
    assert {n: len(c) for n, c in by_node(td_table).items()} == {"analyze_chunk": 4, "reduce_document": 2,
                                                                   "summarize": 1}
    manifests = gather_manifests(td_dir / "mr", td_table)
    # without order_by, members come in job id order, and each tool has its own ids: compare as sets there
    unordered = {"summarize"}

    def comparable(found):
        return sorted((n, c, tuple(sorted(m)) if n in unordered else m) for n, c, m in found)
    assert comparable(manifests) == comparable(gather_manifests(kwd_dir / "mr", kwd_table))
    summary = [m for m in manifests if m[0] == "summarize"]
    assert len(summary) == 1 and len(summary[0][2]) == 2      # group_by=[]: every document
    for node, command, members in manifests:
        if node == "reduce_document":   # the document came by param_ports; chunks ordered by chunk_index
            document = next(t for t in command if t.startswith("--document="))
            assert all(document in m for m in members)
            assert [next(t for t in m if t.startswith("--chunk_index=")) for m in members] == [
                "--chunk_index=0", "--chunk_index=1"]
    out_kwd, out_td = aggregate_pair(kwd, kwd_dir, td_dir, "--pipeline=pipelines.py::map_reduce()",
                                     "--eval_nodes=[summarize]", "--stdout_report={top_k: 10, concise: 1}", root="mr")
    metrics = ["total_letters", "num_documents"]
    assert ranked(out_td, "summarize", metrics) == ranked(out_kwd, "summarize", metrics) == [(43.0, 2.0)]

    # the same map-reduce declared in YAML (a param edge, gather edges with qualified keys): the same jobs
    schedule_pair(kwd, kwd_dir, td_dir, "--pipeline=./mapreduce.yaml", "--params=params-mapreduce.yaml",
                  root="mr_yaml")
    yaml_kwd, yaml_td = job_tables(kwd_dir, td_dir, "mr_yaml")
    assert_same_job_tables(yaml_kwd, yaml_td)
    assert by_node(yaml_td) == by_node(td_table)
    assert comparable(gather_manifests(td_dir / "mr_yaml", yaml_td)) == comparable(manifests)


def test_enabled(kwd, tmp_path):
    """``<node>.__enabled__``: False leaves the node (and what needs it) out of those rows, True is the
    default, 'redo' runs a done job again."""
    kwd_dir, td_dir = lay_both(tmp_path, "enabled")
    schedule_pair(kwd, kwd_dir, td_dir, "--params=params.yaml", "--skip_existing=1")
    kwd_table, td_table = job_tables(kwd_dir, td_dir)
    assert_same_job_tables(kwd_table, td_table)
    jobs = by_node(td_table)
    scales = sorted(t for c in jobs["toy_predict"] for t in c if t.startswith("--scale="))
    assert scales == ["--scale=0.5", "--scale=1.0", "--scale=2.0", "--scale=3.0"]   # 4.0: predict was off
    assert len(jobs["toy_evaluate"]) == 2                                            # 2.0 and 3.0 only
    out_kwd, out_td = aggregate_pair(kwd, kwd_dir, td_dir, "--pipeline=pipelines.py::make_pipeline()",
                                     "--eval_nodes=[toy_evaluate]", "--stdout_report={top_k: 5, concise: 1}")
    assert ranked(out_td, "toy_evaluate", ["score", "mae"]) == ranked(out_kwd, "toy_evaluate", ["score", "mae"])

    # redo with --cache=0: both compute the scale-2.0 prediction again, and only it (its evaluation is not
    # queued again by either tool: it is not 'redo' itself)
    before = {d: output_stamps(d / "results") for d in (kwd_dir, td_dir)}
    schedule_pair(kwd, kwd_dir, td_dir, "--params=params-redo.yaml", "--skip_existing=1", "--cache=0")
    for d in (kwd_dir, td_dir):
        after = output_stamps(d / "results")
        changed = [k for k in after if after[k] != before[d][k]]
        assert len(changed) == 1 and changed[0].startswith("toy_predict/"), (d.name, changed)
        table = (kwdagger_job_table if d is kwd_dir else trackdag_job_table)(d / "results")
        folder = d / "results" / Path(changed[0]).parent
        assert "--scale=2.0" in table[folder.resolve()][1]
    # with the cache on (the default), KWDagger's test -e guard makes 'redo' a no-op; trackdag runs the
    # job again (a deliberate difference: redo means redo)
    before = {d: output_stamps(d / "results") for d in (kwd_dir, td_dir)}
    schedule_pair(kwd, kwd_dir, td_dir, "--params=params-redo.yaml", "--skip_existing=1")
    assert output_stamps(kwd_dir / "results") == before[kwd_dir]
    after = output_stamps(td_dir / "results")
    changed = [k for k in after if after[k] != before[td_dir][k]]
    assert len(changed) == 1 and changed[0].startswith("toy_predict/"), changed

    # trackdag refuses what KWDagger would read as 'enabled' (a quoted string 'False' is truthy there)
    bad = schedule_td(td_dir, "--params={pipeline: 'pipelines.py::make_pipeline()', matrix: "
                              "{toy_predict.src_fpath: [data.txt], toy_evaluate.__enabled__: ['False']}}", code=2)
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "'toy_evaluate.__enabled__' must be true, false or redo" in bad.stderr


def test_slurm_options(kwd, tmp_path):
    """Slurm options at every layer, under --backend=serial: KWDagger ignores them there; trackdag maps
    cpus/mem to the jobs' resources and names the rest once.  --backend=slurm is refused in one line."""
    kwd_dir, td_dir = lay_both(tmp_path, "slurm")
    _, ran_td = schedule_pair(kwd, kwd_dir, td_dir, "--params=params.yaml", "--slurm_options={mail_user: a@b, cpus: 2}")
    kwd_table, td_table = job_tables(kwd_dir, td_dir)
    assert_same_job_tables(kwd_table, td_table)
    assert {n: len(c) for n, c in by_node(td_table).items()} == {"prep": 2, "infer": 4}
    out = ran_td.stdout + ran_td.stderr
    ignored = "slurm options without a meaning here, ignored: account, constraint, mail_user, partition, qos, time"
    assert out.count(ignored) == 1
    # the layers, least specific first: --slurm_options, params slurm_options:, matrix __slurm_options__,
    # the node's slurm_options, matrix <node>.__slurm_options__
    for config in td_job_configs(td_dir / "results", "infer"):
        assert config["resources"] == {"num_cpus": 1.0, "memory": 512 * 2 ** 20}   # node cpus, row mem
    for config in td_job_configs(td_dir / "results", "prep"):   # cpus: 2 from the command line, 1 slot
        assert config["resources"] == {"num_cpus": 1.0}
    assert out.count("num_cpus above the 1 slot(s) of this backend: prep (2)") == 1
    out_kwd, out_td = aggregate_pair(kwd, kwd_dir, td_dir, "--pipeline=pipelines.py::build_pipeline()",
                                     "--eval_nodes=[infer]", "--stdout_report={top_k: 4, concise: 1}")
    assert ranked(out_td, "infer", ["mean"]) == ranked(out_kwd, "infer", ["mean"])
    assert len(top_rows(out_td, "infer")) == 4

    refused = trackdag_run(["trackdag", "schedule", "--params=params.yaml", "--root_dpath=slurm_root",
                            "--backend=slurm", "--run=1"], cwd=td_dir)
    assert refused.returncode == 2
    assert refused.stderr.startswith("Error: --backend=slurm: trackdag has no Slurm backend")
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert not (td_dir / "slurm_root").exists()


def test_yaml_pipeline(kwd, tmp_path):
    """KWDagger's YAML pipeline (__doc__, metrics, result, vantage_points, a dotted load_result, its three
    edge forms): as --pipeline=./pipeline.yaml, and inline under the params' pipeline: (which beats
    --pipeline); aggregate finds the pipeline itself (no --pipeline)."""
    kwd_dir, td_dir = lay_both(tmp_path, "yaml")
    # KWDagger imports `loaders` (the dotted load_result) only from sys.path: it needs PYTHONPATH;
    # trackdag looks beside the YAML file (or the params file) too
    kwd_env = {"PYTHONPATH": str(kwd_dir)}
    schedule_pair(kwd, kwd_dir, td_dir, "--pipeline=./pipeline.yaml", "--params=params.yaml")
    kwd_table, td_table = job_tables(kwd_dir, td_dir)
    assert_same_job_tables(kwd_table, td_table)
    assert {n: len(c) for n, c in by_node(td_table).items()} == {"toy_predict": 6, "toy_evaluate": 6, "toy_score": 6}
    # the inline pipeline wins over a --pipeline that does not even exist
    schedule_pair(kwd, kwd_dir, td_dir, "--params=params_inline.yaml", "--pipeline=/does/not/exist.yaml",
                  root="inline")
    inline_kwd, inline_td = job_tables(kwd_dir, td_dir, "inline")
    assert_same_job_tables(inline_kwd, inline_td)
    assert by_node(inline_td) == by_node(td_table)
    for root in ("results", "inline"):
        out_kwd, out_td = aggregate_pair(kwd, kwd_dir, td_dir, "--eval_nodes=[toy_evaluate, toy_score]",
                                         "--stdout_report={top_k: 3, concise: 1}", root=root, kwd_env=kwd_env)
        assert "Auto-discovered pipeline" in out_kwd
        # ranked by the YAML's metrics: score (max) for toy_evaluate, closeness (max) for toy_score
        assert ranked(out_td, "toy_evaluate", ["score", "mae"]) == ranked(out_kwd, "toy_evaluate", ["score", "mae"])
        assert ranked(out_td, "toy_score", ["closeness", "spread"]) == ranked(out_kwd, "toy_score",
                                                                            ["closeness", "spread"])
        assert "ranked by: score (maximize)" in out_td and "ranked by: closeness (maximize)" in out_td


def test_undeclared_params(kwd, tmp_path):
    """Matrix keys a node does not declare are passed on the command line and enter the job id (KWDagger's
    rule); a near-miss of a declared name is trackdag's typo error."""
    kwd_dir, td_dir = lay_both(tmp_path, "undeclared")
    _, ran_td = schedule_pair(kwd, kwd_dir, td_dir, "--params=params.yaml")
    kwd_table, td_table = job_tables(kwd_dir, td_dir)
    assert_same_job_tables(kwd_table, td_table)
    commands = by_node(td_table)["bench"]
    assert len(commands) == 4   # concurrency (undeclared) makes jobs: 2 models x 2 concurrencies
    assert all("--notes=Run on host" in c and "--cold_reset_cmd=None" in c and "--repeats=1" in c for c in commands)
    assert sorted(t for c in commands for t in c if t.startswith("--concurrency")) == [
        "--concurrency=1", "--concurrency=1", "--concurrency=4", "--concurrency=4"]
    assert "undeclared param(s) bench.concurrency, bench.notes passed as algo params" in ran_td.stdout
    out_kwd, out_td = aggregate_pair(kwd, kwd_dir, td_dir, "--pipeline=pipelines.py::bench_pipeline()",
                                     "--eval_nodes=[bench]", "--stdout_report={top_k: 4, concise: 1}")
    assert ranked(out_td, "bench", ["throughput", "latency"]) == ranked(out_kwd, "bench", ["throughput", "latency"])
    for text in (out_kwd, out_td):   # both report the undeclared keys as parameters
        assert "params.bench.concurrency" in text and "params.bench.notes" in text

    typo = schedule_td(td_dir, "--params={pipeline: 'pipelines.py::bench_pipeline()', "
                               "matrix: {bench.modle: [small], bench.concurency: [2]}}", root="typo", code=2)
    assert typo.stderr == "Error: --params: node 'bench' declares no param 'modle' (did you mean 'model'?)\n"
    assert not (td_dir / "typo").exists()


def test_four_node_heatmap(kwd, tmp_path):
    """KWDagger's heatmap tutorial's shape: one output feeding two inputs, input -> input forwards, flat
    load_result dicts; --print-commands --run=0 (nothing runs), --skip_existing on a second schedule
    (nothing reruns), and an output's file named in the matrix."""
    kwd_dir, td_dir = lay_both(tmp_path, "heatmap")
    dry_kwd, dry_td = schedule_pair(kwd, kwd_dir, td_dir, "--params=params.yaml", "--print-commands", run="0")
    printed = kwdagger_printed_commands(dry_kwd.stdout, kwd_dir / "results")
    assert {n: len(c) for n, c in printed.items()} == {"extract_boxes": 4, "predict_heatmap": 2, "score_boxes": 4,
                                                       "score_heatmap": 2}
    assert trackdag_printed_commands(dry_td.stdout, td_dir / "results") == printed
    assert not (kwd_dir / "results").exists() and not (td_dir / "results").exists()   # a dry run writes nothing

    schedule_pair(kwd, kwd_dir, td_dir, "--params=params.yaml", "--skip_existing=1")
    kwd_table, td_table = job_tables(kwd_dir, td_dir)
    assert_same_job_tables(kwd_table, td_table)
    assert by_node(td_table) == printed   # what the dry run printed is what ran
    jobs = by_node(td_table)
    # one output feeds two inputs; the predictor's input is forwarded to both scorers
    assert all("--true_dataset=data.json" in c for c in jobs["score_boxes"] + jobs["score_heatmap"])
    assert all("--pred_dataset=predict_heatmap/*/heatmaps.json" in c for c in jobs["score_heatmap"])
    assert all("--coco_fpath=predict_heatmap/*/heatmaps.json" in c for c in jobs["extract_boxes"])
    out_kwd, out_td = aggregate_pair(kwd, kwd_dir, td_dir, "--pipeline=pipelines.py::heatmap_pipeline()",
                                     "--eval_nodes=[score_boxes, score_heatmap]", "--stdout_report={top_k: 5, concise: 1}")
    for node, metrics in (("score_boxes", ["f1", "mean_iou"]), ("score_heatmap", ["mse"])):
        assert ranked(out_td, node, metrics) == ranked(out_kwd, node, metrics)
        assert len(top_rows(out_td, node)) == min(5, len(jobs[node]))

    # a second schedule with --skip_existing=1: nothing runs again
    before = {d: output_stamps(d / "results") for d in (kwd_dir, td_dir)}
    again_kwd, again_td = schedule_pair(kwd, kwd_dir, td_dir, "--params=params.yaml", "--skip_existing=1")
    assert '"total": 0' in again_kwd.stdout
    assert "done: 0  already done: 12" in again_td.stdout
    assert {d: output_stamps(d / "results") for d in (kwd_dir, td_dir)} == before

    # the matrix names predict_heatmap's output file: KWDagger takes the path as written (from the launch
    # folder); trackdag puts the file in the job folder (a deliberate difference), and the consumers read it
    schedule_pair(kwd, kwd_dir, td_dir, "--params=params-override.yaml", "--skip_existing=1", root="override")
    kwd_table, td_table = job_tables(kwd_dir, td_dir, "override")
    assert (kwd_dir / "custom_heatmaps.json").is_file() and not (td_dir / "custom_heatmaps.json").exists()
    [predict_folder] = [f for f, (node, _) in td_table.items() if node == "predict_heatmap"]
    assert (predict_folder / "custom_heatmaps.json").is_file()
    moved = {folder: (node, tuple(t.replace("predict_heatmap/*/custom_heatmaps.json", "custom_heatmaps.json")
                                  for t in command)) for folder, (node, command) in td_table.items()}
    assert_same_job_tables(kwd_table, moved)
    assert {n: len(c) for n, c in by_node(moved).items()} == {"predict_heatmap": 1, "extract_boxes": 2,
                                                             "score_heatmap": 1, "score_boxes": 4}
