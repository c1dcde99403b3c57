"""PDF downloads: served from storage after the first, against rendering on every download (what each download
cost before the PDF was stored).

    .venv/bin/python -m benchmarks.pdf_cache [--downloads N] [--renders N] [--responses N]

A real report first: the sample survey (its first `--responses` responses) with `basic_stats` and `visualizations`
run through the production steps in real kernels, on SQLite in a temporary folder (not timed). Then, through the
real API app (in process, `fastapi.testclient`): the first `GET /api/v1/reports/{id}/pdf` (renders and stores),
`--downloads` more (served from storage), and as the baseline `--renders` renders of the same report with the
browser (`report_pdf`). Target: a stored PDF served in under 50 ms (median). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from workbench.config import Settings

TARGET_MS = 50.0
BENCH_KEY = "wb_00000be4c5_pdf-cache-benchmark"  # the admin key the app stores at start; the client sends it


def _report(data_dir: Path, responses: int) -> tuple[Settings, uuid.UUID]:
    from workbench.reports import steps
    from workbench.reports.request import create_report_run
    from workbench.storage import surveys as survey_store
    from workbench.storage.db import make_engine, make_sessionmaker, transaction
    from workbench.storage.migrate import upgrade
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID
    from workbench.surveys.imports import parse_responses, read_survey_file

    settings = Settings(data_dir=data_dir, bootstrap_admin_key=BENCH_KEY)
    upgrade(settings.effective_database_url)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    definition, raw = read_survey_file(settings.notebooks_dir / "data" / "sample_survey.json")
    assert raw is not None, "the sample survey file holds responses"
    with transaction(sessions) as session:
        survey = survey_store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition)
        survey_store.add_responses(session, survey_id=survey.id,
                                   records=parse_responses(definition, raw[:responses], fmt="json"))
        report = create_report_run(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey.id,
                                   component_names=["basic_stats", "visualizations"],
                                   notebooks_dir=settings.notebooks_dir)
        report_id = report.id
    steps.prepare_report(sessions, report_id)
    for name in ("basic_stats", "visualizations"):
        steps.execute_component(sessions, settings, report_id, name)
    steps.finish_report(sessions, report_id)
    return settings, report_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--downloads", type=int, default=20, help="downloads served from storage (default 20)")
    parser.add_argument("--renders", type=int, default=3, help="baseline renders with the browser (default 3)")
    parser.add_argument("--responses", type=int, default=500, help="responses of the sample in the report")
    args = parser.parse_args(argv)

    from fastapi.testclient import TestClient

    from api.main import create_app
    from workbench.reports.views import report_pdf
    from workbench.storage import reports as store
    from workbench.storage.db import make_engine, make_sessionmaker

    with tempfile.TemporaryDirectory(prefix="wb-bench-pdf-") as tmp:
        os.environ["WORKBENCH_DATA_DIR"] = tmp
        print("building a real report (not timed) ...", file=sys.stderr)
        settings, report_id = _report(Path(tmp), args.responses)
        sessions = make_sessionmaker(make_engine(settings.effective_database_url))
        renders = []
        for _ in range(args.renders):
            with sessions() as session:
                report = store.load_report(session, report_id=report_id)
                assert report is not None
                started = time.perf_counter()
                report_pdf(session, report, settings.chromium_path)
                renders.append(time.perf_counter() - started)
        # "localhost": a Host header the app trusts by default (TestClient says "testserver")
        with TestClient(create_app(settings), base_url="http://localhost",
                        headers={"Authorization": f"Bearer {BENCH_KEY}"}) as client:
            url = f"/api/v1/reports/{report_id}/pdf"
            started = time.perf_counter()
            first = client.get(url)
            first_s = time.perf_counter() - started
            assert first.status_code == 200 and first.headers["x-workbench-cache"] == "miss", first.text
            served = []
            for _ in range(args.downloads):
                started = time.perf_counter()
                r = client.get(url)
                served.append(time.perf_counter() - started)
                assert r.headers["x-workbench-cache"] == "hit" and r.content == first.content
    baseline = statistics.median(renders)
    cached = statistics.median(served)
    print(f"\nPDF of a {args.responses}-response report ({len(first.content) / 1024:.0f} KiB)\n")
    print("| | median | min | max | ratio to baseline |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| baseline: render on every download ({args.renders}) | {baseline * 1000:.0f} ms | "
          f"{min(renders) * 1000:.0f} ms | {max(renders) * 1000:.0f} ms | 1.00 |")
    print(f"| first download (renders and stores) | {first_s * 1000:.0f} ms | | | {first_s / baseline:.2f} |")
    print(f"| later downloads, from storage ({args.downloads}) | {cached * 1000:.1f} ms | "
          f"{min(served) * 1000:.1f} ms | {max(served) * 1000:.1f} ms | {cached / baseline:.4f} |")
    met = "met" if cached * 1000 < TARGET_MS else "MISSED"
    print(f"\ntarget: a stored PDF in under {TARGET_MS:.0f} ms (median): {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
