"""Traces used the way a hostile reviewer would: nested, re-entered, raising, recursive, threaded, long."""

import collections
import json
import threading

import pytest
import torch

import difflab
from difflab import schedulers
from difflab.trace import stage, tag
from difflab.trace.stages import ACTIVE, NOTHING
from difflab.trace.summaries import SHAPE_RECORDS_KEPT, TIMELINE_KEPT


def linear_relu(width=64):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU())


def module_state(module) -> list:
    """All a trace could leave on a module and its submodules: attribute names and the ids in every hook table."""
    return [
        (path, sorted(vars(sub)), {k: list(v) for k, v in vars(sub).items() if "hook" in k and isinstance(v, dict)})
        for path, sub in module.named_modules()
    ]


def nothing_active() -> bool:
    return not ACTIVE and torch._C._len_torch_dispatch_stack() == 0 and stage("x") is NOTHING


def calls(trace) -> list[tuple]:
    """(stage, module, input shapes, output shapes) of every shape record (outputs None: the call raised)."""
    shapes = lambda ts: None if ts is None else [t["shape"] for t in ts]
    return [(r["stage"], r["module"], shapes(r["inputs"]), shapes(r["outputs"])) for r in trace.shape_records]


class Boom(Exception):
    pass


# --- nesting and re-entering ---------------------------------------------------------------------------------
def test_nested_traces_on_the_same_modules_each_record_their_span():
    net, x = linear_relu(), torch.zeros(2, 64)
    before = module_state(net)
    with difflab.trace(net) as outer:
        with stage("alone"):
            net(x)
        with difflab.trace(net) as inner:
            with stage("both"):
                net(x)
    assert [s.path for s in outer.stages()] == ["alone", "both"]
    assert [s.path for s in inner.stages()] == ["both"]
    one_call = lambda where: [(where, m, [(2, 64)], [(2, 64)]) for m in ("Sequential", "Sequential.0", "Sequential.1")]
    assert calls(outer) == one_call("alone") + one_call("both")
    assert calls(inner) == one_call("both")
    assert module_state(net) == before and nothing_active()


def test_nested_traces_on_different_modules_hook_only_their_own():
    first, second, x = linear_relu(), linear_relu(), torch.zeros(2, 64)
    with difflab.trace({"first": first, "second": second}, modules="components") as outer:
        with difflab.trace(second, modules="components") as inner:
            first(x)
            second(x)
    assert [r["module"] for r in outer.shape_records] == ["first", "second"]
    assert [r["module"] for r in inner.shape_records] == ["Sequential"]
    assert [r["component"] for r in inner.weight_table] == ["Sequential"]


def test_an_outer_ledger_is_not_disturbed_by_an_inner_trace():
    net, x = linear_relu(), torch.zeros(8, 64)
    with difflab.trace(net) as alone:
        with stage("forward"):
            net(x)
    with difflab.trace(net) as outer, difflab.trace(net) as inner:
        with stage("forward"):
            net(x)
    peak = lambda tr: tr.memory.where(stage="forward")[0]["peak"]
    assert peak(outer) == peak(inner) == peak(alone) == (64 * 64 + 64) * 4 + 2 * 8 * 64 * 4  # weights + 2 outputs


def test_reentering_one_trace_inside_itself_records_once():
    net, x = linear_relu(), torch.zeros(2, 64)
    tr = difflab.trace(net, modules="components")
    with tr as first:
        with tr as again:
            net(x)
        assert again is first is tr and ACTIVE == [tr]  # still recording after the inner `with`
        net(x)
    assert len(tr.shape_records) == 2 and nothing_active()


def test_reentering_one_trace_after_it_ended_records_a_fresh_run():
    net = linear_relu()
    before = module_state(net)
    tr = difflab.trace(net)
    with tr, stage("first"):
        net(torch.zeros(2, 64))
    with tr, stage("second"):
        net(torch.zeros(3, 64))
    assert [s.path for s in tr.stages()] == ["second"]
    assert {r["inputs"][0]["shape"] for r in tr.shape_records} == {(3, 64)}
    assert module_state(net) == before and nothing_active()


def test_a_trace_entered_in_another_thread_while_recording_is_refused():
    tr, errors = difflab.trace(), []

    def enter_again():
        try:
            with tr:
                pass
        except RuntimeError as error:
            errors.append(str(error))

    with tr:
        worker = threading.Thread(target=enter_again)
        worker.start()
        worker.join()
    assert errors == ["trace: this Trace is recording in another thread; start one trace per thread."]
    assert nothing_active()


# --- exceptions --------------------------------------------------------------------------------------------------
class Fragile(torch.nn.Module):
    def forward(self, x):
        raise Boom("forward failed")


def test_an_exception_in_forward_propagates_unchanged_and_leaves_nothing():
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), Fragile())
    before, raised = module_state(net), Boom("forward failed")
    with pytest.raises(Boom) as caught:
        with difflab.trace(net, modules="all") as tr:
            net(torch.zeros(1, 4))
    assert type(caught.value) is Boom and caught.value.args == raised.args
    assert calls(tr) == [
        ("trace", "Sequential", [(1, 4)], None),
        ("trace", "Sequential.0", [(1, 4)], [(1, 4)]),
        ("trace", "Sequential.1", [(1, 4)], None),
    ]
    assert tr.calls == [] and module_state(net) == before and nothing_active()


class Careful(torch.nn.Module):
    """Calls a module that raises, catches the error, then allocates 40 kB itself."""

    def __init__(self):
        super().__init__()
        self.fragile = Fragile()

    def forward(self, x):
        try:
            self.fragile(x)
        except Boom:
            pass
        return torch.ones(10_000)


def test_a_caught_exception_in_a_child_does_not_confuse_the_peak_owner():
    net = Careful()
    with difflab.trace(net, modules="all") as tr:
        with stage("forward"):
            net(torch.zeros(1, 4))
    assert tr.memory.where(stage="forward")[0]["peak_owner"] == "Careful"  # not the child that raised
    assert calls(tr) == [("forward", "Careful", [(1, 4)], [(10_000,)]), ("forward", "Careful.fragile", [(1, 4)], None)]


def test_a_pre_hook_that_raises_propagates_and_the_users_hooks_stay():
    net = linear_relu()

    def refuse(module, args):
        raise Boom("pre-hook refused")

    early = net[1].register_forward_pre_hook(refuse)  # registered before the trace
    before = module_state(net)
    for hooked in (net[0], net[1]):
        with pytest.raises(Boom, match="pre-hook refused"):
            with difflab.trace(net) as tr:
                late = hooked.register_forward_pre_hook(refuse)  # registered inside the trace
                try:
                    net(torch.zeros(2, 64))
                finally:
                    late.remove()
        assert tr.shape_records[-1]["outputs"] is None and tr.calls == []
    assert module_state(net) == before and nothing_active()
    early.remove()


# --- unusual modules ---------------------------------------------------------------------------------------------
class Countdown(torch.nn.Module):
    """Calls itself n times; each level goes through the same Linear."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x, n: int):
        return x if n == 0 else self(self.lin(x)[1:], n - 1)  # one row fewer per level


def test_a_recursive_module_and_a_reused_layer_pair_each_call_with_its_outputs():
    net = Countdown()
    with difflab.trace(net, modules="all") as tr:
        net(torch.zeros(3, 4), 2)
    assert calls(tr) == [
        ("trace", "Countdown", [(3, 4)], [(1, 4)]),
        ("trace", "Countdown.lin", [(3, 4)], [(3, 4)]),
        ("trace", "Countdown", [(2, 4)], [(1, 4)]),
        ("trace", "Countdown.lin", [(2, 4)], [(2, 4)]),
        ("trace", "Countdown", [(1, 4)], [(1, 4)]),
    ]


def test_a_module_shared_by_two_pipelines_is_watched_once_per_trace():
    class Pipe:
        def __init__(self, **components):
            self.components = components

    shared, own = linear_relu(8), torch.nn.Linear(8, 8)
    first, second = Pipe(vae=shared, unet=own, scheduler="not a module"), Pipe(vae=shared, also_vae=shared)
    with difflab.trace(first, modules="components") as a, difflab.trace(second, modules="components") as b:
        own(shared(torch.zeros(1, 8)))
    assert [r["module"] for r in a.shape_records] == ["vae", "unet"]
    assert [r["module"] for r in b.shape_records] == ["vae"]  # listed twice in the pipeline, hooked once
    assert [r["component"] for r in b.weight_table] == ["vae"]  # and its weights counted once


def test_a_module_without_parameters_is_traced():
    with difflab.trace(torch.nn.ReLU()) as tr:
        torch.nn.ReLU()(torch.zeros(2))  # another instance: not watched
        tr.components["ReLU"](torch.zeros(3))
    assert tr.weights == [] and calls(tr) == [("trace", "ReLU", [(3,)], [(3,)])]
    assert tr.memory[0]["weights"] == 0 and tr.memory[0]["activations"] == 2 * 3 * 4  # its input and output


def test_a_meta_device_module_is_traced_without_touching_values():
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.SiLU()).to("meta")
    with difflab.trace(net) as tr:
        net(torch.zeros(2, 4, device="meta"))
    assert [r["outputs"][0]["device"] for r in tr.shape_records] == ["meta"] * 3
    assert tr.nonfinite is None and tr.weight_table[0]["device"] == "meta"


def test_a_trace_records_only_its_own_thread():
    net, x = linear_relu(), torch.ones(2, 64)
    expected = net(x)
    entered, finished, seen = threading.Event(), threading.Event(), {}

    def other_thread():
        entered.wait()
        seen["outputs"] = [net(x) for _ in range(5)]
        seen["stage"] = stage("elsewhere")
        seen["tag"] = tag("latents", x) is x
        finished.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with difflab.trace(net) as tr:
        entered.set()
        finished.wait()
        net(torch.zeros(3, 64))
    worker.join()
    assert all(torch.equal(y, expected) for y in seen["outputs"]) and seen["stage"] is NOTHING and seen["tag"]
    assert {r["inputs"][0]["shape"] for r in tr.shape_records} == {(3, 64)} and len(tr.shape_records) == 3
    assert tr.memory[0]["latents"] == 0 and tr.stages() == []


class FakeCudaAllocator:
    """The CUDA allocator's counters as the trace reads them: bytes allocated now, and one shared peak."""

    def __init__(self):
        self.allocated = self.peak = 0

    def alloc(self, n):
        self.allocated += n
        self.peak = max(self.peak, self.allocated)

    def install(self, monkeypatch):
        for name, value in dict(is_available=True, is_initialized=True, synchronize=None).items():
            monkeypatch.setattr(torch.cuda, name, lambda *a, v=value: v)
        monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: self.allocated)
        monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: self.peak)
        monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *a: setattr(self, "peak", self.allocated))


def test_nested_traces_share_the_cuda_peak_counter_without_losing_peaks(monkeypatch):
    cuda = FakeCudaAllocator()
    cuda.install(monkeypatch)
    with difflab.trace() as outer:
        with stage("a"):
            cuda.alloc(100)
            cuda.alloc(-100)
        with stage("b"):
            cuda.alloc(10)  # after a's peak of 100: b's own peak is 10 + 30 = 40
            with difflab.trace() as inner:
                cuda.alloc(30)
                cuda.alloc(-30)
                with stage("c"):
                    cuda.alloc(5)  # 10 + 5
        cuda.alloc(-15)
    peaks = lambda tr: {row["stage"]: row["cuda_peak_bytes"] for row in tr.memory}
    assert peaks(outer) == {"trace": 100, "a": 100, "b": 40, "b/c": 15}
    assert peaks(inner) == {"trace": 40, "c": 15}
    assert outer.memory.where(stage="b")[0]["cuda_allocated_bytes"] == 15


# --- bad arguments -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(modules="some"), "modules: got 'some'; valid values are 'components', 'leaves', 'all'."),
        (dict(detail="everything"), "detail: got 'everything'; valid values are 'auto', 'full', 'bounded'."),
        (dict(detail=None), "detail: got None; valid values are 'auto', 'full', 'bounded'."),
        (dict(shapes="yes"), "shapes: got 'yes'; valid values are True, False."),
        (dict(model_or_pipeline="unet"), "model_or_pipeline: got 'unet' (str); pass a torch.nn.Module, a pipeline"),
        (dict(model_or_pipeline=len), "model_or_pipeline: got <built-in function len> (builtin_function_or_method)"),
        (dict(model_or_pipeline={"unet": 3}), "model_or_pipeline: got {'unet': 3}, which holds no torch.nn.Module"),
    ],
)
def test_bad_arguments_name_the_argument_the_value_and_the_valid_values(arguments, message):
    with pytest.raises(ValueError) as caught:
        difflab.trace(**arguments)
    assert str(caught.value).startswith(message)
    assert nothing_active()


# --- long runs: the bounded mode -------------------------------------------------------------------------------
def thirty_layers():
    torch.manual_seed(0)
    return torch.nn.Sequential(*[layer for _ in range(15) for layer in (torch.nn.Linear(8, 8), torch.nn.SiLU())])


def long_run(detail: str, steps: int = 200):
    """A 200-step DDIM loop over a 30-layer net (31 watched calls a step); the trace and the most it held."""
    net, ddim, most = thirty_layers(), schedulers.DDIMScheduler(clip_sample=False), [0, 0]
    tr = difflab.trace(net, detail=detail)

    def model(x, t):
        most[:] = max(most[0], len(tr.shape_records)), max(most[1], len(tr.timeline))
        return net(x)

    with tr, torch.no_grad():
        difflab.sample_loop(model, ddim, torch.randn(4, 8, generator=torch.Generator().manual_seed(0)), steps)
    return tr, most


@pytest.fixture(scope="module")
def long_runs():
    return {detail: long_run(detail) for detail in ("full", "auto", "bounded")}


def test_a_long_run_stays_within_the_stated_bounds(long_runs):
    full, _ = long_runs["full"]
    assert len(full.shape_records) == 200 * 31 > SHAPE_RECORDS_KEPT and len(full.timeline) > TIMELINE_KEPT
    for detail in ("auto", "bounded"):
        tr, (most_shapes, most_samples) = long_runs[detail]
        assert most_shapes <= SHAPE_RECORDS_KEPT and most_samples <= TIMELINE_KEPT
        assert len(tr.shape_records) == 31 and sum(r["calls"] for r in tr.shape_records) == 200 * 31


def test_bounded_and_full_agree_on_peaks_owners_totals_and_stage_times(long_runs):
    full = long_runs["full"][0]
    for detail in ("auto", "bounded"):
        tr = long_runs[detail][0]
        assert tr.memory.rows == full.memory.rows  # every stage's bytes, peak and peak owner
        assert tr.timings.column("stage") == full.timings.column("stage")
        assert sum(s.seconds for s in tr.stages()[0].children) <= tr.root.seconds
        peak = lambda timeline: max(sum(live.values()) for _, live in timeline)
        assert peak(tr.timeline) == peak(full.timeline)  # the thinned timeline keeps the peak sample
        assert tr.shapes.where(stage="step 0").column("module") == full.shapes.where(stage="step 0").column("module")
        calls_per_module = collections.Counter()
        for row in tr.shape_records:
            calls_per_module[row["module"]] += row["calls"]
        assert calls_per_module == collections.Counter(full.shapes.column("module"))


def test_the_trace_says_when_it_switched_to_summaries(long_runs):
    full, auto, bounded = (long_runs[d][0] for d in ("full", "auto", "bounded"))
    assert full.summarised_after is None and "per-step summaries" not in full.summary()
    assert auto.summarised_after >= SHAPE_RECORDS_KEPT  # it switched when the shape records reached 5,000
    line = f"Kept per-step summaries after {auto.summarised_after:,} records; pass detail='full' to keep everything."
    assert line in auto.summary().splitlines()
    assert bounded.summarised_after == 0 and "Kept per-step summaries from the start" in bounded.summary()


def test_auto_switches_exactly_at_the_stated_sizes():
    net = torch.nn.Linear(2, 2)
    with difflab.trace(net, memory=False) as by_shapes:
        for _ in range(SHAPE_RECORDS_KEPT + 100):
            net(torch.zeros(1, 2))
    with difflab.trace() as by_timeline:
        kept = [torch.ones(1_000)]  # the fullest moment: 4,000 B live, early in the run
        del kept
        for _ in range(TIMELINE_KEPT + 100):
            torch.ones(1)
    assert by_shapes.summarised_after == SHAPE_RECORDS_KEPT and by_timeline.summarised_after == TIMELINE_KEPT
    assert [row["calls"] for row in by_shapes.shape_records] == [SHAPE_RECORDS_KEPT + 100]
    assert len(by_timeline.timeline) <= TIMELINE_KEPT
    assert max(sum(live.values()) for _, live in by_timeline.timeline) == 4_000


def test_calls_of_ever_new_shapes_are_counted_once_the_rows_are_full():
    net = torch.nn.Linear(1, 1)
    with difflab.trace(net, memory=False, check_finite=False, detail="bounded") as tr:
        for n in range(1, SHAPE_RECORDS_KEPT + 11):  # a new input shape every call
            net(torch.zeros(n, 1))
    assert len(tr.shape_records) == SHAPE_RECORDS_KEPT and tr.summaries.dropped == 10
    assert "10 calls not listed: their kinds came after the first 5,000." in tr.summary()


def test_consumers_of_a_bounded_trace_still_work(long_runs, tmp_path):
    from difflab import widgets

    tr = long_runs["auto"][0]
    events = json.loads(open(tr.save_chrome_trace(tmp_path / "run.json")).read())["traceEvents"]
    assert sum(e["ph"] == "C" for e in events) == len(tr.timeline)
    assert "Sequential.0" in str(tr.shapes.where(stage="step 0")) and tr.weight_table[0]["bytes"] == 15 * 72 * 4
    view = widgets.ShapeTraceView(tr)
    assert f"31 rows, one per kind of call, stand for {tr.module_calls:,} module calls" in view.count_text()
    assert "<th>calls</th>" in view.table.value
    for view in (widgets.MemoryLedgerView(tr), widgets.TimingView(tr)):
        assert "<img" in view.static_html()  # the figure was drawn from the thinned timeline and the stages
