"""The pool of pre-started kernels (issue 12) on the real kernel: warmed, in the run's folder, single use, under
the memory limit, never handed out dead or with another environment, and nothing left after shutdown or a kill."""

from __future__ import annotations

import ast
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from pydantic import BaseModel

from tests.integration.test_runner import gone, write_notebook
from workbench import kernel_pool, kernels
from workbench.components import ComponentSpec
from workbench.config import Settings
from workbench.kernel_pool import KernelPool
from workbench.reports.steps import kernel_environment
from workbench.runner import run_notebook

LIMIT_MB = 2048
PROBE = ("import os, sys, resource\n"
         "print(repr({'pid': os.getpid(), 'cwd': os.getcwd(), 'pandas': 'pandas' in sys.modules,\n"
         "            'limit': resource.getrlimit(resource.RLIMIT_AS)[0], 'names': sorted(n for n in dir()\n"
         "            if not n.startswith('_') and n not in ('In', 'Out', 'exit', 'quit', 'get_ipython', 'open')),\n"
         "            'secret': os.environ.get('POOL_TEST_SECRET')}))\n"
         "left_by_this_run = 1")


def mine() -> tuple[list[Path], list[str]]:
    """Kernel folders and marked processes owned by this process."""
    prefix = f"{kernels.PREFIX}{os.getpid()}-"
    return (list(kernels.kernel_root().glob(f"{prefix}*")),
            [value for _, value in kernels.marked_processes() if Path(value).name.startswith(prefix)])


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    return write_notebook(tmp_path / "probe.ipynb", PROBE)


def pool_maker(**defaults: object) -> Iterator[Callable[..., KernelPool]]:
    """For a fixture: makes started pools (these options, then `defaults`, then the call's), shuts them down after
    the test and checks that nothing of theirs is left."""
    pools: list[KernelPool] = []

    def make(**kwargs: object) -> KernelPool:
        options: dict = {"kernel_name": "workbench", "size": 1, "memory_limit_mb": LIMIT_MB,
                         "warm_imports": ["pandas"], **defaults, **kwargs}
        pool = KernelPool(**options).start()
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.shutdown()
    assert mine() == ([], [])


@pytest.fixture(params=[False, True], ids=["process", "fork"])
def make_pool(request: pytest.FixtureRequest) -> Iterator[Callable[..., KernelPool]]:
    """Pools whose kernels start as new processes, and pools whose kernels are forks of a template."""
    yield from pool_maker(fork=request.param)


def probe(tmp_path: Path, nb: Path, pool: KernelPool | None, env: dict[str, str] | None = None,
          memory_limit_mb: int | None = LIMIT_MB) -> dict:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    run = run_notebook(nb, tmp_path / "out.ipynb", {}, kernel_name="workbench", cwd=work, cell_timeout=60,
                       env=env, memory_limit_mb=memory_limit_mb, pool=pool)
    assert run.error is None and run.notebook is not None
    cell = run.notebook.cells[-1]
    assert run.notebook.cells[0].execution_count == 1  # the warm-up and the folder change left no history
    return dict(ast.literal_eval(cell.outputs[0].text), count=cell.execution_count)


def test_a_warmed_pool_kernel_runs_one_notebook_in_its_folder_and_the_next_run_gets_another(
    make_pool, notebook: Path, tmp_path: Path
) -> None:
    pool = make_pool(warm_imports=["pandas", "no_such_module_here", "matplotlib.pyplot"])
    assert pool.wait_ready(timeout=60)
    [waiting] = pool.kernels()
    assert waiting.missing == ["no_such_module_here"]  # a failing warm-up import is skipped, the kernel is used
    first = probe(tmp_path, notebook, pool)
    assert first["pid"] == waiting.pid and pool.hits == 1
    assert first["pandas"] and first["names"] == ["os", "resource", "sys", "x"]  # warm-up imports bind no names
    assert first["cwd"] == str(tmp_path / "work")
    assert first["limit"] == LIMIT_MB * 2**20  # the launcher's memory limit applies to pool kernels too
    assert gone(first["pid"]) and not waiting.folder.exists()  # shut down and ended after its one run
    assert pool.wait_ready(timeout=60)
    second = probe(tmp_path, notebook, pool)
    assert second["pid"] != first["pid"] and pool.hits == 2
    assert second["names"] == ["os", "resource", "sys", "x"]  # nothing carries over from one run to the next


def test_a_run_with_another_environment_or_limit_starts_a_fresh_kernel(make_pool, notebook: Path, tmp_path: Path) \
        -> None:
    base = {k: v for k, v in os.environ.items() if k != "POOL_TEST_SECRET"}
    pool = make_pool(env=base)
    assert pool.wait_ready(timeout=60)
    [waiting] = pool.kernels()
    with_secret = probe(tmp_path, notebook, pool, env={**base, "POOL_TEST_SECRET": "s3cr3t"})
    assert with_secret["pid"] != waiting.pid and with_secret["secret"] == "s3cr3t"
    assert not with_secret["pandas"]  # a fresh kernel
    other_limit = probe(tmp_path, notebook, pool, env=base, memory_limit_mb=LIMIT_MB + 1)
    assert other_limit["pid"] != waiting.pid and other_limit["limit"] == (LIMIT_MB + 1) * 2**20
    assert pool.kernels() == [waiting] and pool.hits == 0 and pool.misses == 2
    assert probe(tmp_path, notebook, pool, env=base)["pid"] == waiting.pid


def test_a_pool_kernel_killed_while_waiting_is_not_handed_out_and_is_replaced(
    make_pool, notebook: Path, tmp_path: Path
) -> None:
    pool = make_pool(check_interval=60)  # the filler would not notice the death by itself before the run
    assert pool.wait_ready(timeout=60)
    [killed] = pool.kernels()
    assert killed.pid is not None
    os.kill(killed.pid, signal.SIGKILL)
    with contextlib.suppress(psutil.NoSuchProcess):  # a fork is reaped by its template at once
        psutil.wait_procs([psutil.Process(killed.pid)], timeout=5)
    fresh = probe(tmp_path, notebook, pool)
    # a new kernel: a fork of the template (warm) or a new process (not warm)
    assert fresh["pid"] != killed.pid and fresh["pandas"] == (pool.templates is not None) and pool.hits == 0
    assert pool.wait_ready(timeout=60)
    [replacement] = pool.kernels()
    assert replacement.pid not in (killed.pid, fresh["pid"]) and replacement.alive()
    assert not killed.folder.exists()


def test_kernels_that_die_while_warming_up_are_not_kept_and_runs_start_fresh_ones(
    make_pool, notebook: Path, tmp_path: Path
) -> None:
    (tmp_path / "ends_the_process.py").write_text("import os\nos._exit(3)\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    pool = make_pool(env=env, warm_imports=["ends_the_process"])
    deadline = time.monotonic() + 30
    while pool.failed < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert pool.ready == 0 and pool.started == 0
    assert probe(tmp_path, notebook, pool, env=env)["pid"] and pool.misses == 1 and pool.ready == 0


def test_the_installed_pool_serves_worker_runs_and_leaves_nothing_when_it_stops(
    settings: Settings, notebook: Path, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"kernel_pool_size": 2, "kernel_warm_imports": "pandas",
                                           "kernel_memory_limit_mb": LIMIT_MB})
    env = kernel_environment(settings, ComponentSpec(name="x", title="", notebook="", result_model=BaseModel))
    with kernel_pool.serving(settings) as pool:
        assert pool is not None and kernel_pool.installed() is pool
        assert pool.wait_ready(2, timeout=60)
        waiting = {k.pid for k in pool.kernels()}
        assert probe(tmp_path, notebook, None, env=env)["pid"] in waiting  # no pool argument: the installed one
        folders, processes = mine()
        assert folders and processes
    assert kernel_pool.installed() is None
    assert mine() == ([], [])
    assert all(gone(pid) for pid in waiting if pid is not None)
    with kernel_pool.serving(settings.model_copy(update={"kernel_pool_size": 0, "kernel_pool_fork": False})) as off:
        assert off is None and kernel_pool.installed() is None


def test_shutdown_during_a_warm_up_ends_it_at_once(make_pool, tmp_path: Path) -> None:
    (tmp_path / "slow_module.py").write_text("import time\ntime.sleep(60)\n")
    pool = make_pool(env={**os.environ, "PYTHONPATH": str(tmp_path)}, warm_imports=["slow_module"])
    deadline = time.monotonic() + 30
    while not (pool._starting and mine()[1]):  # the kernel is up and importing
        assert time.monotonic() < deadline
        time.sleep(0.1)
    began = time.monotonic()
    pool.shutdown()
    assert time.monotonic() - began < 10
    assert mine() == ([], [])


KILLED_WORKER = """\
import sys, time
from workbench.kernel_pool import KernelPool
pool = KernelPool(kernel_name="workbench", size=1, warm_imports=[]).start()
assert pool.wait_ready(timeout=60)
print(pool.kernels()[0].pid, flush=True)
time.sleep(600)
"""


def test_the_sweeper_removes_the_pool_kernels_of_a_killed_worker() -> None:
    root = Path(tempfile.mkdtemp(prefix="wbt-", dir="/tmp"))  # short: socket paths
    try:
        worker = subprocess.Popen([sys.executable, "-c", KILLED_WORKER], stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "TMPDIR": str(root)})
        assert worker.stdout is not None
        pid = int(worker.stdout.readline())
        folder = next(root.glob(f"{kernels.PREFIX}{worker.pid}-*"))
        assert (folder / kernels.CONNECTION_FILE).exists()
        assert kernels.sweep_kernel_leftovers(root) == 0  # a live worker's pool is left alone
        worker.send_signal(signal.SIGKILL)  # no finally, no atexit
        worker.wait()
        deadline = time.monotonic() + 10
        while not gone(pid) and time.monotonic() < deadline:  # ipykernel's parent poller ends it
            time.sleep(0.2)
        assert kernels.sweep_kernel_leftovers(root) >= 1  # the folder (and the kernel, had it not exited)
        assert list(root.iterdir()) == [] and gone(pid)
    finally:
        kernels.sweep_kernel_leftovers(root)
        subprocess.run(["rm", "-rf", str(root)], check=False)


def test_the_pool_refills_only_while_fewer_runs_than_its_cores_are_in_progress(make_pool) -> None:
    # Warming is CPU work: with as many runs in progress as cores, it would slow them, so it waits.
    pool = make_pool(busy_runs=1, check_interval=0.1, warm_imports=[])
    assert pool.wait_ready(timeout=60)
    taken = pool.take("workbench", pool._current_env(), LIMIT_MB)
    assert taken is not None
    try:
        time.sleep(1.5)  # fifteen checks of the filler
        assert pool.ready == 0 and pool.started == 1
    finally:
        taken.dispose()
    pool.run_ended()
    assert pool.wait_ready(timeout=60) and pool.started == 2


THREADS_PROBE = ("from threadpoolctl import threadpool_info\n"
                 "import numpy, sklearn.cluster\n"
                 "print(repr(sorted({(p['user_api'], p['num_threads']) for p in threadpool_info()})))")


def test_a_kernel_gets_its_share_of_the_cores_for_its_native_thread_pools(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several kernels run at once: each one's OpenMP and BLAS pools get the cores over the notebook slots (at
    least one thread), in a forked kernel as in a new one, so kernels do not spin against each other."""
    cores = kernels.usable_cpus()
    settings = settings.model_copy(update={"kernel_pool_size": 0, "max_concurrent_activities": 2 * cores,
                                           "kernel_warm_imports": "numpy,sklearn.cluster"})
    spec = ComponentSpec(name="x", title="", notebook="", result_model=BaseModel)
    env = kernel_environment(settings, spec)
    assert {env[v] for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")} == {"1"}
    nb = write_notebook(tmp_path / "threads.ipynb", THREADS_PROBE)
    with kernel_pool.serving(settings) as pool:
        assert pool is not None and pool.templates is not None  # forks of the template
        work = tmp_path / "work"
        work.mkdir()
        run = run_notebook(nb, tmp_path / "out.ipynb", {}, kernel_name="workbench", cwd=work, cell_timeout=60,
                           env=env, memory_limit_mb=LIMIT_MB)
        assert run.error is None and run.notebook is not None
        pools = ast.literal_eval(run.notebook.cells[-1].outputs[0].text)
    assert {"blas", "openmp"} <= {api for api, _ in pools} and {n for _, n in pools} == {1}

    # The operator's own value is kept, unless the setting names one.
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert kernel_environment(settings, spec)["OMP_NUM_THREADS"] == "3"
    assert kernel_environment(settings.model_copy(update={"kernel_threads": 2}), spec)["OMP_NUM_THREADS"] == "2"
    assert kernel_environment(settings.model_copy(update={"max_concurrent_activities": 1}),
                              spec)["OPENBLAS_NUM_THREADS"] == str(cores)
