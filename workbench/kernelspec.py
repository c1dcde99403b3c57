"""Install the project's Jupyter kernel spec (`kernels/workbench`) for the running Python environment.

The spec in the repository names `python`; installing it pins argv[0] to this interpreter, so notebooks run by
JupyterLab and by the workers see the same packages, and sets the environment the notebooks rely on
(`MPLBACKEND=agg`, a fixed hash seed, one BLAS thread per kernel so parallel components share the cores).
The kernel starts through `workbench.kernels`, which applies the run's memory limit (if any) and execs ipykernel;
`MALLOC_ARENA_MAX=2` keeps glibc from reserving 64 MB of address space per thread, so that limit (an
address-space limit) stays close to the memory a notebook really uses.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "workbench"
SOURCE = Path(__file__).resolve().parent.parent / "kernels" / KERNEL_NAME


def kernel_spec() -> dict:
    spec = json.loads((SOURCE / "kernel.json").read_text())
    spec["argv"][0] = sys.executable
    return spec


def install_kernelspec(prefix: str | None = None) -> Path:
    """Install (or refresh) the `workbench` kernel under `prefix` (default: this environment's sys.prefix)."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / KERNEL_NAME
        shutil.copytree(SOURCE, target)
        (target / "kernel.json").write_text(json.dumps(kernel_spec(), indent=2))
        installed = KernelSpecManager().install_kernel_spec(
            str(target), KERNEL_NAME, prefix=prefix or sys.prefix, replace=True
        )
    return Path(installed)


def is_installed() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return False
    wanted = kernel_spec()
    return spec.argv == wanted["argv"] and spec.env == wanted["env"]  # an older spec is reinstalled
