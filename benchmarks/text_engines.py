"""Cost per answer of the text engines, against VADER (the rule-based baseline measured in the same run).

    .venv/bin/python -m benchmarks.text_engines [--answers N] [--data FILE --text COLUMN]

Takes the first N non-blank answers of a real file (default: 500 clothing reviews from ../shared/datasets) and
times, cleaning included, one after the other in this process:

* `vader`: the lexicon engine (the baseline, ratio 1);
* `minilm`, nothing cached: a fresh embedding cache in a temporary folder, so every answer is embedded (what a
  report pays for answers it has never seen);
* `minilm`, cached: the same answers again (a rerun, or answers shared with an earlier report);
* `themes`, cached embeddings: the themes analysis of the same answers (sentence split, clustering, labels,
  quotes); its sentences were embedded once before it is timed.

The table gives answers per second and the ratio of seconds to VADER's. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "womens_clothing_ecommerce_reviews.csv"


def answers(path: Path, column: str, n: int) -> list[str]:
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = (row.get(column) or "").strip()
            if text:
                out.append(text)
                if len(out) == n:
                    break
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=500)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--text", default="Review Text")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"no data file at {args.data} (give --data FILE --text COLUMN)", file=sys.stderr)
        return 2
    texts = answers(args.data, args.text, args.answers)
    with tempfile.TemporaryDirectory(prefix="wb-bench-text-") as cache:
        os.environ["WORKBENCH_EMBEDDING_CACHE"] = cache  # a cold cache of our own: nothing is reused from before
        from workbench.analysis.themes import themes_for_question
        from workbench.surveys.schema import Snapshot
        from workbench.text.engines import MiniLMEngine, VaderEngine, score_answers

        rows: list[tuple[str, float]] = []

        def timed(name: str, work: object) -> None:
            started = time.perf_counter()
            work()  # type: ignore[operator]
            rows.append((name, time.perf_counter() - started))
            print(f"{name}: {rows[-1][1]:.1f} s", file=sys.stderr)

        vader, minilm = VaderEngine(), MiniLMEngine()
        timed("vader (baseline)", lambda: score_answers(vader, texts))
        timed("minilm, nothing cached", lambda: score_answers(minilm, texts))
        timed("minilm, embeddings cached", lambda: score_answers(minilm, texts))
        snapshot = Snapshot.model_validate({
            "survey": {"id": "bench", "title": "bench", "questions": [{"key": "text", "type": "text", "text": "?"}]},
            "responses": [{"respondent_id": str(i), "answers": {"text": t}} for i, t in enumerate(texts)],
        })
        themes_for_question(snapshot, "text")  # embeds the sentences once (not timed)
        timed("themes, embeddings cached", lambda: themes_for_question(snapshot, "text"))
    base = rows[0][1]
    print(f"\n{len(texts)} answers from {args.data.name} ({args.text}), cleaning included\n")
    print("| engine | seconds | answers/s | ratio to vader |")
    print("| --- | --- | --- | --- |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {len(texts) / seconds:,.0f} | {seconds / base:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
