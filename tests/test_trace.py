import json

import pytest
import torch

import difflab
from difflab import schedulers, toy
from difflab.trace import stage, tag
from difflab.trace.stages import ACTIVE, NOTHING


def linear_relu():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(1000, 1000), torch.nn.ReLU())


def no_instruments_left(*modules):
    hooks = [h for m in modules for sub in m.modules() for h in (sub._forward_hooks, sub._forward_pre_hooks) if h]
    marks = [name for m in modules for sub in m.modules() for name in vars(sub) if "difflab" in name]
    no_modes = torch._C._len_torch_dispatch_stack() == 0
    return not hooks and not marks and not ACTIVE and no_modes and stage("x") is NOTHING


def test_ledger_counts_weights_and_activations_to_the_byte():
    net, x = linear_relu(), torch.randn(64, 1000)
    with difflab.trace(net) as tr:
        with stage("forward"):
            y = net(x)
    weights = (1000 * 1000 + 1000) * 4  # Linear weight + bias, fp32
    outputs = 2 * 64 * 1000 * 4  # the Linear output and the ReLU output are both alive at the end
    row = tr.memory.where(stage="forward")[0]
    assert row["weights"] == weights == tr.weight_table[0]["bytes"]
    assert row["activations"] == outputs
    assert row["peak"] == weights + outputs
    assert row["peak_owner"] == "Sequential.1"  # the ReLU allocated the last, peak-making buffer
    assert y.shape == (64, 1000)


def test_ledger_sees_frees_tags_and_dtypes():
    half = torch.nn.Linear(10, 10).to(torch.bfloat16)
    with difflab.trace(half) as tr:
        with stage("alloc"):
            a = torch.ones(1000)  # 4000 B
            b = torch.ones(2000)  # 8000 B: 12000 live
            del a  # 8000 live
            c = torch.ones(500)  # 10000 live: below the peak
        with stage("tagged"):
            latents = tag("latents", torch.ones(4, 4, 8, 8))  # 4096 B
    alloc, tagged = tr.memory.where(stage="alloc")[0], tr.memory.where(stage="tagged")[0]
    assert alloc["activations"] == 12000 and alloc["peak"] == 12000 + 220  # bf16 weights: 110 values × 2 B
    assert tagged["latents"] == 4096
    assert tagged["activations"] == 10000 + 4096  # a new tensor counts as an activation until it is tagged
    assert tr.weight_table.rows == [
        {"component": "Linear", "device": "cpu", "dtype": "bfloat16", "tensors": 2, "elements": 110, "bytes": 220}
    ]
    del b, c, latents


def test_shape_trace_of_a_small_conv_net_is_the_expected_list():
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv2d(8, 4, 1))
    with difflab.trace(net, memory=False) as tr:
        with stage("unet"):
            net(torch.zeros(2, 4, 8, 8))
    got = [
        (r["module"], r["class"], [i["shape"] for i in r["inputs"]], [o["shape"] for o in r["outputs"]])
        for r in tr.shape_records
    ]
    assert got == [
        ("Sequential", "Sequential", [(2, 4, 8, 8)], [(2, 4, 8, 8)]),
        ("Sequential.0", "Conv2d", [(2, 4, 8, 8)], [(2, 8, 8, 8)]),
        ("Sequential.1", "SiLU", [(2, 8, 8, 8)], [(2, 8, 8, 8)]),
        ("Sequential.2", "Conv2d", [(2, 8, 8, 8)], [(2, 4, 8, 8)]),
    ]
    assert {r["stage"] for r in tr.shape_records} == {"unet"}
    assert tr.shape_records[1]["inputs"][0] == {"shape": (2, 4, 8, 8), "dtype": "float32", "device": "cpu"}


def toy_run(steps=3, model=None):
    ddim = schedulers.DDIMScheduler(clip_sample=False)
    model = model or toy.ExactDenoiser(toy.GaussianMixture2D.ring(), ddim.alphas_cumprod)
    return difflab.sample_loop(model, ddim, torch.randn(100, 2, generator=torch.Generator().manual_seed(0)), steps)


def test_sampler_stages_nest_per_step_and_their_times_add_up():
    with difflab.trace() as tr:
        toy_run(3)
    paths = [s.path for s in tr.stages()]
    assert paths == ["denoise"] + [
        p for i in range(3) for p in (f"denoise/step {i}", f"denoise/step {i}/model", f"denoise/step {i}/scheduler")
    ]
    denoise = tr.stages()[0]
    assert [s.attrs for s in denoise.children] == [{"step": 0}, {"step": 1}, {"step": 2}]
    for s in tr.stages():
        assert s.parent.start <= s.start <= s.end <= s.parent.end
    assert sum(c.seconds for c in denoise.children) <= denoise.seconds
    # Two latent buffers are live at the end of a step: the new x_{t-1} and the old x_t, which `model_input`
    # still references until the next step replaces it.
    assert tr.memory.where(stage="denoise/step 2")[0]["latents"] == 2 * (100 * 2 * 4)


def test_chrome_trace_is_valid_json_with_stage_and_counter_events(tmp_path):
    with difflab.trace() as tr:
        toy_run(2)
    events = json.loads(open(tr.save_chrome_trace(tmp_path / "run.json")).read())["traceEvents"]
    stages = [e for e in events if e["ph"] == "X"]
    assert [e["name"] for e in stages][:3] == ["trace", "denoise", "step 0"]
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in stages)
    counters = [e for e in events if e["ph"] == "C"]
    assert counters and set(counters[0]["args"]) == {"weights", "latents", "conditioning", "activations"}
    assert json.loads(tr.to_json())["timings"][0]["stage"] == "trace"


def test_instruments_are_removed_after_a_normal_exit_and_after_an_exception():
    net = linear_relu()
    with difflab.trace(net, flops=True):
        net(torch.zeros(2, 1000))
    assert no_instruments_left(net)
    with pytest.raises(RuntimeError, match="boom"):
        with difflab.trace(net, flops=True):
            with stage("inside"):
                net(torch.zeros(2, 1000))
                raise RuntimeError("boom")
    assert no_instruments_left(net)


def test_non_finite_values_are_reported_with_the_first_stage_and_module():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh())

    def model(x, t):
        return net(x / 0 if t < 500 else x)  # the Linear starts producing inf once t < 500

    with difflab.trace(net) as tr:
        toy_run(4, model)
    assert tr.nonfinite == {"stage": "denoise/step 2/model", "module": "Sequential.0", "tensor": "output"}
    assert "Non-finite values first seen in stage 'denoise/step 2/model'" in tr.summary()


def test_flops_per_stage_match_the_matmul_count():
    net = linear_relu()
    with difflab.trace(net, flops=True) as tr:
        with stage("forward"):
            net(torch.zeros(64, 1000))
    assert tr.timings.where(stage="forward")[0]["gflops"] == pytest.approx(2 * 64 * 1000 * 1000 / 1e9)


def test_stage_and_tag_do_nothing_without_a_trace():
    x = torch.ones(3)
    assert stage("denoise", step=1) is NOTHING and tag("latents", x) is x


def test_bad_trace_options_name_the_argument():
    with pytest.raises(ValueError, match="modules: got 'some'"):
        difflab.trace(modules="some")
