"""The papermill runner on the real kernel: progress, working directory, errors, timeouts, kernel shutdown."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import psutil
import pytest

from workbench.runner import KernelDiedError, NotebookError, run_notebook


def write_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "workbench", "display_name": "Workbench (Python 3)", "language": "python"}
    params = nbformat.v4.new_code_cell("x = 1")
    params.metadata.tags = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(s) for s in sources)]
    nbformat.write(nb, path)
    return path


def kernel_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]


def run(tmp_path: Path, nb: Path, params: dict | None = None, timeout: int = 30, on_cell=None):  # type: ignore[no-untyped-def]
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return run_notebook(nb, tmp_path / "out.ipynb", params or {}, kernel_name="workbench", cwd=work,
                        cell_timeout=timeout, on_cell=on_cell)


def test_runs_in_the_given_folder_with_parameters_and_reports_every_cell(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", "import os\nprint(os.getcwd(), x)")
    calls: list[tuple[int, int]] = []
    result = run(tmp_path, nb, {"x": 41}, on_cell=lambda d, t: calls.append((d, t)))
    assert result.error is None
    printed = result.notebook.cells[-1].outputs[0].text
    assert printed.strip() == f"{tmp_path / 'work'} 41"
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]  # parameters, injected parameters, the print cell
    assert Path.cwd() != tmp_path / "work"  # the worker process did not change directory
    assert kernel_children() == []


def test_a_raising_cell_is_a_notebook_error_pointing_at_the_stored_cell(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", "y = 2", "raise KeyError('nps')", "z = 3")
    result = run(tmp_path, nb)
    assert isinstance(result.error, NotebookError)
    assert result.error.ename == "KeyError" and "nps" in result.error.evalue
    failing = result.notebook.cells[result.error.cell_index]
    assert failing.source == "raise KeyError('nps')"
    assert str(result.error).startswith(f"cell {result.error.cell_index} raised KeyError")
    assert kernel_children() == []


def test_a_cell_over_the_timeout_fails_and_the_kernel_is_shut_down(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", "import time\ntime.sleep(30)")
    result = run(tmp_path, nb, timeout=2)
    assert isinstance(result.error, NotebookError) and result.error.ename == "CellTimeoutError"
    assert result.notebook is not None
    assert kernel_children() == []


def test_a_dying_kernel_is_retryable(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    result = run(tmp_path, nb)
    assert isinstance(result.error, KernelDiedError)
    assert kernel_children() == []


def test_a_missing_notebook_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run(tmp_path, tmp_path / "missing.ipynb")
    assert os.path.exists(tmp_path / "out.ipynb") is False


def test_parallel_runs_from_threads_sharing_a_context_do_not_collide(tmp_path: Path) -> None:
    """Temporal runs sync activities in pool threads with a copy of one context: runs must stay independent."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    nb = write_notebook(tmp_path / "nb.ipynb", "import time\ntime.sleep(0.5)\nprint(x)")
    run(tmp_path, nb)  # leaves jupyter_core state in this thread's context, as an earlier activity would
    shared = contextvars.copy_context()

    def one(i: int):  # type: ignore[no-untyped-def]
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        return shared.copy().run(run, folder, nb, {"x": i})

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(one, range(3)))
    assert [r.error for r in results] == [None, None, None]
    assert [r.notebook.cells[-1].outputs[0].text.strip() for r in results] == ["0", "1", "2"]
    assert kernel_children() == []
