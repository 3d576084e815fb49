"""Timing two (or more) ways of doing the same work fairly on a shared machine: each is run once to warm up, then
the runs alternate, so a slow moment of the machine falls on all of them alike; the figure is each one's median."""

import statistics
import time

import torch


def median_seconds(runs: dict, repeats: int) -> dict[str, float]:
    """{name: median wall time in seconds of `repeats` calls of runs[name]()}, calls alternating after a warm-up."""
    for run in runs.values():
        run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            with torch.no_grad():
                run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
