"""What each offload strategy keeps in memory, moves and costs per denoising step, on this machine.

    .venv/bin/python benchmarks/offload.py

shapes-video, one 17-frame 64×64 clip, 10 UniPC steps with guidance (20 transformer calls), weights offloaded to
safetensors files in a temporary folder (the disk tier: with no GPU, RAM is the compute tier). For each
strategy: the largest weight bytes on the compute tier at once (the transformer's; the pipeline's for model
offload), the bytes read back from disk per clip (the offloads only drop the RAM copy), and the time per step
(median of 3 runs, one thread). Repeat reads of a file may come from the OS page cache, so "disk" here is often
memory-speed: the bytes are exact, the times a lower bound for a cold disk. The ordering diffusers asserts for
its GPU hooks must hold in the peaks: leaf < block×1 < block×3 < none. Outputs are checked equal to the
no-offload clip, bit for bit.
"""

import statistics
import tempfile
import time
from pathlib import Path

import torch

import difflab
from difflab.offload import apply_group_offloading, offload_report, remove_group_offloading

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


if __name__ == "__main__":
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        main(Path(tmp))
