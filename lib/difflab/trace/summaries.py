"""Bounded recording for long runs: per-step summaries instead of every shape record and timeline sample.

A 100-step run of a real UNet makes ~22,000 module calls and ~36,000 allocations. With `detail="auto"` (the
default) a trace keeps everything until it holds SHAPE_RECORDS_KEPT shape records or TIMELINE_KEPT timeline
samples, then folds what it has into the two summaries below and keeps those instead; `detail="bounded"`
summarises from the start, `detail="full"` never does. Stages, their timings and the ledger's peaks are
always exact: they are kept per stage already.

- Shapes: one row per (stage kind, module, input shapes, output shapes), where the stage kind is the stage's
  path without its attributes ('denoise/step/model'): every step calls the same modules with the same shapes,
  so 100 steps fold into the rows of one step, each with its number of calls and the first and last stage.
- Timeline: at most TIMELINE_KEPT samples, spread evenly over the run, and the fullest sample always kept.
"""

import bisect

SHAPE_RECORDS_KEPT = 5_000  # shape rows kept at most once summarised; also where "auto" starts summarising
TIMELINE_KEPT = 10_000  # timeline samples kept at most once summarised; also where "auto" starts summarising


def signature(tensors) -> tuple | None:
    """A hashable form of `describe(...)`'s list: ((shape, dtype, device), ...); None stays None (it raised)."""
    return None if tensors is None else tuple((t["shape"], t["dtype"], t["device"]) for t in tensors)


class ShapeSummaries:
    """Shape records folded into at most `most` rows; `rows` is in the order of each row's first call.

    A row is a shape record ({stage, module, class, inputs, outputs}) plus `calls` (how many calls it stands
    for), `first_call` (the number of the first, counting every watched call of the trace from 0) and
    `last_stage`. Calls of a new kind once `most` rows exist are only counted, in `dropped`.
    """

    def __init__(self, most: int = SHAPE_RECORDS_KEPT):
        self.most, self.rows, self.index, self.dropped = most, [], {}, 0

    def add(self, kind: str, record: dict, call: int):
        key = (kind, record["module"], signature(record["inputs"]), signature(record["outputs"]))
        row = self.index.get(key)
        if row is None:
            if len(self.rows) >= self.most:
                self.dropped += 1
                return
            row = self.index[key] = dict(record, calls=0, first_call=call, last_stage=record["stage"])
            bisect.insort(self.rows, row, key=lambda r: r["first_call"])  # a parent's row goes before its children's
        row["calls"] += 1
        row["last_stage"] = record["stage"]


def live_total(sample) -> int:
    return sum(sample[1].values())


class PeakSamples:
    """At most `most` samples (time, live bytes by category), evenly spread over the run; the peak is never lost.

    Every sample is kept until there are `most`; then neighbours merge in pairs, each pair keeping its fuller
    sample, and from then on one sample is kept for every `every` = 2, 4, 8, … that arrive: the fullest of them.
    """

    def __init__(self, most: int = TIMELINE_KEPT, samples=()):
        self.most, self.every = most, 1
        self.samples = []  # [(time, {category: bytes})]
        self.fullest, self.waiting = None, 0  # the fullest sample of the current run of `every`, and its length
        for when, live in samples:
            self.add(when, live)

    def add(self, when: float, live: dict):
        total = sum(live.values())
        if self.fullest is None or total >= self.fullest_total:
            self.fullest, self.fullest_total = (when, dict(live)), total
        self.waiting += 1
        if self.waiting == self.every:
            self.flush()

    def flush(self):
        """Keep the fullest sample of the run so far (also called when the trace ends, for the last run)."""
        if self.fullest is None:
            return
        self.samples.append(self.fullest)
        self.fullest, self.waiting = None, 0
        if len(self.samples) >= self.most:  # (2n,) samples → (n,): each pair keeps its fuller one
            pairs = zip(self.samples[0::2], self.samples[1::2])
            self.samples[:] = [max(pair, key=live_total) for pair in pairs] + self.samples[len(self.samples) & ~1 :]
            self.every *= 2
