"""What each offload strategy keeps in memory, moves and costs per denoising step, on this machine.

    .venv/bin/python benchmarks/offload.py              # shapes-video, then a Wan2.1-1.3B-sized transformer
    .venv/bin/python benchmarks/offload.py --small      # shapes-video only (a few seconds)

shapes-video, one 17-frame 64×64 clip, 10 UniPC steps with guidance (20 transformer calls), weights offloaded to
safetensors files in a temporary folder (the disk tier: with no GPU, RAM is the compute tier). For each
strategy: the largest weight bytes on the compute tier at once (the transformer's; the pipeline's for model
offload), the bytes read back from disk per clip (the offloads only drop the RAM copy), and the time per step
(median of 3 runs, one thread). Repeat reads of a file may come from the OS page cache, so "disk" here is often
memory-speed: the bytes are exact, the times a lower bound for a cold disk. The ordering diffusers asserts for
its GPU hooks must hold in the peaks: leaf < block×1 < block×3 < none. Outputs are checked equal to the
no-offload clip, bit for bit.

Then a transformer of Wan2.1-T2V-1.3B's exact config (1,418,996,800 parameters) with random weights in bfloat16
(2.84 GB), one forward on 4 video tokens and 16 text tokens, so that moving weights, not computing, is what
varies: the same strategies, the prefetch rows that need a GPU (their peaks modelled from the recorded group
order: one group more resident, labelled so), the full ordering diffusers asserts, and diffusers' own group
offloading and layerwise casting on the same model for comparison (output change and overhead per forward).
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import difflab
from difflab.configs import load_config
from difflab.models.wan import WanTransformer3DModel
from difflab.offload import apply_group_offloading, offload_report, remove_group_offloading
from difflab.offload.groups import offloading_of

STEPS, CALL = 10, dict(height=64, width=64, num_frames=17, guidance_scale=5.0)
STRATEGIES = {
    "none": None,
    "model offload": "model",
    "block×3": dict(offload_type="block_level", num_blocks_per_group=3),
    "block×1": dict(offload_type="block_level", num_blocks_per_group=1),
    "leaf (sequential)": dict(offload_type="leaf_level"),
}


def clip(pipe):
    return pipe("a red circle moving right", num_inference_steps=STEPS, generator=torch.Generator().manual_seed(0),
                output_type="pt", **CALL)  # fmt: skip


def timed(pipe) -> tuple[torch.Tensor, float]:
    out, seconds = None, []
    for _ in range(3):
        start = time.perf_counter()
        out = clip(pipe)
        seconds.append(time.perf_counter() - start)
    return out, statistics.median(seconds)


def main(folder: Path):
    pipe = difflab.load_pipeline("shapes-video", device="cpu")
    weights = sum(t.nbytes for t in [*pipe.transformer.parameters(), *pipe.transformer.buffers()])
    reference, _ = timed(pipe)
    print(f"shapes-video transformer: {weights / 1e6:.2f} MB of weights; {STEPS} steps, guidance (2 calls a step)")
    print(f"{'strategy':18} {'peak on compute tier':>21} {'read per clip':>14} {'time per step':>14}  equal")
    peaks = {}
    for name, strategy in STRATEGIES.items():
        if strategy == "model":
            pipe.enable_model_cpu_offload(device="cpu", offload_to_disk_path=folder / "model")
        elif strategy is not None:
            apply_group_offloading(pipe.transformer, "cpu", "disk", offload_to_disk_path=folder / name, **strategy)
        out, seconds = timed(pipe)
        if strategy == "model":
            ledger = pipe.offloading[2].ledger
            peak, moved = ledger.peak_onloaded_bytes, sum(m[2] for m in ledger.moves if m[1] == "onload") / 3
            pipe.disable_offloading()
        elif strategy is not None:
            report = offload_report(pipe.transformer)
            peak, moved = report["peak_onloaded_bytes"], report["onload_bytes"] / 3
            remove_group_offloading(pipe.transformer)
        else:
            peak, moved = weights, 0
        peaks[name] = peak
        print(f"{name:18} {peak / 1e6:>18.2f} MB {moved / 1e6:>11.2f} MB {seconds / STEPS * 1000:>11.1f} ms  "
              f"{torch.equal(out, reference)}")  # fmt: skip
    order = ["leaf (sequential)", "block×1", "block×3", "none"]
    holds = all(peaks[a] < peaks[b] for a, b in zip(order, order[1:]))
    print(f"peak ordering leaf < block×1 < block×3 < none: {'holds' if holds else 'DOES NOT HOLD'}")


def wan_sized() -> tuple[WanTransformer3DModel, tuple]:
    """Wan2.1-T2V-1.3B's transformer config with random bfloat16 weights, and seeded inputs of 4 + 16 tokens."""
    config = {k: v for k, v in load_config("wan2.1-t2v-1.3b", "transformer").items() if not k.startswith("_")}
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)  # built directly in bfloat16: no 5.7 GB float32 copy first
    try:
        model = WanTransformer3DModel(**config).eval()
    finally:
        torch.set_default_dtype(torch.float32)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 16, 1, 4, 4, generator=g).bfloat16()  # (B, C, F, H, W) → 1·2·2 = 4 tokens
    text = torch.randn(1, 16, config["text_dim"], generator=g).bfloat16()
    return model, (latents, torch.tensor([500.0]), text)


def forward_timed(model, inputs) -> tuple[torch.Tensor, float]:
    """The output and the median seconds of 3 forwards, after one that warms up (and records the group order)."""
    with torch.no_grad():
        out, seconds = model(*inputs, return_dict=False)[0], []
        for _ in range(3):
            start = time.perf_counter()
            out = model(*inputs, return_dict=False)[0]
            seconds.append(time.perf_counter() - start)
    return out, statistics.median(seconds)


def stream_peak(model) -> int:
    """The modelled peak with prefetch: while each group computes, the next one in the recorded order is arriving
    (the group that stays for the whole forward, "rest of the model", is in both)."""
    groups, ledger, _ = offloading_of(model)
    rest = sum(g.nbytes for g in groups if g.name == "rest of the model")
    order = [g for g in ledger.order if g.name != "rest of the model"]
    return rest + max(a.nbytes + b.nbytes for a, b in zip(order, order[1:]))


def main_large(folder: Path):
    model, inputs = wan_sized()
    weights = sum(t.nbytes for t in model.parameters())
    reference, base = forward_timed(model, inputs)
    print(f"\nWan2.1-1.3B-sized transformer, random bfloat16 weights: {weights / 1e9:.2f} GB; 4 + 16 tokens")
    print(f"{'strategy':26} {'peak on compute tier':>21} {'read per forward':>17} {'time per forward':>17}  equal")
    print(f"{'none':26} {weights / 1e6:>18.1f} MB {0:>14.1f} MB {base * 1000:>14.0f} ms  True")
    peaks = {"none": weights}
    for name, strategy in list(STRATEGIES.items())[2:]:
        apply_group_offloading(model, "cpu", "disk", offload_to_disk_path=folder / name, **strategy)
        out, seconds = forward_timed(model, inputs)
        report = offload_report(model)
        peaks[name], peaks[f"{name} + stream"] = report["peak_onloaded_bytes"], stream_peak(model)
        moved = report["onload_bytes"] / 4  # four forwards
        remove_group_offloading(model)
        print(f"{name:26} {peaks[name] / 1e6:>18.1f} MB {moved / 1e6:>14.1f} MB {seconds * 1000:>14.0f} ms  "
              f"{torch.equal(out, reference)}")  # fmt: skip
        print(f"{name + ' + stream':26} {peaks[name + ' + stream'] / 1e6:>18.1f} MB   (modelled: prefetch needs CUDA)")
    order = ["leaf (sequential)", "leaf (sequential) + stream", "block×1", "block×1 + stream", "block×3", "none"]
    strict = [a != "leaf (sequential)" and not b.endswith("stream") for a, b in zip(order, order[1:])]
    holds = all(peaks[a] < peaks[b] if s else peaks[a] <= peaks[b] for (a, b), s in zip(zip(order, order[1:]), strict))
    print(f"peak ordering leaf ≤ leaf+stream < block×1 ≤ block×1+stream < block×3 < none: "
          f"{'holds' if holds else 'DOES NOT HOLD'}")  # fmt: skip
    compare_with_diffusers(model, inputs, reference, base, folder)


def compare_with_diffusers(model, inputs, reference, base, folder: Path):
    """diffusers' hooks on the same weights: each library's offloaded output against its own plain one, and the
    overhead per forward. (diffusers is the oracle here, as in the tests; the course never runs it.)"""
    import diffusers
    from diffusers.hooks import apply_group_offloading as diffusers_group_offloading

    theirs = diffusers.WanTransformer3DModel.from_config(dict(model.config)).to(torch.bfloat16).eval()
    theirs.load_state_dict(model.state_dict())
    their_reference, their_base = forward_timed(theirs, inputs)
    print(
        f"\ndiffusers {diffusers.__version__} on the same weights: its plain forward {their_base * 1000:.0f} ms "
        f"(ours {base * 1000:.0f} ms), max |theirs − ours| {(their_reference - reference).abs().max():.3g}"
    )
    print(f"{'':26} {'ours: equal, overhead':>24} {'diffusers: equal, overhead':>28}")
    apply_group_offloading(model, "cpu", "disk", num_blocks_per_group=1, offload_to_disk_path=folder / "ours")
    ours, seconds = forward_timed(model, inputs)
    remove_group_offloading(model)
    diffusers_group_offloading(theirs, onload_device="cpu", offload_device="cpu", offload_type="block_level",
                               num_blocks_per_group=1, offload_to_disk_path=str(folder / "theirs"))  # fmt: skip
    try:
        out, their_seconds = forward_timed(theirs, inputs)
        theirs_text = f"{str(torch.equal(out, their_reference)):>12}, {(their_seconds - their_base) * 1000:>+8.0f} ms"
    except NameError as e:  # diffusers 0.42.1 moves the inputs with accelerate's send_to_device, imported only if
        theirs_text = f"   does not run here: {e} (it needs accelerate)"  # accelerate is installed: it is not here
    print(f"{'block×1 to disk':26} {str(torch.equal(ours, reference)):>8}, {(seconds - base) * 1000:>+8.0f} ms "
          f"{theirs_text}")  # fmt: skip
    theirs = diffusers.WanTransformer3DModel.from_config(dict(model.config)).to(torch.bfloat16).eval()
    theirs.load_state_dict(model.state_dict())  # a fresh copy: diffusers' group hooks are not removable
    model.enable_layerwise_casting(torch.float8_e4m3fn, torch.bfloat16)
    theirs.enable_layerwise_casting(torch.float8_e4m3fn, torch.bfloat16)
    ours, seconds = forward_timed(model, inputs)
    out, their_seconds = forward_timed(theirs, inputs)
    rel = lambda a, b: ((a.float() - b.float()).norm() / b.float().norm()).item()  # noqa: E731
    print(f"{'float8 storage (rel. L2)':26} {rel(ours, reference):>8.4f}, {(seconds - base) * 1000:>+8.0f} ms "
          f"{rel(out, their_reference):>12.4f}, {(their_seconds - their_base) * 1000:>+8.0f} ms")  # fmt: skip


if __name__ == "__main__":
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        main(Path(tmp))
        if "--small" not in sys.argv:
            main_large(Path(tmp))
