"""Hostile notebooks and killed workers on the real stack (issue 6, items 5-7): a kernel that dies on every run,
a cell that allocates far more than the limit, children that escape their kernel, and what killed workers leave."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.integration.test_report_run import broken_notebooks, generate, load_survey
from tests.integration.test_runner import gone, write_notebook
from workbench import kernels
from workbench.storage import reports as report_store

pytestmark = [pytest.mark.faults, pytest.mark.temporal]

KILLS_ITS_KERNEL = ("import os, signal, subprocess\n"
                    "subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
                    "os.kill(os.getpid(), signal.SIGKILL)")


def leftovers_of_this_process() -> tuple[list[Path], list[str]]:
    """Kernel folders and marked processes of runs owned by this process (the in-process worker)."""
    mine = f"{kernels.PREFIX}{os.getpid()}-"
    folders = list(kernels.kernel_root().glob(f"{mine}*"))
    return folders, [value for _, value in kernels.marked_processes() if Path(value).name.startswith(mine)]


async def test_a_notebook_that_always_kills_its_kernel_fails_after_two_attempts_at_its_cell(
    temporal_env, settings, tmp_path
) -> None:
    settings = settings.model_copy(update={
        "notebooks_dir": broken_notebooks(tmp_path, "sentiment", KILLS_ITS_KERNEL), "kernel_memory_limit_mb": 2048})
    survey_id = load_survey(settings, responses=60)
    report_id, outcome, sessions = await generate(temporal_env, settings, survey_id, ["sentiment"])
    assert outcome.status == "failed" and outcome.failed_components == ["sentiment"]
    with sessions() as session:
        row = report_store.get_component(session, report_id=report_id, name="sentiment", with_documents=True)
        assert row.status == "failed" and row.attempts == 2  # not max_component_attempts (3)
        assert row.error["ename"] == "KernelDiedError"
        index = row.error["cell_index"]
        assert row.error["message"] == (f"the kernel died twice on cell {index} "
                                        "(likely out of memory: limit 2048 MB, or the code ended the process)")
        cell = nbformat.reads(row.notebook, as_version=4).cells[index]
        assert cell.source == KILLS_ITS_KERNEL and cell.metadata.papermill["status"] == "failed"
        assert cell.outputs[-1].ename == "DeadKernelError"
    assert leftovers_of_this_process() == ([], [])  # both escaped sleepers were killed with their runs


async def test_a_cell_allocating_3_gib_fails_on_the_memory_limit(temporal_env, settings, tmp_path) -> None:
    code = "block = bytearray(3 << 30)"
    settings = settings.model_copy(update={
        "notebooks_dir": broken_notebooks(tmp_path, "themes", code), "kernel_memory_limit_mb": 1024})
    survey_id = load_survey(settings, responses=60)
    report_id, outcome, sessions = await generate(temporal_env, settings, survey_id, ["themes"])
    assert outcome.failed_components == ["themes"]
    with sessions() as session:
        row = report_store.get_component(session, report_id=report_id, name="themes", with_documents=True)
        assert row.attempts == 1 and row.error["ename"] == "MemoryError"  # a cell error: not retried
        assert row.error["message"] == (f"cell {row.error['cell_index']} raised MemoryError: "
                                        "the notebook ran out of memory: limit 1024 MB")
        assert nbformat.reads(row.notebook, as_version=4).cells[row.error["cell_index"]].source == code


HANGS_WITH_A_CHILD = ("import pathlib, subprocess, time\n"
                      "child = subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
                      "pathlib.Path('started').write_text(str(child.pid))\n"
                      "time.sleep(600)")
WORKER = """\
import sys
from pathlib import Path
from workbench.runner import run_notebook
notebook, work = Path(sys.argv[1]), Path(sys.argv[2])
run_notebook(notebook, work / "out.ipynb", {}, kernel_name="workbench", cwd=work, cell_timeout=900)
"""


@pytest.fixture
def private_root() -> Iterator[Path]:
    """A temp folder of its own, so other runs on this machine don't change the counts (short: socket paths)."""
    root = Path(tempfile.mkdtemp(prefix="wbt-", dir="/tmp"))
    yield root
    kernels.sweep_kernel_leftovers(root)
    for folder in root.iterdir():
        subprocess.run(["rm", "-rf", str(folder)], check=False)
    root.rmdir()


def counts(root: Path) -> tuple[int, int]:
    """(kernel folders, live processes carrying the marker of a run under `root`)."""
    marked = [value for _, value in kernels.marked_processes() if Path(value).parent == root]
    return len(list(root.glob(f"{kernels.PREFIX}*"))), len(marked)


def test_what_killed_workers_leave_is_swept_back_to_the_baseline(private_root: Path, tmp_path: Path) -> None:
    killed = 3
    baseline = counts(private_root)
    nb = write_notebook(tmp_path / "hang.ipynb", HANGS_WITH_A_CHILD)
    workers = []
    for i in range(killed):
        work = tmp_path / f"work{i}"
        work.mkdir()
        workers.append((work, subprocess.Popen([sys.executable, "-c", WORKER, str(nb), str(work)],
                                               env={**os.environ, "TMPDIR": str(private_root)})))
    deadline = time.monotonic() + 120
    while not all((work / "started").exists() for work, _ in workers):
        assert time.monotonic() < deadline, "the kernels did not start"
        time.sleep(0.2)
    for _, worker in workers:
        worker.send_signal(signal.SIGKILL)  # no finally, no atexit: what a crash or the OOM killer leaves
        worker.wait()
    folders, processes = counts(private_root)
    assert folders == baseline[0] + killed
    assert processes >= baseline[1] + killed  # the escaped children (and kernels not yet gone by themselves)
    assert all((folder / kernels.CONNECTION_FILE).exists() for folder in private_root.glob("wbk-*"))
    removed = kernels.sweep_kernel_leftovers(private_root)
    assert 2 * killed <= removed <= killed + processes  # kernels may have exited on their own meanwhile
    assert counts(private_root) == baseline
    assert all(gone(int((work / "started").read_text())) for work, _ in workers)
