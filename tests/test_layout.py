"""layout: invoke.sh reruns the job from anywhere; config, links and done record."""
import json
import os
import subprocess

from conftest import two_stage
from trackdag.layout import (CONFIG, DONE, INVOKE, atomic_write, clear_done, is_done, read_done, write_done,
                             write_job_folder)
from trackdag.plan import plan


def _plan(tmp_path, src, **extra):
    return plan(two_stage(), [{"predict.src": str(src), **extra}], tmp_path / "out")


def test_folder_files_and_relative_links(tmp_path, src):
    p = _plan(tmp_path, src)
    pred, ev = p.jobs.values()
    for job in (pred, ev):
        write_job_folder(job, p)
    assert os.access(os.path.join(pred.folder, INVOKE), os.X_OK)
    config = json.loads(open(os.path.join(ev.folder, CONFIG)).read())
    assert config["job_id"] == ev.job_id
    assert config["requested"] == {"predict.src": str(src)}
    assert config["resolved"]["evaluate.pred"] == pred.outputs["out_pred"]
    assert config["parents"] == {f"predict/{pred.name}": pred.job_id}
    pred_link = os.path.join(ev.folder, ".pred", "predict", pred.name)
    succ_link = os.path.join(pred.folder, ".succ", "evaluate", ev.name)
    assert os.readlink(pred_link) == f"../../../../predict/{pred.name}"
    assert os.path.realpath(pred_link) == os.path.realpath(pred.folder)
    assert os.path.realpath(succ_link) == os.path.realpath(ev.folder)


def test_invoke_sh_redoes_the_job_from_any_directory(tmp_path, src, ledger):
    p = _plan(tmp_path, src, **{"predict.p": "$(id); echo pwned"})
    pred = next(iter(p.jobs.values()))
    write_job_folder(pred, p)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run(["bash", os.path.join(pred.folder, INVOKE)], cwd=elsewhere, check=True, capture_output=True)
    args = json.loads(open(os.path.join(pred.folder, "args.json")).read())["args"]
    assert args["p"] == "$(id); echo pwned"
    assert os.path.exists(pred.outputs["out_pred"])
    assert not any(elsewhere.iterdir())
    assert ledger.read_text().splitlines() == [pred.folder]


def test_done_record_is_required_and_names_the_job(tmp_path, src):
    p = _plan(tmp_path, src)
    pred = next(iter(p.jobs.values()))
    write_job_folder(pred, p)
    open(pred.outputs["out_pred"], "w").write("partial")
    assert not is_done(pred)  # outputs without a done record are not done
    write_done(pred.folder, "someone-else", started=0, ended=1, host="h", outputs=pred.outputs)
    assert not is_done(pred)
    write_done(pred.folder, pred.job_id, started=0, ended=1, host="h", outputs=pred.outputs)
    assert is_done(pred) and read_done(pred.folder)["host"] == "h"
    os.unlink(pred.outputs["out_pred"])
    assert not is_done(pred)  # a deleted output undoes it
    clear_done(pred.folder)
    assert read_done(pred.folder) is None
    assert not [f for f in os.listdir(pred.folder) if ".tmp" in f]


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / DONE
    atomic_write(target, "x" * 10)
    assert target.read_text() == "x" * 10 and os.listdir(tmp_path) == [DONE]
