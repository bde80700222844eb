"""Figures for the evaluation, rendered with matplotlib's Agg backend and returned as PNG bytes.

- `accuracy_curve_png`: holdout accuracy against synthetic-per-genuine ratio, one
  line per candidate variant and temperature selection, error bars = the 95%
  bootstrap interval; the baselines and the reference (its validation-chosen row)
  as horizontal lines; the validation-selected candidate circled.
- `confusion_png`: the selected candidate's and the selected baseline's confusion
  matrices (counts averaged over draws) side by side.
- `learning_curve_png`: holdout accuracy of the selected baseline and the selected
  candidate against genuine reviews per class, one panel per classifier, with the
  worth of the synthetic data read off the baseline's curve.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .classify import LABELS  # noqa: E402

_BASELINE_STYLES = {
    "genuine": ("black", ":"),
    "genuine_tuned": ("black", "--"),
    "genuine+duplicates": ("tab:gray", "-."),
    "genuine+perturbed": ("tab:brown", "--"),
}


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _message_png(message: str) -> bytes:
    """A small figure saying there is nothing to plot."""
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.set_axis_off()
    return _png(fig)


def accuracy_curve_png(curve: pd.DataFrame, metrics: pd.DataFrame, eval_set: str = "holdout") -> bytes:
    """One panel per (data size, classifier) for one evaluation set."""
    curve = curve[curve["eval_set"] == eval_set] if len(curve) else curve
    metrics = metrics[metrics["eval_set"] == eval_set]
    panels = metrics[["data_size", "classifier"]].drop_duplicates().values.tolist()
    if not panels:
        return _message_png(f"no metrics for {eval_set}")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    ratios = sorted(set(curve["ratio"])) if len(curve) else [0.0]
    position = {r: i for i, r in enumerate(ratios)}
    for ax, (data_size, classifier) in zip(axes[0], panels):
        panel = metrics[(metrics["data_size"] == data_size) & (metrics["classifier"] == classifier)]
        lines = curve[(curve["data_size"] == data_size) & (curve["classifier"] == classifier)] if len(curve) else curve
        for (variant, selection), group in (
            lines[lines["variant"] != "genuine+reference"].groupby(
                ["variant", "temperature_selection"], dropna=False, sort=True
            )
            if len(lines)
            else []
        ):
            group = group.sort_values("ratio")
            x = [position[r] for r in group["ratio"]]
            y = group["accuracy"].to_numpy()
            err = np.vstack([y - group["accuracy_ci_low"].to_numpy(), group["accuracy_ci_high"].to_numpy() - y])
            short = variant.removeprefix("genuine+")
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, linewidth=1.2, label=f"{short} T={selection}")
        for variant, (color, style) in _BASELINE_STYLES.items():
            row = panel[panel["variant"] == variant]
            if len(row):
                accuracy = float(row["accuracy"].iloc[0])
                tag = " (selected)" if bool(row["baseline_selected"].iloc[0]) else ""
                ax.axhline(accuracy, color=color, linestyle=style, linewidth=1, label=f"{variant}{tag} {accuracy:.3f}")
        reference = panel[panel["variant"] == "genuine+reference"]
        if len(reference):
            best = reference.loc[reference["validation_accuracy"].idxmax()]
            ax.axhline(
                best["accuracy"],
                color="tab:red",
                linestyle="-",
                linewidth=1,
                label=f"reference (ratio {best['synthetic_per_genuine']:g}) {best['accuracy']:.3f}",
            )
        chosen = panel[panel["selected"]]
        if len(chosen) and float(chosen["synthetic_per_genuine"].iloc[0]) in position:
            row = chosen.iloc[0]
            ax.plot(
                position[float(row["synthetic_per_genuine"])],
                row["accuracy"],
                "o",
                markersize=14,
                markerfacecolor="none",
                markeredgecolor="tab:green",
                markeredgewidth=2,
                label=f"selected, gain {row['gain_vs_baseline']:+.3f} [{row['gain_ci_low']:+.3f}, {row['gain_ci_high']:+.3f}]",
            )
        ax.set_xticks(range(len(ratios)), [f"{r:g}" for r in ratios])
        ax.set_xlabel("synthetic reviews per genuine review")
        ax.set_ylabel(f"{eval_set} accuracy (95% bootstrap CI)")
        cap = panel["genuine_per_class"].dropna()
        size = f"low data, {int(cap.iloc[0])}/class" if len(cap) else "full data"
        ax.set_title(f"{classifier.upper()}, {size}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def confusion_png(confusions: dict, title: str = "") -> bytes:
    """`confusions`: {"selected": 2x2, "baseline": 2x2} (either may be None) for one group."""
    present = [(name, m) for name, m in confusions.items() if m is not None]
    fig, axes = plt.subplots(1, max(1, len(present)), figsize=(3.6 * max(1, len(present)), 3.4), squeeze=False)
    if not present:
        axes[0][0].text(0.5, 0.5, "nothing to show", ha="center", va="center")
        axes[0][0].set_axis_off()
    for ax, (name, matrix) in zip(axes[0], present):
        matrix = np.asarray(matrix, dtype=float)
        ax.imshow(matrix, cmap="Blues")
        for i in range(2):
            for j in range(2):
                ax.text(
                    j,
                    i,
                    f"{matrix[i, j]:g}",
                    ha="center",
                    va="center",
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black",
                )
        ax.set_xticks([0, 1], LABELS)
        ax.set_yticks([0, 1], LABELS)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


def learning_curve_png(curve: pd.DataFrame, headline: pd.DataFrame, eval_set: str = "holdout") -> bytes:
    """One panel per classifier: the baseline's curve (band = 95% interval over repeats and holdout
    reviews), the candidate's points with error bars, and each candidate's worth as a dotted arrow."""
    curve = curve[curve["eval_set"] == eval_set]
    classifiers = list(dict.fromkeys(curve["classifier"]))
    if not classifiers:
        return _message_png(f"no learning curve for {eval_set}")
    fig, axes = plt.subplots(1, len(classifiers), figsize=(5.5 * len(classifiers), 4.2), squeeze=False)
    for ax, clf in zip(axes[0], classifiers):
        panel = curve[curve["classifier"] == clf].sort_values("pool_per_class")
        for role, color, marker in (("baseline", "black", "s"), ("candidate", "tab:green", "o")):
            rows = panel[panel["role"] == role]
            if rows.empty:
                continue
            x, y = rows["pool_per_class"].to_numpy(), rows["accuracy"].to_numpy()
            low, high = rows["accuracy_ci_low"].to_numpy(), rows["accuracy_ci_high"].to_numpy()
            if role == "baseline":
                ax.plot(x, y, color=color, marker=marker, label="selected baseline")
                ax.fill_between(x, low, high, color=color, alpha=0.12)
            else:
                ax.errorbar(
                    x,
                    y,
                    yerr=np.vstack([y - low, high - y]),
                    color=color,
                    marker=marker,
                    linestyle="none",
                    capsize=3,
                    label="selected candidate (genuine + synthetic)",
                )
        heads = (
            headline[(headline["eval_set"] == eval_set) & (headline["classifier"] == clf)]
            if len(headline)
            else headline
        )
        for head in heads.itertuples():
            needed = getattr(head, "worth_genuine_per_class", np.nan)
            own = panel[(panel["data_size"] == head.data_size) & (panel["role"] == "candidate")]
            if own.empty or needed is None or np.isnan(needed):
                continue
            x0, y0 = float(own["pool_per_class"].iloc[0]), float(own["accuracy"].iloc[0])
            ax.annotate(
                "",
                xy=(needed, y0),
                xytext=(x0, y0),
                arrowprops={"arrowstyle": "->", "linestyle": ":", "color": "tab:green"},
            )
            ax.text(
                (x0 + needed) / 2,
                y0,
                f"worth {needed - x0:+.0f}/class\n({head.verdict})",
                fontsize=7,
                ha="center",
                va="bottom",
                color="tab:green",
            )
        ax.set_xscale("log")
        ax.set_xlabel("genuine reviews per class (log scale)")
        ax.set_ylabel(f"{eval_set} accuracy (95% interval)")
        ax.set_title(f"{clf.upper()}: learning curve")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def line_plot_png(values: list[float], title: str, xlabel: str, ylabel: str) -> bytes:
    """A small line plot, e.g. the fine-tuning loss per step."""
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, len(values) + 1), values)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)
