"""How well does the shipped shapes-sd model follow its prompts? Prints the figures issue targets are set on.

    .venv/bin/python benchmarks/shapes_quality.py            # about 3-5 minutes on a 2-core CPU

1. 200 held-out prompts (test-split scenes, full captions half the time), 20 DPM-Solver++ steps, guidance 5:
   per-attribute accuracy as read by the shapes judge. Targets: colour ≥ 95%, shape ≥ 90%, position ≥ 80%.
2. A guidance sweep (1, 2, 3, 5, 7.5, 10): adherence and two diversity figures over 4 seeds per prompt: the
   mean pairwise RMS pixel distance, and the entropy (bits) of the judge's labels for what the prompt leaves
   open (size, position), averaged over the prompts that leave it open.
3. VAE reconstruction PSNR on 256 held-out images. Target ≥ 26 dB.
"""

import torch

import difflab
from difflab.data import shapes
from difflab.eval import attribute_entropy, diversity, parse_prompt, prompt_adherence
from difflab.train.vae import evaluate


def held_out_prompts(n: int, seed: int = 7) -> list[str]:
    rng = torch.Generator().manual_seed(seed)
    data = shapes.batch(n, seed=seed, split="test")
    return [shapes.caption_for(a, rng) for a in data["attributes"]]


def generate(pipe, prompts, guidance: float, seed: int, batch: int = 50) -> torch.Tensor:
    images = []
    for start in range(0, len(prompts), batch):
        images.append(
            pipe(
                prompts[start : start + batch],
                num_inference_steps=20,
                guidance_scale=guidance,
                generator=torch.Generator().manual_seed(seed + start),
                output_type="pt",
            )
        )
    return torch.cat(images)


def main():
    torch.manual_seed(0)
    pipe, judge = difflab.load_pipeline("shapes-sd", scheduler="dpm++"), difflab.load_judge()
    prompts = held_out_prompts(200)
    adherence = prompt_adherence(generate(pipe, prompts, 5.0, seed=0), prompts, judge)
    named = {k: sum(k in parse_prompt(p) for p in prompts) for k in adherence}
    print("Prompt adherence at guidance 5, 20 DPM-Solver++ steps, 200 held-out prompts:")
    for attribute, target in (("color", 0.95), ("shape", 0.90), ("position", 0.80), ("size", None)):
        verdict = "" if target is None else ("  ok" if adherence[attribute] >= target else f"  BELOW {target:.0%}")
        print(f"  {attribute:<9} {adherence[attribute]:6.1%}  (of {named[attribute]} prompts naming it){verdict}")

    print("\nGuidance sweep (24 prompts × 4 seeds each):")
    sweep_prompts = held_out_prompts(24, seed=8)
    print("                                              pixel    open-attribute entropy (bits)")
    print("  guidance  colour  shape  position  size   diversity     size  position")
    for guidance in (1.0, 2.0, 3.0, 5.0, 7.5, 10.0):
        images = [generate(pipe, sweep_prompts, guidance, seed=100 * s) for s in range(4)]  # 4 seeds
        scores = prompt_adherence(torch.cat(images), sweep_prompts * 4, judge)
        per_prompt = [torch.stack([im[i] for im in images]) for i in range(24)]  # (4 seeds, 3, 64, 64) each
        spread = sum(diversity(group) for group in per_prompt) / 24
        entropies = [attribute_entropy(group, judge) for group in per_prompt]
        open_entropy = {}
        for attribute in ("size", "position"):
            left_open = [e[attribute] for e, p in zip(entropies, sweep_prompts) if attribute not in parse_prompt(p)]
            open_entropy[attribute] = sum(left_open) / len(left_open)
        print(
            f"  {guidance:8.1f}  {scores['color']:6.1%}  {scores['shape']:5.1%}  {scores.get('position', 0):8.1%}"
            f"  {scores.get('size', 0):5.1%}  {spread:9.4f}"
            f"  {open_entropy['size']:7.2f}  {open_entropy['position']:8.2f}"
        )

    print(f"\nVAE reconstruction on 256 held-out images: {evaluate(pipe.vae.cpu().float(), n=256):.2f} dB PSNR (≥ 26)")


if __name__ == "__main__":
    main()
