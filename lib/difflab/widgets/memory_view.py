"""MemoryLedgerView: where the bytes of a run live, per stage and over time.

    with difflab.trace(unet) as tr:
        pipe("a red circle")
    MemoryLedgerView(tr)

Top: one stacked bar per stage (a row of the ledger table `trace.memory`), in MiB. Weights, latents and
conditioning are what is live when the stage ends; activations are the most temporaries the stage held at once.
The black tick marks the stage's peak total, and the text beside it names the peak owner: the module (or the
stage) that made the allocation reaching that peak.
Bottom: the ledger's timeline, live bytes by category against time, with the chosen stages' starts as grey lines.

What to look for:
- Weights are a flat floor from start to end: they are loaded once and never change during sampling.
- Latents are tiny next to everything else; in a real UNet the activations of one forward pass dwarf them.
- Each step draws the same sawtooth: activations pile up inside the model and fall back when it returns.
- The peak owner tells you which module to slice, offload or run in half precision to lower the peak.
"""

import numpy as np

from .static import (
    CATEGORIES,
    CATEGORY_COLORS,
    MIB,
    StageTableView,
    new_figure,
    stages_at,
)


def timeline_arrays(trace):
    """(T,) milliseconds since the trace began and (T, 4) live MiB per category, from `trace.timeline`."""
    times = np.array([t for t, _ in trace.timeline]) - trace.root.start
    mib = np.array([[live.get(c, 0) for c in CATEGORIES] for _, live in trace.timeline], dtype=float) / MIB
    return times * 1e3, mib.reshape(-1, len(CATEGORIES))


def thin(times, mib, most: int = 4000):
    """At most `most` points: in each run of consecutive points keep the one with the most live bytes (peaks stay)."""
    if len(times) <= most:
        return times, mib
    per = -(-len(times) // most)  # points per bin, rounded up
    totals = np.concatenate([mib.sum(1), np.full(-len(times) % per, -np.inf)]).reshape(-1, per)  # (bins, per)
    keep = totals.argmax(1) + per * np.arange(len(totals))
    return times[keep], mib[keep]


def draw_bars(ax, rows):
    """Rows of `trace.memory`: weights, latents, conditioning at stage end, activations peak; all in bytes."""
    y = np.arange(len(rows))
    mib = np.array([[r[c] for c in CATEGORIES] for r in rows], dtype=float).reshape(-1, len(CATEGORIES)) / MIB
    left = np.zeros(len(rows))
    for j, category in enumerate(CATEGORIES):
        ax.barh(y, mib[:, j], left=left, color=CATEGORY_COLORS[category], label=category)
        left += mib[:, j]
    peaks = np.array([r["peak"] for r in rows], dtype=float) / MIB
    ax.plot(peaks, y, "k|", markersize=14, label="peak total")
    for i, r in enumerate(rows):
        ax.text(peaks[i], i, f"  peak {peaks[i]:.2f} MiB in {r['peak_owner']}", va="center", fontsize=7)
    ax.set_xlim(0, 1.8 * max(peaks.max(initial=0), left.max(initial=0), 1e-3))  # room for the owner text
    ax.set_yticks(y, [r["stage"] for r in rows], fontsize=8)
    ax.invert_yaxis()  # first stage on top, as in the table
    ax.set_xlabel("MiB")
    ax.set_title("Memory per stage (live at stage end; activations: their peak during the stage)")
    ax.legend(fontsize=7, loc="lower right")


def draw_timeline(ax, trace, stages):
    times, mib = thin(*timeline_arrays(trace))
    ax.set_title("Live memory by category over time")
    ax.set_xlabel("time since the trace began (ms)")
    ax.set_ylabel("live MiB")
    if len(times) == 0:
        ax.text(0.5, 0.5, "no allocations recorded", ha="center", transform=ax.transAxes)
        return
    colors = [CATEGORY_COLORS[c] for c in CATEGORIES]
    ax.stackplot(times, mib.T, labels=CATEGORIES, colors=colors, step="post")
    if len(stages) <= 60:
        for s in stages:
            ax.axvline((s.start - trace.root.start) * 1e3, color="gray", lw=0.5, alpha=0.6)
    peak = mib.sum(1).argmax()
    ax.axvline(times[peak], color="k", ls=":", lw=1)
    side = "right" if times[peak] > times.mean() else "left"  # keep the label inside the axes
    ax.annotate(f" peak {mib[peak].sum():.2f} MiB ", (times[peak], mib[peak].sum()), fontsize=8, ha=side, va="top")
    ax.legend(fontsize=7, loc="upper left")


class MemoryLedgerView(StageTableView):
    """The memory ledger of `trace` as stacked bars per stage and a timeline; `depth` picks which stages."""

    title, alt = "Memory ledger", "memory per stage"

    def table(self):
        return self.trace.memory

    def unavailable(self):
        return (
            "This trace was recorded with memory=False: there is no ledger to show."
            if self.trace.ledger is None
            else None
        )

    def figure(self, rows):
        bars_height = 0.6 + 0.25 * len(rows)
        fig = new_figure(10, bars_height + 3.2)
        bars_ax, time_ax = fig.subplots(2, 1, height_ratios=[bars_height, 3.2])
        draw_bars(bars_ax, rows)
        draw_timeline(time_ax, self.trace, stages_at(self.trace, self.depth.value))
        return fig

    def __repr__(self):
        return f"MemoryLedgerView({len(self.rows())} stages at {self.depth.label!r})"
