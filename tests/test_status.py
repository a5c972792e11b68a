"""`trackdag show`: a unique prefix of a short id, and `show .` (or no argument) inside a job folder (issue 8.12)."""
import os

import pytest
from click.testing import CliRunner

from conftest import single
from trackdag.cli import main
from trackdag.status import JobNotFound, show
from trackdag.sweep import run


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    folder = tmp_path_factory.mktemp("show")
    res = run({"job.i": list(range(12))}, pipeline=single("job"), root=folder / "out", backend="local", workers=2)
    assert res.exit_code == 0
    return folder / "out"


def _short_ids(root):
    return sorted(p.name.rsplit("_id_", 1)[1] for p in (root / "job").iterdir())


def test_a_unique_prefix_names_the_job(root):
    ids = _short_ids(root)
    first = ids[0]
    prefix = next(first[:n] for n in range(1, 12) if sum(i.startswith(first[:n]) for i in ids) == 1)
    assert show(prefix, str(root)).job["short_id"] == first
    shared = next((i[:1] for i in ids if sum(j.startswith(i[:1]) for j in ids) > 1), None)
    if shared is not None:
        with pytest.raises(JobNotFound, match="names several jobs"):
            show(shared, str(root))
    with pytest.raises(JobNotFound, match="no job 'zzzzz'"):
        show("zzzzz", str(root))


def test_show_dot_inside_a_job_folder_finds_the_job_and_its_catalog(root, monkeypatch):
    folder = next((root / "job").iterdir())
    (folder / "sub").mkdir(exist_ok=True)
    for cwd, args in ((folder, ["show"]), (folder, ["show", "."]), (folder / "sub", ["show"]),
                      (root.parent, ["show", str(folder)])):
        monkeypatch.chdir(cwd)
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
        assert res.output.startswith(f"job {folder.name}\n")
    monkeypatch.chdir(root.parent)
    res = CliRunner().invoke(main, ["show"])  # not in a job folder: the default root, which has no catalog
    assert res.exit_code == 2 and "no catalog at" in res.output and res.output.count("\n") == 1
    assert os.getcwd() == str(root.parent)
