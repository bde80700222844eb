"""A saved classifier's model card: what it is, what it was fit on, how well it scored, what synthetic data did
at its size, and the code that made it. One dict (kept in `classifier.json`) and its Markdown for people."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path


@functools.cache
def code_version() -> str:
    """The package version and, in a git checkout, its commit (with `.dirty` for uncommitted changes)."""
    try:
        version = metadata.version("augment-assets")
    except metadata.PackageNotFoundError:
        version = "unknown"
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return f"{version}+{commit}{'.dirty' if dirty else ''}" if commit else version


def _percent(value) -> str:
    return "n/a" if value is None or value != value else f"{100 * float(value):.1f}%"


def card_markdown(version: str, model: dict, card: dict) -> str:
    """The model card as Markdown (MODEL_CARD.md beside the artifact, and the asset's metadata)."""
    lines = [
        f"# Sentiment classifier `{version}` ({card['data_size']} data)",
        "",
        f"**{model['classifier']}** (`{model['estimator']}`) at `{model['hyperparameters']}`, trained on "
        f"`{card['variant']}`: the configuration the recommendation kept at this data size (the one-standard-error "
        f"rule, on labelled training reviews), refit on repeat {card['repeat']}'s whole pool as the evaluation "
        "refits it.",
        "",
        "| | |",
        "| --- | --- |",
        f"| training set | `training_set_id` {card.get('training_set_id', 'n/a')}: {card['n_genuine']} genuine and "
        f"{card['n_synthetic']} synthetic reviews |",
        f"| generators | {', '.join(card['generator_versions']) or 'none'} |",
        f"| holdout accuracy (this fit) | {_percent(card['holdout_accuracy'])} |",
        f"| holdout accuracy over repeats | {_percent(card['accuracy'])} "
        f"({_percent(card['accuracy_ci_low'])} to {_percent(card['accuracy_ci_high'])}) |",
        f"| synthetic data at this size | {card['synthetic_verdict']} |",
        f"| code | {card['code_version']} |",
        f"| saved | {card['saved_at']} |",
    ]
    if model["classifier"] == "embedding":
        lines.append(f"| reads through | base model `{model['base_model']}`, first {model['max_tokens']} tokens |")
    if model["classifier"] == "generative":
        lines.append(
            f"| reads through | generators {', '.join(g['version'] for g in model['generators'].values())}, "
            f"threshold {model['threshold']:+.4f} |"
        )
    lines += [
        "",
        "Load it with `augment_assets.predict.load(...)`, or label a CSV with "
        f"`augment-assets predict FILE.csv --data-size {card['data_size']}`.",
    ]
    return "\n".join(lines) + "\n"
