"""How many steps does an ancestral sampler need? DDPM beside DDIM on a world with an exact denoiser.

    .venv/bin/python benchmarks/sampler_steps.py      # about 1 minute on one core

The 2-D ring of Gaussians (difflab.toy) has a closed-form denoiser, so the only error left is the sampler's.
For N steps of DDPM (ancestral, fresh noise every step) and DDIM (η = 0, deterministic), both on SD's training
schedule with trailing spacing and no clipping, it prints the fraction of 20,000 samples that land within three
standard deviations of a mixture component, and the sliced Wasserstein distance to 20,000 true samples (the
distance between two sets of true samples is printed first: the floor set by the sample size).
"""

import torch

from difflab import schedulers, toy
from difflab.sampling import sample_loop

SCHEDULE = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,  # DDPM's and DDIM's default clips x̂0 to [-1, 1]; the ring has radius 1.5
    timestep_spacing="trailing",
)
SAMPLES = 20_000


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, projections: int = 256) -> float:
    """RMS over random directions of the 1-D Wasserstein-2 distance between the projected samples."""
    directions = torch.randn(projections, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    directions = directions / directions.norm(dim=1, keepdim=True)  # (P, 2) unit vectors
    pa, pb = (a.double() @ directions.T).sort(0).values, (b.double() @ directions.T).sort(0).values  # (n, P)
    return ((pa - pb) ** 2).mean().sqrt().item()


def in_mode(mixture: toy.GaussianMixture2D, x: torch.Tensor) -> float:
    """Fraction of samples within 3 component standard deviations of the nearest component mean."""
    distance = torch.cdist(x.double(), mixture.means).min(dim=1).values  # (n,)
    return (distance < 3 * mixture.stds.min()).double().mean().item()


def main():
    mixture = toy.GaussianMixture2D.ring()
    truth = mixture.sample(SAMPLES, torch.Generator().manual_seed(1))
    floor = sliced_wasserstein(truth, mixture.sample(SAMPLES, torch.Generator().manual_seed(2)))
    print(f"true samples: {in_mode(mixture, truth):.3f} in a mode; distance between two true sets {floor:.4f}")
    print("  steps    DDPM in-mode  distance    DDIM in-mode  distance")
    for steps in (5, 10, 20, 50, 100, 1000):
        row = []
        for name in ("ddpm", "ddim"):
            scheduler = schedulers.get(name, **SCHEDULE)
            model = toy.ExactDenoiser(mixture, scheduler.alphas_cumprod)
            generator = torch.Generator().manual_seed(0)
            x = sample_loop(model, scheduler, torch.randn(SAMPLES, 2, generator=generator), steps, generator)
            row.append(f"{in_mode(mixture, x):12.3f}  {sliced_wasserstein(x, truth):8.4f}")
        print(f"  {steps:5d}  " + "    ".join(row))


if __name__ == "__main__":
    main()
