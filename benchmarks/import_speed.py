"""Import speed: 200,000 CSV responses through `parse_responses` + `add_responses` vs. pandas' read_csv + to_sql.

    .venv/bin/python -m benchmarks.import_speed [--rows N] [--postgres URL | --no-postgres]

See benchmarks/README.md for what is measured and the target.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET_SECONDS = 60.0
SAMPLE_ROWS = 20_000  # generated once, then repeated with fresh respondent ids (the generator does ~3,000/s)
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def write_csv(path: Path, rows: int) -> dict[str, Any]:
    """Write `rows` responses to the sample survey as a CSV in the plain import format; returns the survey."""
    from workbench.sample import generate_sample

    sample = generate_sample(n=min(rows, SAMPLE_ROWS))
    questions = [q["key"] for q in sample["survey"]["questions"]]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["respondent_id", "started_at", "completed_at", *questions])
        written = 0
        while written < rows:
            for response in sample["responses"]:
                if written == rows:
                    break
                answers = response["answers"]
                cells = ["|".join(v) if isinstance(v, list) else v for v in (answers.get(k) for k in questions)]
                writer.writerow([f"r{written:07d}", response["started_at"], response["completed_at"] or "", *cells])
                written += 1
    return sample["survey"]


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def workbench_import(url: str, survey: dict[str, Any], path: Path) -> dict[str, float]:
    """Create the survey, then parse (streaming the file) and store the responses in one transaction."""
    from workbench.storage import surveys as store
    from workbench.storage.db import make_engine, make_sessionmaker, transaction
    from workbench.storage.migrate import upgrade
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID
    from workbench.surveys.imports import parse_responses
    from workbench.surveys.schema import SurveyDefinition

    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    definition = SurveyDefinition.model_validate({k: v for k, v in survey.items() if k != "id"})
    with transaction(sessions) as session:
        survey_id = store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition).id
    gc.disable()  # as the API does during an import (api.import_jobs.gc_paused)
    try:
        start = time.perf_counter()
        with path.open("rb") as stream:
            parse, records = timed(lambda: parse_responses(definition, stream, fmt="csv"))

        def store_all() -> int:
            with transaction(sessions) as session:
                return store.add_responses(session, survey_id=survey_id, records=records)

        stored, count = timed(store_all)
        total = time.perf_counter() - start
    finally:
        gc.enable()
    engine.dispose()
    assert count == len(records)
    return {"parse": parse, "store": stored, "total": total, "rows": count}


def baseline_import(url: str, path: Path) -> dict[str, float]:
    """pandas: read the same file and write it to a table as it is (no validation, answers not typed)."""
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    start = time.perf_counter()
    parse, frame = timed(lambda: pd.read_csv(path, dtype=str, keep_default_na=False))
    table = f"baseline_{uuid.uuid4().hex[:8]}"
    stored, _ = timed(lambda: frame.to_sql(table, engine, index=False, chunksize=5_000))
    total = time.perf_counter() - start
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP TABLE "{table}"'))
    engine.dispose()
    return {"parse": parse, "store": stored, "total": total, "rows": len(frame)}


def postgres_database(admin_url: str) -> tuple[str, Callable[[], None]] | None:
    """A fresh PostgreSQL database and a function dropping it; None when the server does not answer."""
    import sqlalchemy as sa

    name = f"workbench_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: the PostgreSQL rows are skipped, not an error
        print(f"PostgreSQL skipped ({type(exc).__name__}: {str(exc).splitlines()[0]})", file=sys.stderr)
        return None

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


def table(results: list[tuple[str, dict[str, float], dict[str, float]]]) -> str:
    lines = ["| database | route | rows | parse s | store s | total s | rows/s | vs baseline | target < 60 s |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for database, workbench, baseline in results:
        for route, r in (("workbench", workbench), ("pandas baseline", baseline)):
            ratio = r["total"] / baseline["total"]
            met = ("met" if r["total"] < TARGET_SECONDS else "MISSED") if route == "workbench" else ""
            lines.append(f"| {database} | {route} | {int(r['rows']):,} | {r['parse']:.1f} | {r['store']:.1f} | "
                         f"{r['total']:.1f} | {r['rows'] / r['total']:,.0f} | {ratio:.2f}x | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table (stdout); progress goes to stderr.

    Args:
        argv: Command-line arguments (default: `sys.argv[1:]`).

    Returns:
        The exit code: 0 when everything ran (whether or not the target was met).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--postgres", default=os.environ.get("WORKBENCH_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
                        help="admin URL of a PostgreSQL server to measure too (a temporary database is created)")
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="workbench-import-bench-") as tmp:
        path = Path(tmp) / "responses.csv"
        print(f"writing {args.rows:,} responses to {path} ...", file=sys.stderr)
        survey = write_csv(path, args.rows)
        size = path.stat().st_size
        results = []
        print("SQLite: workbench ...", file=sys.stderr)
        workbench = workbench_import(f"sqlite:///{tmp}/workbench.db", survey, path)
        print("SQLite: pandas baseline ...", file=sys.stderr)
        baseline = baseline_import(f"sqlite:///{tmp}/baseline.db", path)
        results.append(("SQLite", workbench, baseline))
        database = None if args.no_postgres else postgres_database(args.postgres)
        if database is not None:
            url, drop = database
            try:
                print("PostgreSQL: workbench ...", file=sys.stderr)
                workbench = workbench_import(url, survey, path)
                print("PostgreSQL: pandas baseline ...", file=sys.stderr)
                baseline = baseline_import(url, path)
                results.append(("PostgreSQL", workbench, baseline))
            finally:
                drop()
    print(f"file: {args.rows:,} responses, {size / 1e6:.1f} MB CSV; cores: {os.cpu_count()}")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
