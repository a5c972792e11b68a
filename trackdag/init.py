"""``trackdag init``: a small, working project to edit, written into a folder.

Two nodes (``predict`` -> ``evaluate``), each a short argparse program, a
pipeline (``pipelines.py``, or ``pipeline.yaml`` with ``yaml=True``), a
``params.yaml`` sweeping 8 configurations, an input file and a README saying
what to change.  ``trackdag run --params params.yaml && trackdag report`` in
that folder works at once.  Existing files are never overwritten: if any
file the project would write exists, nothing is written.

Example:
    >>> import tempfile, pathlib
    >>> made = init_project(pathlib.Path(tempfile.mkdtemp()) / 'proj')
    >>> sorted(p.name for p in made)
    ['README.md', 'data.txt', 'evaluate.py', 'params.yaml', 'pipelines.py', 'predict.py']
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from .errors import TrackdagError

_COMMON = ("README.md", "data.txt", "evaluate.py", "params.yaml", "predict.py")


class InitError(TrackdagError):
    """The project cannot be written (files in the way, a folder that cannot be made)."""

    exit_code = 2


def project_files(yaml: bool = False) -> dict[str, str]:
    """File name -> text of the project ``init`` writes."""
    pipeline_file = "pipeline.yaml" if yaml else "pipelines.py"
    ref = "pipeline.yaml" if yaml else "pipelines.py::build()"
    templates = resources.files("trackdag") / "templates" / "project"
    files = {}
    for name in (*_COMMON, pipeline_file):
        text = (templates / name).read_text(encoding="utf-8")
        files[name] = text.replace("{pipeline_ref}", ref).replace("{pipeline_file}", pipeline_file)
    return files


def init_project(dest: "str | os.PathLike" = ".", *, yaml: bool = False) -> list[Path]:
    """Write the project into ``dest`` (made if missing); returns the files written."""
    folder = Path(dest)
    files = project_files(yaml)
    if folder.exists() and not folder.is_dir():
        raise InitError(f"{folder} is a file: give a folder (new or empty) to write the project into")
    taken = sorted(name for name in files if (folder / name).exists() or (folder / name).is_symlink())
    if taken:
        raise InitError(f"{folder}: {', '.join(taken)} already {'exists' if len(taken) == 1 else 'exist'}; nothing was written "
                        "(init never overwrites: pick a new folder, or move those files)")
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            path = folder / name
            with open(path, "x", encoding="utf-8") as handle:  # "x": a file that appeared meanwhile is kept
                written.append(path)
                handle.write(text)
    except OSError as exc:
        for path in written:  # all or nothing: take back what this call wrote
            path.unlink(missing_ok=True)
        raise InitError(f"{exc.filename or folder}: {exc.strerror or exc}; nothing was written") from None
    return written


__all__ = ["init_project", "project_files", "InitError"]
