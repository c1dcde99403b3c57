"""The notebook's git revision in a component's provenance: the commit it was read at and whether it differs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from workbench.reports.steps import git_revision


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=folder,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_commit_and_whether_the_notebook_differs_from_it(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "other.ipynb").write_text("{}")
    assert git_revision(tmp_path / "other.ipynb") == {}  # a repository without a commit: nothing to name
    (tmp_path / "kept.ipynb").write_text("{}")
    (tmp_path / "edited.ipynb").write_text("{}")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "notebooks")
    head = _git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "edited.ipynb").write_text('{"cells": []}')
    (tmp_path / "new.ipynb").write_text("{}")
    assert git_revision(tmp_path / "kept.ipynb") == {"git_commit": head, "git_modified": False}
    assert git_revision(tmp_path / "edited.ipynb") == {"git_commit": head, "git_modified": True}
    assert git_revision(tmp_path / "new.ipynb") == {"git_commit": head, "git_modified": True}  # never committed


def test_outside_a_repository_nothing(tmp_path: Path) -> None:
    (tmp_path / "x.ipynb").write_text("{}")
    assert git_revision(tmp_path / "x.ipynb") == {}
