"""difflab vs diffusers on the same weights: one 64×64 image, 20 DPM-Solver++ steps, classifier-free guidance.

    .venv/bin/python benchmarks/generate_speed.py

Both pipelines load lib/difflab/weights/shapes-sd (diffusers' StableDiffusionPipeline reads the folder as is).
Runs alternate, 7 each after a warm-up; the figure is the ratio of medians (target ≤ 1.0) and difflab's
median time (target < 1 s on a 2-core CPU).
"""

import diffusers
import torch
from alternating import median_seconds

import difflab
from difflab.pretrained import weights_folder

PROMPT, STEPS, GUIDANCE = "a large red circle on the left", 20, 5.0


def main():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    ours = difflab.load_pipeline("shapes-sd", scheduler="dpm++", device="cpu")
    theirs = diffusers.StableDiffusionPipeline.from_pretrained(weights_folder("shapes-sd"), local_files_only=True)
    theirs.scheduler = diffusers.DPMSolverMultistepScheduler.from_config(theirs.scheduler.config)
    theirs.set_progress_bar_config(disable=True)
    runs = {
        "difflab": lambda: ours(
            PROMPT,
            num_inference_steps=STEPS,
            guidance_scale=GUIDANCE,
            generator=torch.Generator().manual_seed(0),
            output_type="pt",
        ),
        "diffusers": lambda: (
            theirs(
                PROMPT,
                num_inference_steps=STEPS,
                guidance_scale=GUIDANCE,
                generator=torch.Generator().manual_seed(0),
                output_type="pt",
            ).images
        ),
    }
    median = median_seconds(runs, repeats=7)
    same = (runs["difflab"]() - runs["diffusers"]()).abs().max().item()
    print(f"64×64, {STEPS} DPM-Solver++ steps, CFG {GUIDANCE}, {torch.get_num_threads()} threads:")
    print(f"  difflab   {median['difflab'] * 1e3:7.1f} ms (median of 7)")
    print(f"  diffusers {median['diffusers'] * 1e3:7.1f} ms")
    print(f"  ratio difflab/diffusers = {median['difflab'] / median['diffusers']:.2f}× (target ≤ 1.0)")
    print(f"  max |difference| between their images: {same:.2e}")


if __name__ == "__main__":
    main()
