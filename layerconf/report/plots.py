"""Plots as self-contained SVG text (matplotlib, Agg): running statistics per step against the
reference, drop fractions with their acceptance bands, and the matrix as a heat map.

Each function returns None where the records carry nothing to plot. The SVG text depends on the records only: no
date, and the ids matplotlib draws from a fixed salt, so a report rendered twice is the same bytes.
"""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.colors import ListedColormap  # noqa: E402

from layerconf.outcomes import Outcome  # noqa: E402
from layerconf.report.conformance_matrix import MISSING  # noqa: E402

PREFERRED = {"layout": "NC", "dtype": "float64", "decay": 0.7}   # the trajectory shown, where it ran
STATUS_COLOURS = {Outcome.ERROR: "#7b1fa2", Outcome.FAILED: "#d32f2f", Outcome.DEVIATION_FIXED: "#f57c00",
                  Outcome.NOT_RUN: "#616161", Outcome.DEVIATION: "#fbc02d", Outcome.PASSED: "#43a047",
                  Outcome.SKIPPED: "#bdbdbd", Outcome.NOT_APPLICABLE: "#e0e0e0", MISSING: "#ffffff"}
RATE_BEHAVIOURS = {"do.train.rate": "element dropout", "do.spatial.rate": "spatial dropout (channels)",
                   "do.alpha.rate": "alpha dropout"}


def _svg(fig) -> str:
    buffer = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "layerconf"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _trajectory_record(records: list[dict], key: str):
    candidates = [r for r in records if f"{key}_trajectory" in r.get("observed", {})]
    return max(candidates, key=lambda r: sum(r["params"].get(k) == v for k, v in PREFERRED.items()), default=None)


def running_statistics(columns: list) -> str | None:
    """Channel 0 of the running mean and variance after each step, per column, with its reference."""
    panels = [("running_mean", "running mean"), ("running_var", "running variance")]
    chosen = {(c.label, key): _trajectory_record(c.records, key) for c in columns for key, _ in panels}
    if not any(chosen.values()):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (key, title) in zip(axes, panels):
        shown = [(i, c, chosen[(c.label, key)]) for i, c in enumerate(columns) if chosen[(c.label, key)]]
        for i, c, record in shown:
            actual, expected = record["observed"][f"{key}_trajectory"], record["observed"][f"{key}_reference"]
            steps = range(len(actual))
            ax.plot(steps, expected, "-", color=f"C{i}", alpha=0.45, linewidth=3)
            ax.plot(steps, actual, "o", color=f"C{i}", markersize=max(3, 7 - i), label=c.label)
        params = ", ".join(f"{k}={v}" for k, v in shown[0][2]["params"].items() if k != "steps") if shown else "not run"
        ax.set_title(f"{title} ({params})", fontsize=9)
        ax.set_xlabel("training step")
    _legend_below(fig, axes, "markers: flavour; band: its reference")
    return _svg(fig)


def _legend_below(fig, axes, title=None):
    """One legend for the figure, under the panels (never over the data): every label once."""
    entries = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(entries.values(), entries.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(len(entries), 4), fontsize=8, title=title, title_fontsize=7, frameon=False)


def drop_fractions(columns: list) -> str | None:
    """Observed drop fraction - rate, with the acceptance band (false alarm <= 1e-6), per rate and column."""
    panels = [b for b in RATE_BEHAVIOURS if any(r["behaviour"] == b and "drop_trials" in r["observed"]
                                                  for c in columns for r in c.records)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, behaviour in zip(axes[0], panels):
        rates = sorted({r["params"]["rate"] for c in columns for r in c.records if r["behaviour"] == behaviour})
        for i, c in enumerate(columns):
            points = [r for r in c.records if r["behaviour"] == behaviour and "drop_trials" in r["observed"]]
            if not points:
                continue
            # each rate at its own position on the axis, the columns side by side within it
            where = [rates.index(r["params"]["rate"]) + 0.7 * (i / max(len(columns) - 1, 1) - 0.5) for r in points]
            n = [r["observed"]["drop_trials"] for r in points]
            centre = [r["observed"]["drop_fraction"] - r["params"]["rate"] for r in points]
            low = [m - (r["statistics"][0]["region"][0] / k - r["params"]["rate"]) for m, r, k in zip(centre, points, n)]
            high = [(r["statistics"][0]["region"][1] / k - r["params"]["rate"]) - m for m, r, k in zip(centre, points, n)]
            ax.errorbar(where, centre, yerr=[low, high], fmt="o", color=f"C{i}", capsize=3, label=c.label)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(range(len(rates)), [f"{rate:g}" for rate in rates])
        ax.set_xlim(-0.6, len(rates) - 0.4)
        ax.set_title(RATE_BEHAVIOURS[behaviour], fontsize=9)
        ax.set_xlabel("rate p")
    axes[0][0].set_ylabel("observed fraction - p")
    fig.suptitle("drop fraction: point = observed, bar = acceptance band (false alarm 1e-6)", fontsize=9)
    fig.tight_layout()
    _legend_below(fig, axes[0])
    return _svg(fig)


def heat_map(rows: list, labels: list[str]) -> str | None:
    """Rows x columns coloured by the cell's status."""
    if not rows or not labels:
        return None
    order = [*Outcome, MISSING]
    grid = [[order.index(cell.status) for cell in row.cells] for row in rows]
    fig, ax = plt.subplots(figsize=(2.2 + 1.1 * len(labels), 0.8 + 0.22 * len(rows)))
    ax.imshow(grid, cmap=ListedColormap([STATUS_COLOURS[s] for s in order]), vmin=-0.5, vmax=len(order) - 0.5,
              aspect="auto")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="left", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(len(rows)), [row.behaviour for row in rows], fontsize=7)
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False)
    for y, row in enumerate(rows):
        for x, cell in enumerate(row.cells):
            if cell.status != MISSING and (Outcome(cell.status).failing or cell.status == Outcome.DEVIATION):
                ax.text(x, y, cell.counts.get(cell.status, ""), ha="center", va="center", fontsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=STATUS_COLOURS[s]) for s in order]
    ax.legend(handles, [str(s).replace("_", " ") for s in order], loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=7)
    return _svg(fig)
