"""The one-page answer: per data size, did synthetic data help, what to deploy, and what the synthetic data was
worth; then the learning curve, the leakage checks that passed, and the lineage. One Markdown text (the report
asset's metadata in the UI) and the same as a self-contained HTML page (the plots embedded as data URIs)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

import markdown as markdown_lib
import pandas as pd

from .predictions import largest_first

EVAL_SET = "holdout"


@dataclass
class ReportInputs:
    recommendation: pd.DataFrame  # the holdout's rows
    headline: pd.DataFrame
    registry: pd.DataFrame  # classifier_registry, current rows
    strategies: pd.DataFrame = field(default_factory=pd.DataFrame)  # strategy_comparison, the holdout's rows
    learning_curve_png: bytes | None = None
    checks: list[tuple[str, str, str]] = field(default_factory=list)  # (asset, check, status) of the latest run
    lineage: dict[str, str] = field(default_factory=dict)


def _points(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * float(value):+.1f}"


def _percent(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * float(value):.1f}%"


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def headline_at(headline: pd.DataFrame, data_size: str, classifier: str) -> pd.DataFrame:
    """The headline's rows (the holdout's) at this data size, the deployed classifier's first, then by name."""
    rows = headline[(headline["eval_set"] == EVAL_SET) & (headline["data_size"] == data_size)]
    return rows.assign(_other=rows["classifier"] != classifier).sort_values(["_other", "classifier"])


def helped(headline: pd.DataFrame, data_size: str, classifier: str) -> str:
    """Did synthetic data help at this size: the deployed classifier's verdict first, then the others'."""
    rows = headline_at(headline, data_size, classifier)
    if rows.empty:
        return "Not measured at this size: no generators were fine-tuned here (a learning-curve size)."
    parts = [
        f"**{r.classifier}: {r.verdict}**, gain {_points(r.gain_vs_baseline)} points "
        f"({_points(r.gain_ci_low)} to {_points(r.gain_ci_high)}; detectable from {abs(100 * r.min_detectable_gain):.1f})"
        for r in rows.itertuples()
    ]
    gains = [r for r in rows.itertuples() if r.verdict == "gain"]
    lead = "Yes, for " + ", ".join(r.classifier for r in gains) if gains else "No gain shown"
    return f"{lead}. " + "; ".join(parts) + "."


def deploy(rec, saved) -> str:
    """What to deploy and how sure the choice is."""
    varied = any(" x" in str(v) for v in (rec.variant, rec.hyperparameters, rec.synthetic_per_genuine) if v is not None)
    sure = (
        f"the repeats disagreed on the configuration ({_cell(rec.hyperparameters)}): a weak choice"
        if varied
        else f"the same configuration in each of {rec.repeats} repeat(s)"
    )
    version = f" `{saved.classifier_version}`" if saved is not None else ""
    how = getattr(rec, "chosen_by", None)
    how = "validation" if how is None or pd.isna(how) else how
    return (
        f"**{rec.classifier}** on **{rec.variant}**{version}: holdout accuracy {_percent(rec.accuracy)} "
        f"({_percent(rec.accuracy_ci_low)} to {_percent(rec.accuracy_ci_high)}); picked by {how} "
        f"({_percent(rec.validation_accuracy)}{among(rec)}){kept(rec)}, {sure}."
    )


def among(rec) -> str:
    """ " of N reviews, among K configurations": how much choosing the selection reviews carried."""
    reviews, compared = getattr(rec, "validation_reviews", None), getattr(rec, "configurations_compared", None)
    if reviews is None or compared is None or pd.isna(reviews) or pd.isna(compared):
        return ""
    return f" of {int(reviews)} reviews, among {int(compared):,} configurations"


def kept(rec) -> str:
    """What the one-standard-error rule did: kept the best-scoring option, or an earlier one the best-scoring did not
    beat by enough."""
    highest, margin = getattr(rec, "highest_scoring", None), getattr(rec, "highest_minus_chosen", None)
    if highest is None or margin is None or pd.isna(highest) or pd.isna(margin):
        return ""
    if highest == f"{rec.classifier} {rec.variant}":
        return "; also the best-scoring option"
    return (
        f"; kept over the best-scoring {highest} ({_points(margin)} points ahead, standard error "
        f"{100 * rec.highest_minus_chosen_se:.1f}, on {int(rec.compared_on_reviews)} shared reviews): declared "
        "earlier, and not beaten by enough"
    )


def worth(headline: pd.DataFrame, data_size: str, classifier: str) -> str:
    rows = headline_at(headline, data_size, classifier)
    rows = rows[rows["worth"].notna()]
    if rows.empty:
        return "Not measured at this size."
    return "; ".join(f"{r.classifier}: {_cell(r.worth)}" for r in rows.itertuples()) + "."


def report_markdown(inputs: ReportInputs) -> str:
    lines = ["# Did synthetic reviews make a better sentiment classifier?", ""]
    saved = {str(r.data_size): r for r in inputs.registry.itertuples()} if len(inputs.registry) else {}
    for rec in largest_first(inputs.recommendation).itertuples():
        title = (
            "All training reviews"
            if pd.isna(rec.genuine_per_class)
            else f"{int(rec.genuine_per_class)} reviews per class"
        )
        lines += [
            f"## {title} (data size {rec.data_size})",
            "",
            f"- **Did synthetic data help?** {helped(inputs.headline, rec.data_size, rec.classifier)}",
            f"- **What to deploy:** {deploy(rec, saved.get(str(rec.data_size)))}",
            f"- **What the synthetic data was worth:** {worth(inputs.headline, rec.data_size, rec.classifier)}",
            "",
        ]
    lines += strategy_lines(inputs.strategies)
    lines += ["## Learning curve", ""]
    if inputs.learning_curve_png:
        data = base64.b64encode(inputs.learning_curve_png).decode()
        lines += [f"![learning curve on the holdout](data:image/png;base64,{data})", ""]
    lines += [
        "Holdout accuracy against genuine reviews per class: the selected baseline (line, 95% band) and the selected "
        "candidate with synthetic reviews (points).",
        "",
        "## Leakage checks",
        "",
    ]
    if inputs.checks:
        passed = [c for c in inputs.checks if c[2] == "passed"]
        lines.append(f"{len(passed)} of {len(inputs.checks)} checks passed on the latest materializations.")
        lines += ["", "| asset | check | result |", "| --- | --- | --- |"]
        lines += [f"| {a} | {c} | {s} |" for a, c, s in inputs.checks]
    else:
        lines.append("No check has run yet.")
    lines += ["", "## Lineage", "", "| | |", "| --- | --- |"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in inputs.lineage.items()]
    return "\n".join(lines) + "\n"


def strategy_lines(strategies: pd.DataFrame) -> list[str]:
    """What trusting the recommendation costs: its holdout accuracy minus each fixed strategy's, per data size."""
    if strategies is None or strategies.empty:
        return []
    lines = [
        "## What trusting the recommendation costs",
        "",
        "The recommendation against strategies fixed before the run (never chosen on the holdout): recommended minus "
        "strategy, in points, with the 95% interval over repeats and holdout reviews.",
        "",
        "| data size | strategy | its accuracy | recommended minus strategy | |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in largest_first(strategies).itertuples():
        lines.append(
            f"| {r.data_size} | {r.strategy} | {_percent(r.strategy_accuracy)} | "
            f"{_points(r.recommended_minus_strategy)} ({_points(r.difference_ci_low)} to "
            f"{_points(r.difference_ci_high)}) | {r.verdict} |"
        )
    return lines + [""]


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0; } td, th { border: 1px solid #ccc; padding: 0.25rem 0.5rem; }
img { max-width: 100%; } li { margin: 0.35rem 0; } code { background: #f3f3f3; padding: 0 0.2rem; }
"""


def report_html(markdown_text: str, title: str = "augment-assets report") -> str:
    """The Markdown as one self-contained HTML page (no external file or script)."""
    body = markdown_lib.markdown(markdown_text, extensions=["tables"])
    return (
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
