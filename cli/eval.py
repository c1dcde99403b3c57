"""`workbench eval ...`: measure analysis engines against labelled answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import console, fail

app = typer.Typer(help="Measure analysis engines on labelled data.", no_args_is_help=True)


def _build_engine(name: str, cache: bool) -> Any:
    from workbench.text.engines import MiniLMEngine, get

    if name == "minilm" and not cache:
        from workbench.text.embeddings import MiniLMEmbedder

        return MiniLMEngine(embedder=MiniLMEmbedder())  # no cache: measures what embedding really costs
    return get(name)


def _print_report(figures: dict[str, Any], info: Any, header: str) -> None:
    console.print(header, highlight=False)
    console.print(f"engine: {info.name} ({info.model})", highlight=False)
    aside = figures["set_aside"]
    console.print(f"answers: {figures['n']} scored, {aside['count']} set aside {aside['reasons']}"
                  + (f" languages {aside['languages']}" if aside["languages"] else ""), highlight=False)
    if not figures["n"]:
        return
    f1 = ", ".join(f"{k} {v:.3f}" for k, v in figures["f1"].items())
    console.print(f"accuracy:          {figures['accuracy']:.4f}", highlight=False)
    console.print(f"majority baseline: {figures['majority_baseline']:.4f} (always '{figures['majority_class']}')",
                  highlight=False)
    console.print(f"macro-F1:          {figures['macro_f1']:.4f} ({f1})", highlight=False)
    spearman = "n/a (label not numeric)" if figures["spearman"] is None else f"{figures['spearman']:.4f}"
    console.print(f"Spearman(score, label): {spearman}", highlight=False)
    console.print("confusion (rows: true label, columns: predicted):", highlight=False)
    labels = list(figures["confusion"])
    console.print("  " + " " * 10 + "".join(f"{p:>10}" for p in labels), highlight=False)
    for gold in labels:
        row = figures["confusion"][gold]
        console.print(f"  {gold:>10}" + "".join(f"{row[p]:>10}" for p in labels), highlight=False)
    console.print(f"speed: {figures['answers_per_second']} answers/s ({figures['seconds']} s, cleaning included)",
                  highlight=False)


@app.command("sentiment")
def sentiment(
    file: Annotated[Path, typer.Argument(help="A CSV file with a text column and a label column",
                                         exists=True, dir_okay=False)],
    text: Annotated[str, typer.Option("--text", help="Column holding the answers")],
    label: Annotated[str, typer.Option("--label", help="Column holding the true labels")],
    label_map: Annotated[str | None, typer.Option(
        "--label-map", help="How raw labels map to positive/neutral/negative, e.g. "
        "'1=negative,2=negative,3=neutral,4=positive,5=positive' (default: the column already holds them)",
    )] = None,
    engine: Annotated[str, typer.Option("--engine", help="minilm or vader")] = "minilm",
    split: Annotated[str, typer.Option(
        "--split", help="heldout: the seeded 20% stratified split the minilm head never trained on; all: every row",
    )] = "heldout",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N selected rows")] = None,
    cache: Annotated[bool, typer.Option("--cache/--no-cache",
                                        help="Reuse cached embeddings (--no-cache: measure the real cost)")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
) -> None:
    """Accuracy, macro-F1, majority baseline, Spearman, confusion counts and answers/s of a sentiment engine."""
    from workbench.text.engines import engine_info, engines
    from workbench.text.evaluate import (
        EvaluationInputError,
        evaluate,
        heldout_positions,
        load_labelled,
        parse_label_map,
    )

    if split not in ("heldout", "all"):
        raise fail(f"--split must be heldout or all, not {split!r}")
    if engine not in engines.names():
        raise fail(f"unknown engine {engine!r} (known: {', '.join(engines.names())})")
    try:
        mapping = parse_label_map(label_map) if label_map else None
        ids, texts, gold, numeric = load_labelled(file, text, label, mapping)
    except (EvaluationInputError, ValueError) as exc:
        raise fail(str(exc)) from None
    total = len(ids)
    chosen = heldout_positions(gold) if split == "heldout" else list(range(total))
    if limit is not None:
        chosen = chosen[:limit]
    try:
        scorer = _build_engine(engine, cache)
    except (OSError, ImportError) as exc:
        raise fail(f"engine {engine!r} cannot load: {exc}") from None
    figures = evaluate(scorer, [texts[i] for i in chosen], [gold[i] for i in chosen],
                       [numeric[i] for i in chosen] if numeric is not None else None)
    figures["split"] = split
    figures["rows_labelled"] = total
    if as_json:
        console.print_json(json.dumps(figures))
        return
    _print_report(figures, engine_info(scorer),
                  f"{file.name}: {len(chosen)} of {total} labelled rows (split: {split}"
                  + (f", limit {limit}" if limit else "") + ")")


@app.command("themes")
def themes(
    file: Annotated[Path, typer.Argument(help="A CSV file with a text column", exists=True, dir_okay=False)],
    text: Annotated[str, typer.Option("--text", help="Column holding the answers")],
    label: Annotated[str | None, typer.Option(
        "--label", help="Column of a label (e.g. Rating, Department Name) to measure theme purity against")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="A seeded random sample of N answers")] = None,
    max_themes: Annotated[int, typer.Option("--max-themes", min=2, max=30, help="At most this many themes")] = 6,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
) -> None:
    """Coverage, unassigned share, purity against a label (vs the majority baseline) and answers/s of themes."""
    import random

    from workbench.text.evaluate import EvaluationInputError
    from workbench.text.evaluate_themes import evaluate_themes, load_answers

    try:
        texts, labels = load_answers(file, text, label)
    except EvaluationInputError as exc:
        raise fail(str(exc)) from None
    total = len(texts)
    if limit is not None and limit < total:
        chosen = sorted(random.Random(0).sample(range(total), limit))
        texts = [texts[i] for i in chosen]
        labels = [labels[i] for i in chosen] if labels is not None else None
    figures = evaluate_themes(texts, labels, max_themes=max_themes)
    figures["rows"] = total
    if as_json:
        console.print_json(json.dumps(figures))
        return
    say = lambda line: console.print(line, highlight=False, soft_wrap=True)  # noqa: E731
    say(f"{file.name}: {len(texts)} of {total} answers" + (f" (seeded sample, limit {limit})" if limit else ""))
    aside = figures["set_aside"]
    say(f"engine: {figures['engine']}")
    say(f"answers: {figures['n']} analysed, {aside['count']} set aside {aside['reasons']}"
        + (f" languages {aside['languages']}" if aside["languages"] else ""))
    if figures["note"]:
        say(f"no themes: {figures['note']}")
        return
    say(f"themes: {figures['themes']} (from {figures['parts']} sentences, fit cut-off {figures['fit_cutoff']})")
    say(f"coverage:          {figures['coverage']:.4f} (answers mentioning a theme)")
    say(f"unassigned:        {figures['unassigned_share']:.4f}")
    if figures["purity"] is not None:
        say(f"purity:            {figures['purity']:.4f} (label {label!r}; answers counted in every theme "
            "they mention)")
        say(f"purity, dominant:  {figures['purity_dominant']:.4f} (each answer in its main theme only)")
        say(f"majority baseline: {figures['majority_baseline']:.4f}")
    say(f"speed: {figures['answers_per_second']} answers/s ({figures['seconds']} s, cleaning and embedding "
        "included; cached embeddings cost nothing)")
    say("themes (share of answers mentioning, 95% CI; shares can sum past 100%):")
    for row in figures["per_theme"]:
        lo, hi = row["share_ci"]
        extra = f"  purity {row['purity']:.3f} ({row['majority_label']})" if "purity" in row else ""
        say(f"  {row['label']:<32} {100 * row['share']:5.1f}%  [{100 * lo:.1f}-{100 * hi:.1f}]  "
            f"n={row['count']}{extra}")
