"""The web UI in a real browser: the system Chromium (headless, through Playwright; nothing is downloaded) drives
the app served by uvicorn on loopback, with the real Temporal dev server and a real worker running notebooks.

One stack per module (starting kernels and servers is most of the cost): the app in a thread with its own event
loop (it connects its own Temporal client there, from `temporal_address`), the worker in the tests' loop (on the
session's dev server client), Playwright's async API in the tests' loop too. The notebooks are a copy in which
`sentiment` fails at once and `themes` sleeps, for the failed-component and cancel tests.

Screenshots of every page go to `test-artifacts/screenshots/` (override with WORKBENCH_SCREENSHOTS_DIR).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
import pytest_asyncio

from api.main import create_app
from tests.conftest import AUTH, REPO_ROOT, TEST_ADMIN_KEY
from tests.integration.api_support import LiveServer
from workbench.config import Settings
from workbench.rendering.pdf import CHROMIUM_ARGS, find_chromium
from workbench.storage.db import make_engine, make_sessionmaker
from workbench.storage.migrate import upgrade
from workers.worker import build_worker, executor_threads

SCREENSHOTS = Path(os.environ.get("WORKBENCH_SCREENSHOTS_DIR", REPO_ROOT / "test-artifacts" / "screenshots"))
MAX_UPLOAD_BYTES = 64 * 1024  # small, so the 413 test sends little
# Small too, so a few hundred rows (under MAX_UPLOAD_BYTES) go to the background; the other tests' imports are below.
BACKGROUND_IMPORT_BYTES = 16 * 1024
FAILING_SENTIMENT = "raise ValueError('engine unavailable: <b>oops</b>')"
# A rejected form's page is a 422 document: the browser logs its status, nothing went wrong.
EXPECTED_STATUSES = ("status of 422 (Unprocessable Entity)",)
SLEEPING_THEMES = "import time\nfor _ in range(600):\n    time.sleep(0.5)"


def _notebooks(folder: Path) -> Path:
    """A copy of the notebooks where `sentiment` raises and `themes` sleeps right after their parameters."""
    shutil.copytree(REPO_ROOT / "notebooks", folder, ignore=shutil.ignore_patterns("data"))
    for name, code in (("sentiment", FAILING_SENTIMENT), ("themes", SLEEPING_THEMES)):
        nb = nbformat.read(folder / f"{name}.ipynb", as_version=4)
        position = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
        nb.cells.insert(position, nbformat.v4.new_code_cell(code))
        nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


@dataclass
class Stack:
    url: str
    settings: Settings
    api: httpx.AsyncClient
    browser: Any  # playwright.async_api.Browser
    app: Any = None  # the FastAPI app the server runs (its state: the import runner)
    foreign_requests: list[str] = field(default_factory=list)  # requests to anywhere but the app
    console_errors: list[str] = field(default_factory=list)  # CSP violations and script errors land here

    async def new_page(self, javascript: bool = True) -> Any:
        context = await self.browser.new_context(base_url=self.url, viewport={"width": 1280, "height": 900},
                                                 accept_downloads=True, java_script_enabled=javascript)
        # Signed in with the test admin key: the session cookie goes with every request (downloads included).
        signed = await context.request.post("/login", form={"key": TEST_ADMIN_KEY, "next": "/surveys"},
                                            max_redirects=0)
        assert signed.status == 303, await signed.text()
        page = await context.new_page()
        page.set_default_timeout(30_000)
        page.on("request", lambda request: None if request.url.startswith((self.url + "/", "data:", "blob:"))
                else self.foreign_requests.append(request.url))
        page.on("console", lambda message: self.console_errors.append(message.text)
                if message.type == "error" and not message.text.endswith(EXPECTED_STATUSES) else None)
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        return page

    def assert_clean(self) -> None:
        """No page asked anything of another origin, and no script error or CSP violation happened."""
        assert self.foreign_requests == []
        assert self.console_errors == [], "\n".join(self.console_errors)


async def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"),
                          full_page=True)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(temporal_env: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    from playwright.async_api import async_playwright

    chromium = find_chromium(None, fallback=True)
    if chromium is None:
        pytest.fail("no system Chromium: install it with `apt-get install chromium` (the browser tests need it)")
    tmp = tmp_path_factory.mktemp("browser")
    database_url = f"sqlite:///{tmp / 'workbench.db'}"
    upgrade(database_url)
    settings = Settings(
        data_dir=tmp / "data", database_url=database_url, notebooks_dir=_notebooks(tmp / "notebooks"),
        cell_timeout_seconds=60, heartbeat_timeout_seconds=10, task_queue=f"browser-{uuid.uuid4().hex[:8]}",
        temporal_address=temporal_env.client.service_client.config.target_host,
        max_upload_bytes=MAX_UPLOAD_BYTES, background_import_bytes=BACKGROUND_IMPORT_BYTES, chromium_path=chromium,
        bootstrap_admin_key=TEST_ADMIN_KEY, rate_limit="",
    )
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions):
            app = create_app(settings)
            with LiveServer(app) as server:
                async with httpx.AsyncClient(base_url=server.url, timeout=60, headers=AUTH) as api, \
                        async_playwright() as pw:
                    browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
                    try:
                        yield Stack(url=server.url, settings=settings, api=api, browser=browser, app=app)
                    finally:
                        await browser.close()
    engine.dispose()
