"""`workbench/` is the core: importing all of it must not pull in Temporal or FastAPI."""

import subprocess
import sys

from workbench.config import REPO_ROOT

PROBE = """
import importlib, pkgutil, sys
import workbench
for module in pkgutil.walk_packages(workbench.__path__, "workbench."):
    if ".migrations" in module.name:
        continue  # Alembic loads these itself
    importlib.import_module(module.name)
print(",".join(sorted(m for m in ("temporalio", "fastapi", "starlette") if m in sys.modules)))
"""


def test_core_imports_neither_temporal_nor_fastapi() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert out.stdout.strip() == ""
