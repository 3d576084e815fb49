"""What lower precision costs and buys on this machine: the shipped pipelines in float32, bfloat16 and float16.

    .venv/bin/python benchmarks/precision.py

For each pipeline and dtype: the time of one generation (median of 3 after a warm-up, one thread), the
difference from the float32 output (mean and max absolute, pixels in [0, 1]), and the judge on 16 held-out
prompts (shapes-sd: colour and shape; shapes-video: colour, shape and motion). The same seeds throughout, so
the difference is the precision's alone. A dtype the CPU cannot run is reported as such, not skipped silently.
"""

import statistics
import time
from functools import partial

import torch

import difflab
from difflab.data import moving_shapes, shapes
from difflab.eval import prompt_adherence, video_adherence

DTYPES = (torch.float32, torch.bfloat16, torch.float16)
PROMPTS = 16
STEPS = 20
CLIP = dict(height=64, width=64, num_frames=17)  # the size shapes-video was trained at (the default is Wan's 480×832)


def images(pipe, prompts):
    generators = [torch.Generator().manual_seed(i) for i in range(len(prompts))]
    return pipe(prompts, num_inference_steps=STEPS, generator=generators, output_type="pt").float()


def clips(pipe, prompts):
    generators = [torch.Generator().manual_seed(i) for i in range(len(prompts))]
    out = pipe(prompts, num_inference_steps=STEPS, generator=generators, output_type="pt", **CLIP)
    return out.float().transpose(1, 2)  # (B, F, 3, H, W) → (B, 3, F, H, W)


CASES = {
    "shapes-sd": (images, shapes.batch(PROMPTS, seed=5, split="test")["caption"], prompt_adherence),
    "shapes-video": (clips, moving_shapes.batch(PROMPTS, seed=5, split="test")["caption"], video_adherence),
}


def median_seconds(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    judge = difflab.load_judge()
    for name, (generate, prompts, adherence) in CASES.items():
        print(f"{name}: {PROMPTS} prompts, {STEPS} steps")
        reference = None
        for dtype in DTYPES:
            pipe = difflab.load_pipeline(name, device="cpu", dtype=dtype)
            try:
                out = generate(pipe, prompts)
            except RuntimeError as error:  # an operator this CPU has no kernel for in this dtype
                print(f"  {str(dtype):15} cannot run here: {str(error).splitlines()[0]}")
                continue
            reference = out if reference is None else reference
            seconds = median_seconds(partial(generate, pipe, prompts[:1]))
            difference = (out - reference).abs()
            scores = {k: round(v, 3) for k, v in adherence(out, prompts, judge).items()}
            finite = "" if torch.isfinite(out).all() else "  NON-FINITE OUTPUT"
            print(f"  {str(dtype):15} {seconds:6.2f} s per generation   |Δ| mean {difference.mean():.4f} "
                  f"max {difference.max():.3f}   judge {scores}{finite}")  # fmt: skip


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
