"""Train the shapes-world text encoder and UNet together, on latents from the trained VAE.

Each step: pick latents z0 (B, 4, 8, 8) and captions, drop 10% of the captions to "" (so the same network
also learns the unconditional prediction that classifier-free guidance needs), draw t and ε, noise
z_t = √ᾱ_t·z0 + √(1-ᾱ_t)·ε, and regress the UNet's output on ε.

The loss is not DDPM's plain ε-MSE. An error δ in the predicted ε is an error in the implied clean latent of
δ/√SNR(t), SNR = ᾱ/(1-ᾱ); so the plain ε-MSE weighs clean-image errors by SNR(t), which is 0.005 at t = 999.
Where a shape sits is decided only in those noisiest steps, and in its first 2,500 steps, under the plain loss,
the shipped model had not learnt position. So the shipped recipe multiplies each sample's ε-MSE by
max(1, 1/SNR(t)): clean-image errors are then weighed by max(SNR, 1) (the "truncated SNR" weighting of Salimans &
Ho, 2022), unchanged wherever SNR ≥ 1. The control (benchmarks/position_control.py, weighting="epsilon") showed
that this was not needed: the same recipe with the plain loss learns position too (chance at step 2,500, 98.9 %
at 4,500, 100 % at 6,500).
"""

import time
from pathlib import Path

import torch
import transformers

from .. import noise
from ..data import shapes
from ..models import AutoencoderKL, UNet2DConditionModel
from ..schedulers import DDPMScheduler
from .common import Checkpoint, Stopwatch, cosine_lr, progress, seed_everything

SCHEDULER_CONFIG = dict(  # Stable Diffusion's training schedule
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="epsilon",
    steps_offset=1,
    clip_sample=False,
    set_alpha_to_one=False,
)
UNET_CONFIG = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    layers_per_block=1,
    block_out_channels=(64, 128),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=64,
    attention_head_dim=4,
    norm_num_groups=32,  # attention_head_dim: 4 heads (see the UNet)
)
# Training captions name an off-centre position more often than the dataset's grammar does (0.5): where a
# shape sits is decided in the noisiest steps only, so it is the attribute that gets the least training signal.
P_POSITION_WORD = 0.8


LOSS_WEIGHTINGS = ("truncated_snr", "epsilon")


def loss_weight(alpha_bar_t: torch.Tensor, weighting: str = "truncated_snr") -> torch.Tensor:
    """The factor on each sample's ε-MSE (see the module docstring), SNR = ᾱ/(1-ᾱ).

    "truncated_snr": max(1, 1/SNR), the shipped recipe; "epsilon": 1, DDPM's plain L_simple.
    """
    if weighting not in LOSS_WEIGHTINGS:
        raise ValueError(f"weighting: got {weighting!r}; valid values are {LOSS_WEIGHTINGS}.")
    if weighting == "epsilon":
        return torch.ones_like(alpha_bar_t)
    return (1 / noise.snr(alpha_bar_t)).clamp(min=1.0)


def text_encoder_config(tokenizer) -> transformers.CLIPTextConfig:
    """A two-layer CLIP text transformer, width 64, over the shapes-world vocabulary."""
    return transformers.CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        projection_dim=64,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


@torch.no_grad()
def encode_dataset(vae, n: int, seed: int = 0, chunk: int = 256, batch=shapes.batch, key: str = "image"):
    """The posterior mean and std of the first n training samples, plus their attributes.

    `batch(indices, seed=seed)` gives a dict with the inputs under `key` and their "attributes": pictures
    (n, 4, 8, 8) latents by default; the video trainer passes moving_shapes.batch and "video".
    """
    means, stds, attributes = [], [], []
    for start in range(0, n, chunk):
        data = batch(range(start, min(n, start + chunk)), seed=seed)
        posterior = vae.encode(data[key]).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
        attributes += data["attributes"]
    return torch.cat(means), torch.cat(stds), attributes


def cached_dataset(vae, n: int, seed: int, path: Path, **encode_kwargs):
    """encode_dataset, saved beside the checkpoints so that a resumed run does not encode again (with the
    seconds the encoding took, for the model card: see encoding_seconds)."""
    if path.exists():
        cached = torch.load(path, weights_only=True)
        return cached["means"], cached["stds"], cached["attributes"]
    clock = time.perf_counter()
    means, stds, attributes = encode_dataset(vae, n, seed, **encode_kwargs)
    seconds = time.perf_counter() - clock
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"means": means, "stds": stds, "attributes": attributes, "seconds": seconds}, path)
    return means, stds, attributes


def encoding_seconds(path: Path) -> float | None:
    """How long the encoding cached at `path` took when it ran (None for a cache saved without it)."""
    return torch.load(path, weights_only=True, mmap=True).get("seconds")


def train_text_to_image(
    vae: AutoencoderKL,
    tokenizer,
    out="runs/unet",
    steps: int = 3000,
    batch_size: int = 128,
    lr: float = 1e-3,
    num_images: int = 20000,
    p_position: float = P_POSITION_WORD,
    caption_dropout: float = 0.1,
    seed: int = 0,
    save_every: int = 250,
    weighting: str = "truncated_snr",
):
    loss_weight(torch.ones(1), weighting)  # refuses an unknown weighting before any work
    seed_everything(seed)
    means, stds, attributes = cached_dataset(vae, num_images, seed, Path(out) / "latents.pt")
    scaling = vae.config.scaling_factor
    unet = UNet2DConditionModel(**UNET_CONFIG)
    text_encoder = transformers.CLIPTextModel(text_encoder_config(tokenizer))
    alpha_bar = DDPMScheduler.from_config(SCHEDULER_CONFIG).alphas_cumprod
    params = [*unet.parameters(), *text_encoder.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    models = {"unet": unet, "text_encoder": text_encoder}
    checkpoint = Checkpoint(out)
    start, log = checkpoint.load(models, optimizer)
    clock = Stopwatch(log[-1]["seconds"] if log else 0.0)
    rng = torch.Generator().manual_seed(seed + start)  # resuming continues with fresh (still seeded) draws
    bar = progress(steps, start, "unet+text")
    running = None
    for step in range(start, steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, warmup=100)
        index = torch.randint(0, num_images, (batch_size,), generator=rng)
        z0 = (means[index] + stds[index] * torch.randn(means[index].shape, generator=rng)) * scaling  # (B, 4, 8, 8)
        captions = [shapes.caption_for(attributes[i], rng, p_position=p_position) for i in index.tolist()]
        captions = ["" if u < caption_dropout else c for u, c in zip(torch.rand(batch_size, generator=rng), captions)]
        ids = tokenizer(
            captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
        ).input_ids  # (B, 77)
        t = torch.randint(0, len(alpha_bar), (batch_size,), generator=rng)
        eps = torch.randn(z0.shape, generator=rng)
        z_t = noise.add_noise(z0, eps, t, alpha_bar)
        prediction = unet(z_t, t, encoder_hidden_states=text_encoder(ids)[0]).sample
        loss = (loss_weight(alpha_bar[t], weighting)[:, None, None, None] * (prediction - eps) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}", refresh=False)
        if (step + 1) % save_every == 0 or step + 1 == steps:
            log.append({"step": step + 1, "loss_ema": running, "seconds": clock.seconds})
            checkpoint.save(step + 1, models, optimizer, log)
    bar.close()
    return unet.eval(), text_encoder.eval(), log
