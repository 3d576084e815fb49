"""Train the shapes-world VAE: a Stable Diffusion–style AutoencoderKL scaled down (64×64×3 → 4×8×8).

Loss: mean squared reconstruction error of a posterior sample, plus a very small KL term that keeps the latent
distribution close to N(0, I) without blurring (SD's VAE adds a perceptual and an adversarial loss; at 64×64
with flat-coloured shapes, MSE alone reaches a good PSNR).
"""

import torch

from ..data import shapes
from ..models import AutoencoderKL
from .common import Checkpoint, Stopwatch, cosine_lr, progress, seed_everything

VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(32, 64, 64, 64),  # 3 downsamplings: 64 → 8 pixels per side
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=64,
)


def psnr(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for images in [-1, 1] (peak = 1 after mapping to [0, 1]), per image."""
    mse = (((reconstruction - target) / 2) ** 2).flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp(min=1e-10))


@torch.no_grad()
def evaluate(vae: AutoencoderKL, n: int = 256, seed: int = 1) -> float:
    """Mean PSNR of mode reconstructions on held-out (test-split) images."""
    images = shapes.batch(n, seed=seed, split="test")["image"]
    vae.eval()
    reconstruction = vae.decode(vae.encode(images).latent_dist.mode()).sample
    vae.train()
    return psnr(reconstruction.clamp(-1, 1), images).mean().item()


@torch.no_grad()
def estimate_scaling_factor(vae: AutoencoderKL, n: int = 1024, seed: int = 2) -> float:
    """1 / std of the latents over data: the factor that makes the diffusion model's inputs unit-variance."""
    images = shapes.batch(n, seed=seed)["image"]
    draws = torch.Generator().manual_seed(seed)  # the posterior samples are seeded too, so the factor is reproducible
    latents = torch.cat([vae.encode(chunk).latent_dist.sample(draws) for chunk in images.split(256)])
    return 1.0 / latents.std().item()


def train_vae(
    out="runs/vae",
    steps: int = 1200,
    batch_size: int = 24,
    lr: float = 1e-3,
    kl_weight: float = 1e-6,
    seed: int = 0,
    save_every: int = 200,
) -> AutoencoderKL:
    seed_everything(seed)
    vae = AutoencoderKL(**VAE_CONFIG)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    checkpoint = Checkpoint(out)
    start, log = checkpoint.load({"vae": vae}, optimizer)
    clock = Stopwatch(log[-1]["seconds"] if log else 0.0)
    bar = progress(steps, start, "vae")
    for step in range(start, steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, lr)
        images = shapes.batch(range(step * batch_size, (step + 1) * batch_size), seed=seed)["image"]  # (B, 3, 64, 64)
        posterior = vae.encode(images).latent_dist  # mean and log-variance, each (B, 4, 8, 8)
        reconstruction = vae.decode(posterior.sample()).sample
        loss = torch.nn.functional.mse_loss(reconstruction, images) + kl_weight * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        if (step + 1) % save_every == 0 or step + 1 == steps:
            log.append({"step": step + 1, "loss": loss.item(), "psnr_db": evaluate(vae), "seconds": clock.seconds})
            checkpoint.save(step + 1, {"vae": vae}, optimizer, log)
            bar.write(f"step {step + 1}: loss {loss.item():.4f}, held-out PSNR {log[-1]['psnr_db']:.2f} dB")
    bar.close()
    return vae.eval()


if __name__ == "__main__":  # python -m difflab.train.vae [steps]
    import sys

    train_vae(steps=int(sys.argv[1]) if len(sys.argv) > 1 else 1200)
