"""difflab.trace.report: per-stage time, shares, peaks and bytes moved of a trace; its bottleneck; its narrative."""

import json
import math

import pytest
import torch
from torch import nn

import difflab
from difflab.offload import apply_group_offloading, offload_report, remove_group_offloading
from difflab.trace import bottleneck, narrative, stage, summarize_trace, trace_rows
from difflab.trace.report import transfers


class Blocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(16, 16) for _ in range(2))

    def forward(self, x):
        for block in self.blocks:
            x = torch.relu(block(x))
        return x


def tiny_pipeline_run(tmp_path, memory=True, steps=3):
    """encode / denoise → step i → model (two passes) / scheduler / decode, the denoiser offloaded to disk."""
    torch.manual_seed(0)
    encoder, denoiser, decoder = nn.Linear(4, 16), Blocks(), nn.Linear(16, 256)
    apply_group_offloading(denoiser, "cpu", "disk", "block_level", 1, offload_to_disk_path=tmp_path)
    with (
        torch.no_grad(),
        difflab.trace({"encoder": encoder, "denoiser": denoiser, "vae": decoder}, memory=memory) as tr,
    ):
        with stage("encode_prompt"):
            cond = encoder(torch.randn(2, 4))
        x = torch.randn(3, 16)
        with stage("denoise"):
            for i in range(steps):
                with stage("step", step=i):
                    with stage("model"):
                        a, b = denoiser(x + cond[0]), denoiser(x + cond[1])
                    with stage("scheduler"):
                        x = x - 0.1 * (b + 3 * (a - b))
        with stage("decode"):
            decoder(x)
    report = offload_report(denoiser)
    remove_group_offloading(denoiser)
    return tr, report


def test_own_times_partition_the_run_so_the_shares_add_up_to_one(tmp_path):
    tr, _ = tiny_pipeline_run(tmp_path)
    summary = summarize_trace(tr)
    stages = summary["stages"]
    assert summary["wall_ms"] == pytest.approx(tr.root.seconds * 1e3)
    assert math.isclose(sum(e["share"] for e in stages.values()), 1.0, rel_tol=1e-9)
    assert sum(e["self_ms"] for e in stages.values()) == pytest.approx(summary["wall_ms"])
    assert list(stages) == ["trace", "encode_prompt", "denoise", "step", "model", "onload", "offload", "scheduler",
                            "decode"]  # fmt: skip
    steps = [s for s in tr.stages() if s.name == "step"]
    assert stages["step"]["calls"] == 3 and stages["step"]["total_ms"] == pytest.approx(
        sum(s.seconds for s in steps) * 1e3
    )
    assert all(0 <= e["self_ms"] <= e["total_ms"] + 1e-9 for e in stages.values())
    # inclusive times overlap: summed over names they exceed the run several times over
    assert sum(e["total_ms"] for e in stages.values()) > 2 * summary["wall_ms"]


def test_bytes_moved_are_the_onloads_as_offload_report_counts_them(tmp_path):
    tr, report = tiny_pipeline_run(tmp_path)
    summary = summarize_trace(tr)
    weights = sum(p.numel() * 4 for p in Blocks().parameters())
    assert summary["bytes_moved"] == report["onload_bytes"] == 3 * 2 * weights  # every pass of every step
    assert summary["stages"]["offload"]["bytes_moved"] == 0  # an offload drops the copy, it moves nothing
    assert summary["stages"]["model"]["bytes_moved"] == summary["bytes_moved"]
    assert summary["stages"]["scheduler"]["bytes_moved"] == 0
    moves = transfers(tr)
    assert [m["direction"] for m in moves[:2]] == ["onload", "offload"]
    assert {m["during"].rsplit("/", 1)[-1] for m in moves} == {"model"}
    assert sum(m["bytes"] for m in moves if m["direction"] == "onload") == summary["bytes_moved"]


def test_peaks_are_the_highest_never_summed_and_owned_by_the_deepest_stage(tmp_path):
    tr, _ = tiny_pipeline_run(tmp_path)
    rows, summary = trace_rows(tr), summarize_trace(tr)
    step_peaks = [r["peak_bytes"] for r in rows if r["name"] == "step"]
    assert summary["stages"]["step"]["peak_bytes"] == max(step_peaks)
    assert summary["peak_bytes"] == rows[0]["peak_bytes"] == max(r["peak_bytes"] for r in rows)
    verdict = bottleneck(summary)
    holders = [r for r in rows if r["peak_bytes"] == summary["peak_bytes"]]
    assert verdict["memory_stage"] == max(holders, key=lambda r: r["depth"])["name"] != "trace"
    parts = summary["stages"][verdict["memory_stage"]]["at_peak"]
    assert sum(parts.values()) == summary["peak_bytes"]
    assert verdict["peak_part"] == max(parts, key=parts.get)
    assert verdict["time_stage"] == max(summary["stages"], key=lambda n: summary["stages"][n]["self_ms"])
    assert verdict["time_stage"] in verdict["reason"] and verdict["memory_stage"] in verdict["reason"]


def test_a_trace_without_memory_has_no_peaks_and_says_so(tmp_path):
    tr, _ = tiny_pipeline_run(tmp_path, memory=False)
    rows, summary = trace_rows(tr), summarize_trace(tr)
    assert all(r["peak_bytes"] is None and r["at_peak"] is None and r["end"] is None for r in rows)
    assert summary["peak_bytes"] is None
    assert all(e["peak_bytes"] is None and e["at_peak"] is None for e in summary["stages"].values())
    verdict = bottleneck(summary)
    assert verdict["memory_stage"] is None and verdict["peak_part"] is None
    assert "memory=False" in verdict["reason"]
    assert "No GPU transfer" in narrative(tr)


def test_an_empty_trace_is_all_time_outside_any_stage():
    with difflab.trace() as tr:
        pass
    summary = summarize_trace(tr)
    assert list(summary["stages"]) == ["trace"]
    assert summary["stages"]["trace"]["share"] == 1.0 and summary["bytes_moved"] == 0
    assert bottleneck(summary)["time_stage"] == "trace"
    assert "No weights moved" in narrative(tr)


def nested_rows():
    """'block' inside 'block': the inner one's time is already in the outer one's total."""

    def row(name, depth, parent, wall, peak, bytes_=None):
        attrs = {} if bytes_ is None else {"group": "g", "route": "disk→cpu", "bytes": bytes_}
        at = {"weights": peak // 4, "latents": 0, "conditioning": 0, "activations": peak - peak // 4}
        return {"path": name, "name": name, "attrs": attrs, "depth": depth, "parent": parent, "start_ms": 0.0,
                "wall_ms": wall, "peak_bytes": peak, "at_peak": at, "end": at, "peak_owner": name}  # fmt: skip

    return [
        row("trace", 0, None, 100.0, 800),
        row("block", 1, 0, 70.0, 800),
        row("block", 2, 1, 50.0, 800),
        row("onload", 3, 2, 10.0, 400, bytes_=1000),
        row("block", 1, 0, 20.0, 600),
    ]


def test_nested_stages_of_one_name_are_counted_once_in_total_and_bytes():
    summary = summarize_trace(nested_rows())
    block = summary["stages"]["block"]
    assert block["calls"] == 3 and block["total_ms"] == 90.0  # 70 + 20, not 70 + 50 + 20
    assert block["self_ms"] == 20.0 + 40.0 + 20.0
    assert block["bytes_moved"] == 1000 and summary["stages"]["trace"]["bytes_moved"] == 1000
    assert summary["stages"]["trace"]["self_ms"] == 10.0 and summary["stages"]["trace"]["share"] == 0.1
    assert block["peak_bytes"] == 800  # the highest of 800, 800, 600
    assert bottleneck(summary)["memory_stage"] == "block"  # depth 1 beats the root at depth 0


def test_rows_are_plain_data_indexed_by_parent(tmp_path):
    tr, _ = tiny_pipeline_run(tmp_path, steps=1)
    rows = trace_rows(tr)
    assert json.loads(json.dumps(rows)) == rows
    stages = [tr.root, *tr.stages()]
    for r, s in zip(rows, stages, strict=True):
        assert r["path"] == s.path and r["depth"] == s.depth
        assert (r["parent"] is None) == (s.parent is None)
        if s.parent is not None:
            assert stages[r["parent"]] is s.parent
    onload = next(r for r in rows if r["name"] == "onload")
    assert set(onload["attrs"]) == {"group", "route", "bytes"} and onload["attrs"]["route"] == "disk→cpu"


@pytest.mark.parametrize(
    "bad, words",
    [
        (None, ["trace: got NoneType None", "trace_rows(trace)"]),
        ([], ["trace: got list []"]),
        ([{"name": "trace"}], ["trace[0]", "lacks path", "wall_ms"]),
        ([{**nested_rows()[0], "wall_ms": -1.0}], ["trace[0]['wall_ms']: got -1.0", "≥ 0"]),
        ([nested_rows()[1]], ["trace[0]", "depth 1", "the root (depth 0, parent None)"]),
        ([nested_rows()[0], {**nested_rows()[1], "parent": 5}], ["trace[1]['parent']: got 5", "0 … 0"]),
    ],
)
def test_bad_input_is_refused_naming_the_argument_value_and_fix(bad, words):
    with pytest.raises(ValueError) as error:
        summarize_trace(bad)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_bad_summary_and_a_trace_still_recording_are_refused():
    with pytest.raises(ValueError, match=r"summary: got str 'x'; pass what summarize_trace returns"):
        bottleneck("x")
    with pytest.raises(ValueError, match=r"summary\['stages'\]: got dict \{\}"):
        bottleneck({"wall_ms": 1.0, "stages": {}, "peak_bytes": None})
    with difflab.trace() as tr:
        with pytest.raises(ValueError, match="trace: it is still recording"):
            summarize_trace(tr)


def test_the_video_pipeline_under_model_offload_moves_each_model_once_and_peaks_in_decode(tmp_path):
    pipe = difflab.load_pipeline("shapes-video")
    sizes = {name: sum(t.nbytes for t in [*m.parameters(), *m.buffers()]) for name, m in pipe.components.items()
             if isinstance(m, nn.Module)}  # fmt: skip
    pipe.enable_model_cpu_offload(device="cpu", offload_to_disk_path=tmp_path)
    with torch.no_grad(), difflab.trace(pipe) as tr:
        pipe("a red circle moving right", height=64, width=64, num_frames=9, num_inference_steps=2,
             generator=torch.Generator().manual_seed(0))  # fmt: skip
    pipe.disable_offloading()
    summary, verdict = summarize_trace(tr), bottleneck(summarize_trace(tr))
    onloads = [m for m in transfers(tr) if m["direction"] == "onload"]
    assert [(m["group"], m["bytes"]) for m in onloads] == list(sizes.items())  # text encoder, transformer, VAE
    assert [m["during"].split("/", 1)[1] for m in onloads] == ["encode_prompt", "denoise/step 0/model", "decode"]
    assert summary["bytes_moved"] == sum(sizes.values())
    assert verdict["memory_stage"] == "decode"
    assert summary["stages"]["decode"]["at_peak"]["weights"] == sizes["vae"]  # one model resident, not three
    assert summary["stages"]["model"]["calls"] == 2
    text = narrative(tr)
    assert "2 denoiser calls each" in text and "read from disk into RAM in 3 onloads" in text
    assert "No GPU transfer was measured" in text
