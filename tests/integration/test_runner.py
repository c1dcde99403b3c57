"""The papermill runner on the real kernel: progress, working directory, errors, timeouts, kernel shutdown,
memory limit, processes a kernel leaves behind, the sweeper of dead workers' leftovers, and a kernel that dies
twice on the same cell (through `execute_component`)."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import nbformat
import psutil
import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import SAMPLE_PATH
from tests.integration.test_component_contract import new_report
from workbench import kernels
from workbench.config import REPO_ROOT, Settings
from workbench.reports import steps
from workbench.runner import KernelDiedError, NotebookError, run_notebook
from workbench.statuses import ComponentStatus
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workbench.surveys.imports import parse_responses, read_survey_file


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


def run(tmp_path: Path, nb: Path, params: dict | None = None, timeout: int = 30, on_cell=None,  # type: ignore[no-untyped-def]
        memory_limit_mb: int | None = None):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return run_notebook(nb, tmp_path / "out.ipynb", params or {}, kernel_name="workbench", cwd=work,
                        cell_timeout=timeout, on_cell=on_cell, memory_limit_mb=memory_limit_mb)


def assert_failed_at(result, source: str, ename: str) -> None:  # type: ignore[no-untyped-def]
    """The error points at the stored cell running `source`, which is marked failed with an error output."""
    cell = result.notebook.cells[result.error.cell_index]
    assert cell.source == source
    assert cell.metadata.papermill["status"] == "failed" and cell.metadata.papermill["exception"] is True
    assert cell.outputs[0].output_type == "error" and cell.outputs[0].ename == ename
    later = result.notebook.cells[result.error.cell_index + 1:]
    assert all(c.metadata.papermill["status"] == "pending" for c in later if c.cell_type == "code")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # killed; init reaps it when it does
    except psutil.NoSuchProcess:
        return True


def our_kernel_folders() -> list[Path]:
    return list(kernels.kernel_root().glob(f"wbk-{os.getpid()}-*"))


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


def test_a_cell_over_the_timeout_fails_at_its_cell_and_the_kernel_is_shut_down(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", "y = 2", "import time\ntime.sleep(30)", "z = 3")
    result = run(tmp_path, nb, timeout=2)
    assert isinstance(result.error, NotebookError) and result.error.ename == "CellTimeoutError"
    assert str(result.error) == f"cell {result.error.cell_index} ran longer than 2 s"
    assert_failed_at(result, "import time\ntime.sleep(30)", "CellTimeoutError")
    assert kernel_children() == [] and our_kernel_folders() == []


@pytest.mark.parametrize("code", ["import os\nos._exit(1)", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"])
def test_a_dying_kernel_is_retryable_and_names_its_cell(tmp_path: Path, code: str) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", "y = 2", code, "z = 3")
    result = run(tmp_path, nb, memory_limit_mb=2048)
    assert isinstance(result.error, KernelDiedError)
    assert str(result.error) == (f"the kernel died at cell {result.error.cell_index} "
                                 "(likely out of memory: limit 2048 MB, or the code ended the process)")
    assert result.error.as_dict()["ename"] == "KernelDiedError"
    assert_failed_at(result, code, "DeadKernelError")
    assert kernel_children() == [] and our_kernel_folders() == []


def test_a_cell_over_the_memory_limit_fails_naming_the_limit_and_the_worker_is_unaffected(tmp_path: Path) -> None:
    before = resource.getrlimit(resource.RLIMIT_AS)
    nb = write_notebook(tmp_path / "nb.ipynb", "import resource\nprint(resource.getrlimit(resource.RLIMIT_AS))",
                        "block = bytearray(1 << 30)", "z = 3")
    result = run(tmp_path, nb, memory_limit_mb=300)
    assert isinstance(result.error, NotebookError) and result.error.ename == "MemoryError"
    assert str(result.error) == (f"cell {result.error.cell_index} raised MemoryError: "
                                 "the notebook ran out of memory: limit 300 MB")
    assert_failed_at(result, "block = bytearray(1 << 30)", "MemoryError")
    assert result.notebook.cells[2].outputs[0].text.strip() == f"({300 << 20}, {300 << 20})"  # hard limit too
    assert resource.getrlimit(resource.RLIMIT_AS) == before  # set in the launched kernel only
    assert len(bytearray(1 << 30)) == 1 << 30
    assert kernel_children() == []


def test_no_memory_limit_leaves_the_kernel_unlimited(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", "import os, resource\n"
                        "print(resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY,"
                        " 'WBK_MEMORY_LIMIT_MB' in os.environ)")
    result = run(tmp_path, nb)
    assert result.error is None and result.notebook.cells[-1].outputs[0].text.strip() == "True False"


ESCAPES = """\
import os, subprocess, time
print(os.environ["WBK_RUN"])
sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
child = os.fork()
if child == 0:  # a double-forked daemon: reparented to init once its parent exits
    grandchild = os.fork()
    if grandchild == 0:
        os.setsid()
        os.execvp("sleep", ["sleep", "601"])
    with open("daemon.pid", "w") as f:
        f.write(str(grandchild))
    os._exit(0)
os.waitpid(child, 0)
print(sleeper.pid, open("daemon.pid").read())
"""


@pytest.mark.parametrize("then", ["z = 3", "raise ValueError('after escaping')", "import time\ntime.sleep(30)"])
def test_processes_a_kernel_started_end_with_the_run(tmp_path: Path, then: str) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", ESCAPES, then)
    result = run(tmp_path, nb, timeout=5)
    assert (result.error is None) == (then == "z = 3")
    escaping = next(c for c in result.notebook.cells if c.source == ESCAPES)
    marker, pids = "".join(o.text for o in escaping.outputs).split("\n")[:2]
    sleeper, daemon = map(int, pids.split())
    assert Path(marker).parent == kernels.kernel_root() and Path(marker).name.startswith(f"wbk-{os.getpid()}-")
    assert gone(sleeper) and gone(daemon)
    assert [p for p, value in kernels.marked_processes() if value == marker] == []
    assert not Path(marker).exists() and kernel_children() == []


def test_the_kernel_files_live_in_the_private_folder(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", "import os, ipykernel.connect\n"
                        "folder = os.environ['WBK_RUN']\n"
                        "print(ipykernel.connect.get_connection_file().startswith(folder + '/'), "
                        "oct(os.stat(folder).st_mode & 0o777), sorted(os.listdir(folder))[0])")
    result = run(tmp_path, nb)
    assert result.error is None
    assert result.notebook.cells[-1].outputs[0].text.split() == ["True", "0o700", "connection.json"]
    assert our_kernel_folders() == []


def dead_owner() -> tuple[int, int]:
    """The pid and start time of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    ticks = kernels._start_ticks(proc.pid)
    proc.wait()
    assert ticks is not None and kernels._start_ticks(proc.pid) is None
    return proc.pid, ticks


def test_the_sweeper_removes_what_dead_owners_left_and_keeps_the_rest(tmp_path: Path) -> None:
    root = tmp_path
    me = os.getpid()
    my_ticks = kernels._start_ticks(me)
    dead_pid, dead_ticks = dead_owner()
    dead = root / f"wbk-{dead_pid}-{dead_ticks}-abcd1234"
    reused = root / f"wbk-{me}-{my_ticks + 1}-abcd1234"  # this pid, but another process's start time
    live = root / f"wbk-{me}-{my_ticks}-abcd1234"
    unknown = root / f"wbk-{dead_pid}-0-abcd1234"  # no /proc when it was named: never guessed
    legacy_old, legacy_new = root / "wbk-oldstyle", root / "wbk-recent"
    for folder in (dead, reused, live, unknown, legacy_old, legacy_new):
        folder.mkdir()
        (folder / "connection.json").write_text("{}")
    day_ago = time.time() - 2 * kernels.LEGACY_AGE_SECONDS
    os.utime(legacy_old, (day_ago, day_ago))
    (root / "not-a-kernel-folder").mkdir()
    env = {k: v for k, v in os.environ.items() if k != kernels.RUN_VARIABLE}
    orphan = subprocess.Popen(["sleep", "600"], env={**env, kernels.RUN_VARIABLE: str(dead)},
                              start_new_session=True)
    running = subprocess.Popen(["sleep", "600"], env={**env, kernels.RUN_VARIABLE: str(live)},
                               start_new_session=True)
    elsewhere = subprocess.Popen(["sleep", "600"], env={**env, kernels.RUN_VARIABLE: f"/elsewhere/{dead.name}"},
                                 start_new_session=True)
    try:
        time.sleep(0.2)  # until exec: the environment is the new program's
        assert kernels.sweep_kernel_leftovers(root) == 4  # three folders and the orphan
        orphan.wait(timeout=5)
        assert sorted(p.name for p in root.iterdir()) == sorted(
            [live.name, unknown.name, legacy_new.name, "not-a-kernel-folder"])
        assert running.poll() is None and elsewhere.poll() is None  # a live run; another root's run
        assert kernels.sweep_kernel_leftovers(root) == 0
    finally:
        for proc in (orphan, running, elsewhere):
            proc.kill()
            proc.wait()


@pytest.fixture
def db(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.effective_database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def survey(db: sessionmaker[Session]) -> uuid.UUID:
    definition, raw = read_survey_file(SAMPLE_PATH)
    with transaction(db) as session:
        survey = survey_store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition)
        survey_store.add_responses(session, survey_id=survey.id,
                                   records=parse_responses(definition, raw[:40], fmt="json"))
        return survey.id


def test_a_kernel_that_dies_twice_on_the_same_cell_is_not_retried_again(
    settings: Settings, db: sessionmaker[Session], survey: uuid.UUID, tmp_path: Path
) -> None:
    """First death on cell A (retryable), then on cell B (another cell: retryable), then on B again: final."""
    folder = tmp_path / "notebooks"
    shutil.copytree(REPO_ROOT / "notebooks", folder, ignore=shutil.ignore_patterns("data"))
    flag = tmp_path / "died-once"
    first = f"import os, pathlib\nif not pathlib.Path({str(flag)!r}).exists():\n" \
            f"    pathlib.Path({str(flag)!r}).touch()\n    os._exit(1)"
    second = "import os\nos._exit(1)"
    nb = nbformat.read(folder / "basic_stats.ipynb", as_version=4)
    position = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    nb.cells[position:position] = [nbformat.v4.new_code_cell(first), nbformat.v4.new_code_cell(second)]
    nbformat.write(nb, folder / "basic_stats.ipynb")
    settings = settings.model_copy(update={"notebooks_dir": folder, "kernel_memory_limit_mb": 2048})
    report_id = new_report(db, settings, survey, ["basic_stats"])

    def attempt() -> tuple[Exception, dict]:
        with pytest.raises((KernelDiedError, NotebookError)) as raised:
            steps.execute_component(db, settings, report_id, "basic_stats")
        with db() as session:
            row = report_store.get_component(session, report_id=report_id, name="basic_stats", with_documents=True)
            assert row is not None and row.status == ComponentStatus.FAILED and row.notebook is not None
            stored = nbformat.reads(row.notebook, as_version=4).cells[row.error["cell_index"]]  # type: ignore[index]
            assert stored.metadata.papermill["status"] == "failed"
            return raised.value, {**row.error, "source": stored.source, "attempts": row.attempts}  # type: ignore[dict-item]

    error, row = attempt()
    assert isinstance(error, KernelDiedError) and row["ename"] == "KernelDiedError" and row["source"] == first
    error, row = attempt()
    assert isinstance(error, KernelDiedError) and row["source"] == second
    error, row = attempt()
    assert isinstance(error, NotebookError) and row["source"] == second and row["attempts"] == 3
    assert row["ename"] == "KernelDiedError"
    assert row["message"] == (f"the kernel died twice on cell {row['cell_index']} "
                              "(likely out of memory: limit 2048 MB, or the code ended the process)")


def test_inputs_made_while_the_kernel_starts_are_there_for_the_first_cell(tmp_path: Path) -> None:
    """`before_cells` runs once the kernel is up (a kernel process exists then) and before any cell; the cells
    see what it wrote. When it raises, the run raises that, and no kernel or kernel folder is left."""
    nb = write_notebook(tmp_path / "nb.ipynb", "print(open('input.txt').read())")
    work = tmp_path / "work"
    work.mkdir()
    seen: list[int] = []

    def write_input() -> None:
        seen.append(len(kernel_children()))
        (work / "input.txt").write_text("made while the kernel started")

    result = run_notebook(nb, tmp_path / "out.ipynb", {}, kernel_name="workbench", cwd=work, cell_timeout=30,
                          before_cells=write_input)
    assert result.error is None and seen == [1]
    assert result.notebook.cells[-1].outputs[0].text.strip() == "made while the kernel started"

    def fail() -> None:
        raise RuntimeError("the snapshot could not be read")

    with pytest.raises(RuntimeError, match="the snapshot could not be read"):
        run_notebook(nb, tmp_path / "out2.ipynb", {}, kernel_name="workbench", cwd=work, cell_timeout=30,
                     before_cells=fail)
    assert kernel_children() == [] and our_kernel_folders() == []


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
