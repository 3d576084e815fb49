"""difflab vs diffusers on the same weights: one 17-frame 64×64 clip, 25 UniPC steps, classifier-free guidance.

    .venv/bin/python benchmarks/video_speed.py

Both pipelines load lib/difflab/weights/shapes-video (diffusers' WanPipeline reads the folder as is). Runs
alternate, 5 each after a warm-up; the figures are the ratio of medians (target ≤ 1.0) and difflab's median
time for the clip (target < 5 s on a 2-core CPU).
"""

import diffusers
import numpy as np
import torch
from alternating import median_seconds

import difflab
from difflab.pretrained import weights_folder

PROMPT, STEPS, GUIDANCE = "a red circle moving right", 25, 5.0
CLIP = dict(height=64, width=64, num_frames=17)


def main():
    # diffusers applies _keep_in_fp32_modules only through accelerate (not installed); in float32 it changes nothing
    diffusers.WanTransformer3DModel._keep_in_fp32_modules = None
    ours = difflab.load_pipeline("shapes-video", device="cpu")
    theirs = diffusers.WanPipeline.from_pretrained(weights_folder("shapes-video"), local_files_only=True)
    theirs.set_progress_bar_config(disable=True)

    def generator():
        return torch.Generator().manual_seed(0)

    runs = {
        "difflab": lambda: ours(
            PROMPT, num_inference_steps=STEPS, guidance_scale=GUIDANCE, generator=generator(), output_type="np", **CLIP
        ),  # fmt: skip
        "diffusers": lambda: (
            theirs(
                PROMPT,
                num_inference_steps=STEPS,
                guidance_scale=GUIDANCE,
                generator=generator(),
                output_type="np",
                **CLIP,
            ).frames
        ),  # fmt: skip
    }
    median = median_seconds(runs, repeats=5)
    same = np.abs(runs["difflab"]() - runs["diffusers"]()).max()
    print(f"17 frames at 64×64, {STEPS} UniPC steps, CFG {GUIDANCE}, {torch.get_num_threads()} threads:")
    print(f"  difflab   {median['difflab']:6.2f} s (median of 5; target < 5 s)")
    print(f"  diffusers {median['diffusers']:6.2f} s")
    print(f"  ratio difflab/diffusers = {median['difflab'] / median['diffusers']:.2f}× (target ≤ 1.0)")
    print(f"  max |difference| between their frames: {same:.2e}")


if __name__ == "__main__":
    main()
