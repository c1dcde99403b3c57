"""Kernels forked from a warm template (issue 12): warm, contained like any kernel (run folder, memory limit, own
session, children ended with the run, own random state), never a template with threads, and nothing left behind
when a run, the template or the process that started it ends."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.integration.test_kernel_pool import LIMIT_MB, pool_maker
from tests.integration.test_runner import gone, write_notebook
from workbench import kernel_forks, kernels
from workbench.config import REPO_ROOT
from workbench.kernel_pool import KernelPool
from workbench.runner import NotebookError, run_notebook

pytestmark = pytest.mark.skipif(not kernel_forks.supported(), reason="needs Linux pidfds")

PROBE = ("import os, sys, resource, subprocess, numpy\n"
         "child = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
         "print(repr({'pid': os.getpid(), 'ppid': os.getppid(), 'cwd': os.getcwd(),\n"
         "            'pandas': 'pandas' in sys.modules,\n"
         "            'limit': resource.getrlimit(resource.RLIMIT_AS)[0], 'marker': os.environ.get('WBK_RUN'),\n"
         "            'sid': os.getsid(0), 'draw': float(numpy.random.random()), 'child': child.pid,\n"
         "            'history': get_ipython().history_manager.enabled}))")


def wait_for(condition: Callable[[], object], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def make_pool() -> Iterator[Callable[..., KernelPool]]:
    """Pools that keep no kernel ready: each run forks one from the template."""
    yield from pool_maker(size=0, fork=True)


def probe(tmp_path: Path, pool: KernelPool, env: dict[str, str] | None = None, code: str = PROBE) -> dict:
    """What `code` (a cell printing a dict's repr) printed in a kernel of `pool`."""
    nb = write_notebook(tmp_path / "probe.ipynb", code)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    run = run_notebook(nb, tmp_path / "out.ipynb", {}, kernel_name="workbench", cwd=work, cell_timeout=60,
                       env=env, memory_limit_mb=LIMIT_MB, pool=pool)
    assert run.error is None and run.notebook is not None
    return dict(ast.literal_eval(run.notebook.cells[-1].outputs[0].text))


def test_a_run_forks_a_warm_kernel_that_is_contained_like_a_started_one(make_pool, tmp_path: Path) -> None:
    pool = make_pool()
    assert pool.templates is not None
    wait_for(lambda: pool.templates.template_pid and not pool._starting)  # type: ignore[union-attr]
    template = pool.templates.template_pid
    first = probe(tmp_path, pool)
    assert first["ppid"] == template and first["pandas"]  # forked, with the warm-up imports done
    assert first["cwd"] == str(tmp_path / "work") and first["limit"] == LIMIT_MB * 2**20
    assert first["sid"] == first["pid"]  # its own session, so signals to its group reach its children
    assert first["history"] is False  # a run's kernel keeps no command history
    assert first["marker"] and Path(first["marker"]).name.startswith(f"{kernels.PREFIX}{os.getpid()}-")
    assert gone(first["pid"]) and gone(first["child"])  # the kernel and what it started end with the run
    assert not Path(first["marker"]).exists()
    second = probe(tmp_path, pool)
    assert second["ppid"] == template and second["pid"] != first["pid"]
    assert second["draw"] != first["draw"]  # each fork has its own random state
    assert pool.templates.template_pid == template  # one template serves every run
    times = psutil.Process(template).cpu_times()  # the template reaps its kernels: their CPU time is counted
    assert times.children_user + times.children_system > 0
    pool.shutdown()
    assert gone(template)


def test_a_forked_kernel_finds_the_package_versions_its_results_record_already_read(make_pool, tmp_path) -> None:
    pool = make_pool(warm_imports=["workbench.results"])
    seen = probe(tmp_path, pool, code="import workbench.results as r\n"
                 "print(repr({'read': r._versions.cache_info().currsize, 'environment': r.environment()}))")
    assert seen["read"] == 1  # read by the template before the fork, not by this kernel
    from workbench.results import environment

    assert seen["environment"] == environment()


def test_a_run_with_another_environment_starts_a_new_process(make_pool, tmp_path: Path) -> None:
    pool = make_pool()
    wait_for(lambda: pool.templates.template_pid and not pool._starting)  # type: ignore[union-attr]
    other = probe(tmp_path, pool, env={**os.environ, "POOL_TEST_SECRET": "x"})
    assert other["ppid"] != pool.templates.template_pid and not other["pandas"]  # type: ignore[union-attr]
    assert other["history"] is False  # started through the launcher: no command history either


def test_a_component_given_a_secret_forks_too_and_the_template_never_holds_it(make_pool, tmp_path: Path) -> None:
    pool = make_pool()
    wait_for(lambda: pool.templates.template_pid and not pool._starting)  # type: ignore[union-attr]
    template = pool.templates.template_pid  # type: ignore[union-attr]
    secret = "sk-fork-test-not-for-templates"
    nb = write_notebook(tmp_path / "secret.ipynb", "import os\nprint(repr((os.getppid(), "
                        "os.environ.get('WORKBENCH_OPENAI_API_KEY'))))")
    run = run_notebook(nb, tmp_path / "out.ipynb", {}, kernel_name="workbench", cwd=tmp_path, cell_timeout=60,
                       env={**os.environ, "WORKBENCH_OPENAI_API_KEY": secret}, memory_limit_mb=LIMIT_MB, pool=pool)
    assert run.error is None and run.notebook is not None
    assert ast.literal_eval(run.notebook.cells[-1].outputs[0].text) == (template, secret)
    assert pool.templates.template_pid == template  # type: ignore[union-attr]  # not restarted for the secret
    assert secret not in str(psutil.Process(template).environ())  # type: ignore[arg-type]


def test_a_cell_timeout_on_a_forked_kernel_fails_its_cell_and_ends_the_kernel(make_pool, tmp_path: Path) -> None:
    pool = make_pool()
    wait_for(lambda: pool.templates.template_pid and not pool._starting)  # type: ignore[union-attr]
    pid_file = tmp_path / "pid"
    nb = write_notebook(tmp_path / "slow.ipynb", f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))",
                        "import time\ntime.sleep(60)")
    run = run_notebook(nb, tmp_path / "out.ipynb", {}, kernel_name="workbench", cwd=tmp_path, cell_timeout=2,
                       memory_limit_mb=LIMIT_MB, pool=pool)
    assert isinstance(run.error, NotebookError) and "ran longer than 2 s" in str(run.error)
    assert pool.templates.broken is None  # type: ignore[union-attr]  # the run was on a forked kernel
    pid = int(pid_file.read_text())
    wait_for(lambda: gone(pid), timeout=10)


def test_warm_up_imports_that_start_a_thread_are_refused_and_kernels_start_as_processes(
    make_pool, tmp_path: Path
) -> None:
    (tmp_path / "starts_a_thread.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    pool = make_pool(env=env, warm_imports=["pandas", "starts_a_thread"])
    assert pool.templates is not None
    wait_for(lambda: pool.templates.broken and not pool._starting)  # type: ignore[union-attr]
    assert "starts_a_thread" in pool.templates.broken and "pandas" not in pool.templates.broken  # type: ignore
    ran = probe(tmp_path, pool, env=env)
    assert ran["ppid"] == os.getpid() and not ran["pandas"]  # started by jupyter_client, not forked


def test_kernels_exit_when_their_template_is_killed(make_pool) -> None:
    pool = make_pool(size=1)
    assert pool.wait_ready(timeout=60)
    [kernel] = pool.kernels()
    template = pool.templates.template_pid  # type: ignore[union-attr]
    assert kernel.pid is not None and psutil.Process(kernel.pid).ppid() == template
    os.kill(template, signal.SIGKILL)  # type: ignore[arg-type]
    wait_for(lambda: gone(kernel.pid), timeout=10)  # type: ignore[arg-type]


def test_the_template_and_its_kernels_exit_when_the_process_that_started_them_is_gone(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import os, sys
        from workbench.kernel_pool import KernelPool
        pool = KernelPool(kernel_name="workbench", size=1, warm_imports=["pandas"], fork=True).start()
        assert pool.wait_ready(timeout=60)
        print(pool.templates.template_pid, pool.kernels()[0].pid, flush=True)
        os._exit(0)  # no shutdown, no atexit: as if killed
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    template, kernel = (int(x) for x in done.stdout.split())
    wait_for(lambda: gone(template) and gone(kernel), timeout=15)
    kernels.sweep_kernel_leftovers()  # the dead owner's folders


def test_only_a_runs_kernel_goes_without_command_history() -> None:
    """An analyst's kernel in JupyterLab (no run marker) keeps IPython's history; a run's kernel writes none."""
    assert kernels.run_arguments({"PATH": "/usr/bin"}) == []
    assert kernels.run_arguments({kernels.RUN_VARIABLE: "/tmp/wbk-1-2-x"}) == ["--HistoryManager.enabled=False"]
