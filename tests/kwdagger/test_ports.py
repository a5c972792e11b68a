"""Pipelines built the ways KWDagger's own tests build them, under the real KWDagger 0.4.1 and trackdag.

``cases/ports/pipelines.py`` (our shapes): node-level connections, an input
forwarded within its node, an input with no value in a row (KWDagger passes
the text ``None``), params naming nothing (one row of defaults), a gathered
input forwarded to another node.  Both tools run the same file
(``--backend=serial --run=1``) and must write the same jobs with the same
commands (paths aside) and the same gather manifests.
"""
from __future__ import annotations

import pytest

from kwd_support import (concurrently, by_node, gather_manifests, kwd, kwdagger_job_table, lay_out,  # noqa: F401
                         trackdag_job_table, trackdag_run)

pytestmark = pytest.mark.slow


def run_both(kwd, tmp_path, *options):
    kwd_dir = lay_out("ports", tmp_path / "kwd", port=False)
    td_dir = lay_out("ports", tmp_path / "td", port=True)
    argv = ["schedule", *options, "--root_dpath=results", "--backend=serial", "--run=1"]
    ran_kwd, ran_td = concurrently(lambda: kwd.run(["kwdagger", *argv], cwd=kwd_dir),
                                   lambda: trackdag_run(["trackdag", *argv], cwd=td_dir))
    assert ran_kwd.returncode == 0, ran_kwd.stdout[-3000:] + ran_kwd.stderr[-3000:]
    assert ran_td.returncode == 0, ran_td.stdout[-3000:] + ran_td.stderr[-3000:]
    kwd_table, td_table = kwdagger_job_table(kwd_dir / "results"), trackdag_job_table(td_dir / "results")
    assert by_node(td_table) == by_node(kwd_table)
    assert gather_manifests(td_dir / "results", td_table) == gather_manifests(kwd_dir / "results", kwd_table)
    return by_node(td_table), ran_td.stdout, td_dir


def test_an_input_with_no_value_gets_none_as_in_kwdagger(kwd, tmp_path):
    jobs, out, td_dir = run_both(kwd, tmp_path, "--pipeline=pipelines.py::peers()", "--params=params-peers.yaml")
    assert {n: len(c) for n, c in jobs.items()} == {"left": 2, "right": 2, "consumer": 1}
    assert sorted(c[2] for c in jobs["right"]) == ["--data_fpath=None", "--data_fpath=data.txt"]
    assert [c[2] for c in jobs["consumer"]] == ["--data_fpath=data.txt"]
    assert out.count("no value in some row") == 1
    for folder in (td_dir / "results" / "right").iterdir():   # the program ran, and wrote what it was given
        assert (folder / "right.txt").read_text().startswith("--data_fpath=")


def test_node_level_connections_and_params_naming_nothing(kwd, tmp_path):
    jobs, _, _ = run_both(kwd, tmp_path, "--pipeline=pipelines.py::wired()", "--params=matrix: {}")
    assert {n: len(c) for n, c in jobs.items()} == {"prep": 1, "fit": 1, "score": 1}
    [score] = jobs["score"]
    assert "--test_copy=prep/*/test.txt" in score and "--model_fpath=fit/*/model.txt" in score
    [fit] = jobs["fit"]
    assert "--train_fpath=prep/*/train.txt" in fit and not any(t.startswith("--log_fpath") for t in fit)


def test_a_forwarded_gathered_input_is_the_manifest(kwd, tmp_path):
    jobs, _, _ = run_both(kwd, tmp_path, "--pipeline=pipelines.py::audited()", "--params=params-audit.yaml")
    assert {n: len(c) for n, c in jobs.items()} == {"shard": 2, "merge": 1, "audit": 1}
    assert "--parts_fpath=merge/*/_gather/parts_fpath.txt" in jobs["audit"][0]
