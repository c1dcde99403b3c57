"""A worker's memory and time for a large report's snapshot, against parsing the stored document whole.

    .venv/bin/python -m benchmarks.snapshot_memory [--responses 200000] [--seed 7]

Setup (not measured): a SQLite database in a temporary folder holding a generated survey of `--responses`
responses (`workbench.sample.generate_sample`) and a report of it. Then each step runs in a fresh process (so
its peak resident memory is its own), measured from after its imports:

* `prepare`: `steps.prepare_report`, which freezes the survey's responses into the report's stored snapshot
  document (read, validated and written 10,000 responses at a time, then inserted);
* `snapshot files`: `steps._shared_snapshot`, which writes a worker's `snapshot.json` and `snapshot.parquet` for
  the report's components from the stored document;
* the baseline, `whole parse`: reading the stored document and parsing it whole (`pydantic_core.from_json`), what
  a worker did before it read the responses a slice at a time.

The table gives each step's seconds and its peak memory over the process's resident memory after its imports, and
the ratio of that peak to the baseline's. No target of its own: the worker's part of the scale benchmark's 1.5 GB
(issue 12). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks._stack import format_table

STEPS = ("whole parse", "prepare", "snapshot files")


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _setup(folder: Path, n: int, seed: int) -> tuple[str, uuid.UUID]:
    from workbench.sample import generate_sample
    from workbench.storage import reports as report_store
    from workbench.storage import surveys as survey_store
    from workbench.storage.db import make_engine, make_sessionmaker, transaction
    from workbench.storage.migrate import upgrade
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID
    from workbench.surveys.schema import ResponseRecord, SurveyDefinition

    url = f"sqlite:///{folder / 'workbench.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    sample = generate_sample(seed, n)
    definition = SurveyDefinition.model_validate({k: v for k, v in sample["survey"].items() if k != "id"})
    records = [ResponseRecord.model_validate(r) for r in sample.pop("responses")]
    with transaction(sessions) as session:
        survey = survey_store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition)
        survey_store.add_responses(session, survey_id=survey.id, records=records)
        report = report_store.create_report(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey.id,
                                            component_names=["basic_stats"])
        report_id = report.id
    engine.dispose()
    return url, report_id


def _step(name: str, url: str, report_id: uuid.UUID, folder: Path) -> None:
    """Run one step in this (fresh) process and print `seconds peak_mb document_mb` on the last line."""
    import pydantic_core
    from sqlalchemy import Text, cast, select

    import workbench.notebook  # noqa: F401  (pyarrow, and pandas, which pyarrow loads: imports, not the step)
    from workbench.reports import steps
    from workbench.storage.db import make_engine, make_sessionmaker
    from workbench.storage.models import ReportSnapshot

    sessions = make_sessionmaker(make_engine(url))
    base = _rss_mb()
    start = time.perf_counter()
    size = 0
    if name == "prepare":
        steps.prepare_report(sessions, report_id)
    else:
        with sessions() as session:
            if name == "whole parse":
                text = session.execute(select(cast(ReportSnapshot.data, Text)).where(
                    ReportSnapshot.report_id == report_id)).scalar()
                assert text is not None, "prepare first"
                size = len(text)
                parsed = pydantic_core.from_json(text)
                assert len(parsed["responses"]) > 0
            else:
                steps._shared_snapshot(session, report_id, folder / "work" / str(report_id))
    print(f"{time.perf_counter() - start:.3f} {_peak_mb() - base:.1f} {size / 2**20:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # internal: one step, in a child
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        _step(args.step, args.db, uuid.UUID(args.report), Path(args.folder))
        return 0

    with tempfile.TemporaryDirectory(prefix="workbench-snapshot-memory-") as tmp:
        folder = Path(tmp)
        print(f"generating and storing {args.responses:,} responses (not measured)...", file=sys.stderr)
        url, report_id = _setup(folder, args.responses, args.seed)
        results: dict[str, tuple[float, float]] = {}
        document = 0.0
        for name in ("prepare", "whole parse", "snapshot files"):  # the baseline needs the stored document
            print(f"  {name}...", file=sys.stderr)
            out = subprocess.run([sys.executable, "-m", "benchmarks.snapshot_memory", "--step", name, "--db", url,
                                  "--report", str(report_id), "--folder", str(folder)],
                                 capture_output=True, text=True, check=True)
            seconds, peak, size = (float(x) for x in out.stdout.strip().splitlines()[-1].split())
            results[name] = (seconds, peak)
            document = max(document, size)
    baseline = results["whole parse"][1]
    rows = [["step", "seconds", "peak MB over imports", "ratio to whole parse"]]
    rows += [[name, f"{results[name][0]:.2f}", f"{results[name][1]:.0f}", f"{results[name][1] / baseline:.2f}"]
             for name in STEPS]
    print(f"\nSnapshot of {args.responses:,} responses (seed {args.seed}), SQLite; stored document "
          f"{document:.0f} MB; each step in a fresh process\n")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
