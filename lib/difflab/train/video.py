"""Train the moving-shapes video model, Wan 2.1 style: a causal video VAE, then UMT5 and the transformer together.

Stage 1, the VAE: clips (B, 3, 17, 64, 64) → latents (B, z_dim, 5, 8, 8) → clips. Loss: MSE of the decoded
posterior sample plus a very small KL (as train/vae.py; Wan's VAE adds perceptual and GAN losses we do without).
With PyTorch's default initialisation the Wan VAE stays at ~19 dB, drawing the background and no shape (measured:
step 250 of a first run, 18.99 dB). What makes it train (wan_vae_init, and the stage order):
    - every causal 3×3×3 conv starts as a 2-D conv of the current frame (past-frame taps zero), so at first the
      network is a per-frame image autoencoder and learns time only as far as the loss asks for it;
    - the second conv of each residual block starts at zero (each block starts as the identity);
    - the temporal resamplers start as keep-the-later-frame (down) and repeat-the-frame (up);
    - the posterior's log-variance starts at -6 (nearly deterministic latents) and the KL weight is 1e-6 against
      the reconstruction error summed over the clip's values: strong enough to keep the latents bounded, too weak
      to collapse them;
    - the first `frame_steps` steps train on single frames (the causal encoder treats frame 0 as an image), then
      clips, as two runs: each stage has its own warm-up and cosine decay, and AdamW's state is cleared between
      them. Without that, the past-frame taps (zero gradient on single frames, so AdamW's second moment is 0)
      take steps of about 3·lr at once when clips start, and a run measured at 22.0 dB after its frames fell to
      19.2 dB 250 clip steps later.
The clip stage needs its 4,000 steps: colours are learnt a few at a time, and late (tools/video_vae_colour.py
measures this; one run, resumed twice under longer recipes (the model card has its history); held-out PSNR on
64 clips, the shapes judge on 100 reconstructed clips):
    clip steps   PSNR      judged colour   shape colour off by (RMS, R / G / B, in [-1, 1])
       500      25.5 dB        43%         red and yellow decode as orange, cyan as blue
     2,000      28.5 dB        78%         0.26 / 0.31 / 0.27: green and purple decode as greys
     4,000      31.0 dB       100%         0.11 / 0.10 / 0.11, as shapes-sd's image VAE (0.11 / 0.14 / 0.12)
A VAE that has not learnt a colour caps the video model: no transformer trained on its latents can draw it.
More shapes a step did not help: one frame each of 24 clips per frame step reached 19.8 dB on frame 0 after 500
steps, against 25.6 dB for all five frames of 8 clips.

Stage 2, flow matching on the VAE's latents, normalised per channel z0 = (z - latents_mean) / latents_std:

    σ ~ shift(U(0, 1)),  ε ~ N(0, I)          shift(u) = s·u / (1 + (s-1)·u), s = the scheduler's flow_shift
    z_σ = (1 - σ)·z0 + σ·ε                     the straight path from data (σ = 0) to noise (σ = 1)
    loss = ‖v̂(z_σ, 1000·σ, text) - (ε - z0)‖²  the velocity UniPC's flow mode integrates

σ is drawn as the sampler visits it: UniPC spaces its steps evenly in u and shifts them with flow_shift = 3, so
drawing u uniformly and shifting it the same way gives every sampling step the same share of training (SD3's
logit-normal would weigh the middle σ more than the sampler does). UniPC feeds the model int(1000·σ); training
feeds 1000·σ unrounded, less than one timestep apart.
10% of the captions are dropped to "" so the same model learns the unconditional velocity guidance needs.
"""

import math
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
import transformers
from einops import rearrange
from safetensors.torch import load_file

from ..data import moving_shapes
from ..models import AutoencoderKLWan, WanTransformer3DModel
from ..models.wan_vae.blocks import Resample, ResidualBlock
from ..models.wan_vae.causal_conv import CausalConv3d
from ..schedulers.flow_match import shift_sigmas
from .common import Checkpoint, Stopwatch, cosine_lr, progress, seed_everything
from .text_to_image import cached_dataset
from .vae import psnr

VIDEO_VAE_CONFIG = dict(
    base_dim=16,
    z_dim=16,  # as Wan 2.1: each latent value stands for 4·8·8·3 / 16 = 48 pixel values, as SD's 4×8×8 for 64×64×3
    dim_mult=(1, 2, 4, 4),  # widths 16, 32, 64, 64; 3 levels that halve H and W: 64 → 8 pixels per side
    num_res_blocks=1,
    temperal_downsample=(False, True, True),  # the last two also halve time: 1 + 16 frames → 1 + 4
    latents_mean=(0.0,) * 16,  # placeholders until measured on encoded clips (latent_statistics)
    latents_std=(1.0,) * 16,
)
TRANSFORMER_CONFIG = dict(
    patch_size=(1, 2, 2),  # latents (16, 5, 8, 8) → 5·4·4 = 80 tokens
    num_attention_heads=6,
    attention_head_dim=32,  # diffusers' name for the per-head width: D = 6·32 = 192
    in_channels=VIDEO_VAE_CONFIG["z_dim"],
    out_channels=VIDEO_VAE_CONFIG["z_dim"],
    text_dim=64,  # UMT5's d_model
    freq_dim=256,
    ffn_dim=384,  # 2·D: with the VAE this keeps the folder under 20 MB (2,170,624 parameters in all)
    num_layers=4,
    cross_attn_norm=True,
    rope_max_seq_len=64,
)
FLOW_SHIFT = 3.0  # Wan2.1's UniPC flow_shift (configs/wan2.1-t2v-1.3b/scheduler)
MAX_SEQUENCE_LENGTH = 512  # the pipeline's: the transformer always sees 512 text positions, zero past the prompt


def umt5_config(tokenizer, d_model: int = TRANSFORMER_CONFIG["text_dim"]) -> transformers.UMT5Config:
    """A two-layer UMT5 encoder, width 64, over the tokenizer's vocabulary (pad 0, </s> 1 as T5)."""
    return transformers.UMT5Config(
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_kv=d_model // 4,
        d_ff=4 * d_model,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=32,
        dropout_rate=0.0,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )


@torch.no_grad()
def evaluate_video_vae(vae: AutoencoderKLWan, n: int = 64, seed: int = 1, chunk: int = 16, frames: int = 17) -> dict:
    """Held-out (test-split) PSNR of mode reconstructions, mean over clips: over all frames, and over frame 0
    alone (which the causal encoder encodes on its own, like an image)."""
    vae.eval()
    whole, first = [], []
    for start in range(0, n, chunk):
        indices = range(start, min(n, start + chunk))
        clips = moving_shapes.batch(indices, seed=seed, split="test", frames=frames)["video"]  # (b, 3, F, 64, 64)
        reconstruction = vae.decode(vae.encode(clips).latent_dist.mode()).sample
        whole.append(psnr(reconstruction, clips))  # (b,)
        first.append(psnr(reconstruction[:, :, 0], clips[:, :, 0]))
    vae.train()
    return {"psnr_db": torch.cat(whole).mean().item(), "first_frame_psnr_db": torch.cat(first).mean().item()}


@torch.no_grad()
def wan_vae_init(vae: AutoencoderKLWan, logvar_bias: float = -6.0) -> AutoencoderKLWan:
    """Start the VAE as a per-frame image autoencoder whose blocks are identities (module docstring)."""
    z_dim = vae.config.z_dim
    for module in vae.modules():
        if isinstance(module, Resample) and hasattr(module, "time_conv"):
            weight = module.time_conv.weight  # (C_out, C, 3, 1, 1); taps: two frames back, one back, current
            weight.zero_()
            module.time_conv.bias.zero_()
            eye = torch.eye(weight.shape[1])[..., None, None]  # (C, C, 1, 1)
            for copy in range(weight.shape[0] // weight.shape[1]):  # down: 1 copy (keep); up: 2 (repeat)
                weight[copy * len(eye) : (copy + 1) * len(eye), :, 2] = eye
        elif isinstance(module, CausalConv3d) and module.kernel_size == (3, 3, 3):  # not the resamplers' (3, 1, 1)
            current = torch.empty_like(module.weight[:, :, 2])  # (C_out, C_in, 3, 3), a Conv2d's weight
            torch.nn.init.kaiming_uniform_(current, a=5**0.5)  # nn.Conv2d's default, fan-in C_in·3·3
            module.weight.zero_()
            module.weight[:, :, 2] = current
    for module in vae.modules():  # after the loop above, which would re-initialise these convs
        if isinstance(module, ResidualBlock):
            module.conv2.weight.zero_()
            module.conv2.bias.zero_()
    vae.quant_conv.bias[z_dim:] = logvar_bias  # moments are [mean | logvar]
    return vae


def single_frames(clips: torch.Tensor) -> torch.Tensor:
    """(B, 3, F, H, W) → (B·F, 3, 1, H, W): every frame a one-frame clip, an image to the causal VAE."""
    return rearrange(clips, "b c f h w -> (b f) c 1 h w")


def vae_run(out, vae, optimizer, steps, name, save_every, eval_clips, frames) -> tuple[int, SimpleNamespace]:
    """A resumable VAE run in `out`: (the step to start at, what vae_step needs to log and save)."""
    checkpoint = Checkpoint(out)
    start, log = checkpoint.load({"vae": vae}, optimizer)
    clock = Stopwatch(log[-1]["seconds"] if log else 0.0)
    run = SimpleNamespace(checkpoint=checkpoint, log=log, clock=clock, bar=progress(steps, start, name), steps=steps,
                          save_every=save_every, eval_clips=eval_clips, frames=frames)  # fmt: skip
    return start, run


def vae_step(vae, optimizer, loss, step: int, run: SimpleNamespace):
    """One optimizer step; every save_every steps (and at the last) the held-out PSNR is logged and all saved."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    run.bar.update(1)
    run.bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    if (step + 1) % run.save_every == 0 or step + 1 == run.steps:
        held_out = evaluate_video_vae(vae, n=run.eval_clips, frames=run.frames)
        run.log.append({"step": step + 1, "loss": loss.item(), **held_out, "seconds": run.clock.seconds})
        run.checkpoint.save(step + 1, {"vae": vae}, optimizer, run.log)
        run.bar.write(f"step {step + 1}: loss {loss.item():.5f}, held-out PSNR {held_out['psnr_db']:.2f} dB")


def train_video_vae(
    out="runs/video-vae",
    steps: int = 4500,
    batch_size: int = 4,
    lr: float = 1e-3,
    kl_weight: float = 1e-6,
    seed: int = 0,
    save_every: int = 250,
    config: dict = VIDEO_VAE_CONFIG,
    frames: int = moving_shapes.FRAMES,
    eval_clips: int = 64,
    frame_steps: int = 500,
    frame_batch_size: int = 8,
) -> tuple[AutoencoderKLWan, list]:
    """`frame_steps` steps on the frames of `frame_batch_size` 5-frame clips (40 images), then `steps - frame_steps`
    on clips of `batch_size`."""
    seed_everything(seed)
    vae = wan_vae_init(AutoencoderKLWan(**config))
    optimizer = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    start, run = vae_run(out, vae, optimizer, steps, "video vae", save_every, eval_clips, frames)
    for step in range(start, steps):
        if step == frame_steps:  # clips: the past-frame taps get their first gradients (module docstring)
            optimizer.state.clear()
        stage_step, stage_steps = (
            (step, frame_steps) if step < frame_steps else (step - frame_steps, steps - frame_steps)
        )
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(stage_step, stage_steps, lr)  # each stage its own warm-up and decay
        if step < frame_steps:  # images first: 5-frame clips cut into frames (fresh clips every step)
            indices = range(step * frame_batch_size, (step + 1) * frame_batch_size)
            clips = single_frames(moving_shapes.batch(indices, seed=seed + 1, frames=5)["video"])  # (8·5, 3, 1, …)
        else:  # each clip seen once: a fresh one every step
            indices = range(step * batch_size, (step + 1) * batch_size)
            clips = moving_shapes.batch(indices, seed=seed, frames=frames)["video"]  # (B, 3, F, 64, 64)
        posterior = vae.encode(clips).latent_dist  # mean and log-variance, (B, z_dim, 1 + (F-1)/4, 8, 8)
        reconstruction = vae.decode(posterior.sample()).sample
        values = clips[0].numel()  # KL weighed against the error summed over one clip's values, not averaged
        loss = F.mse_loss(reconstruction, clips) + kl_weight * posterior.kl().mean() / values
        vae_step(vae, optimizer, loss, step, run)
    run.bar.close()
    return vae.eval(), run.log


def train_video_decoder(
    vae_folder="runs/video-vae",
    out="runs/video-decoder",
    steps: int = 1000,
    batch_size: int = 4,
    lr: float = 5e-4,
    seed: int = 0,
    save_every: int = 250,
    config: dict = VIDEO_VAE_CONFIG,
    frames: int = moving_shapes.FRAMES,
    eval_clips: int = 64,
) -> tuple[AutoencoderKLWan, list]:
    """Stage 3: the decoder alone, from posterior samples of the frozen encoder (as Stable Diffusion's ft-MSE VAE
    decoders were made). The latents stay exactly those the transformer learnt from; what they decode to gets
    sharper. Clips are drawn from their own seed, so the decoder sees clips stage 1 did not."""
    seed_everything(seed)
    vae = AutoencoderKLWan(**config)
    vae.load_state_dict(load_file(str(Path(vae_folder) / "vae.safetensors")))
    vae.encoder.requires_grad_(False)
    vae.quant_conv.requires_grad_(False)
    decoder = [*vae.decoder.parameters(), *vae.post_quant_conv.parameters()]
    optimizer = torch.optim.AdamW(decoder, lr=lr, weight_decay=0.0)
    start, run = vae_run(out, vae, optimizer, steps, "video decoder", save_every, eval_clips, frames)
    for step in range(start, steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, lr)
        indices = range(step * batch_size, (step + 1) * batch_size)
        clips = moving_shapes.batch(indices, seed=seed + 2, frames=frames)["video"]  # (B, 3, F, 64, 64)
        with torch.no_grad():
            z = vae.encode(clips).latent_dist.sample()  # the frozen encoder's latents, as the transformer saw them
        loss = F.mse_loss(vae.decode(z).sample, clips)
        vae_step(vae, optimizer, loss, step, run)
    run.bar.close()
    return vae.eval(), run.log


def cached_clips(vae: AutoencoderKLWan, n: int, seed: int, path: Path, frames: int = moving_shapes.FRAMES):
    """The posterior mean and std of n training clips, (n, z_dim, 1 + (F-1)/4, 8, 8) each, plus their attributes,
    cached at `path` (the image trainer's cached_dataset, given clips instead of pictures)."""
    clips = partial(moving_shapes.batch, frames=frames)
    return cached_dataset(vae, n, seed, path, chunk=32, batch=clips, key="video")


def latent_statistics(means: torch.Tensor, stds: torch.Tensor, seed: int = 2) -> tuple[list, list]:
    """Per-channel mean and std of posterior samples (the VAE config's latents_mean / latents_std)."""
    draws = torch.Generator().manual_seed(seed)  # seeded, so the statistics are reproducible
    z = means + stds * torch.randn(means.shape, generator=draws)  # (n, C, f, h, w)
    per_channel = z.transpose(0, 1).flatten(1)  # (C, n·f·h·w)
    return [round(v, 5) for v in per_channel.mean(1).tolist()], [round(v, 5) for v in per_channel.std(1).tolist()]


def encode_text(tokenizer, text_encoder, captions: list[str], max_sequence_length: int = MAX_SEQUENCE_LENGTH):
    """What the pipeline's encode_prompt gives, UMT5 states (B, 512, d_model) exactly zero past each caption's
    </s>, in a short form: (B, L + 1, d_model) and log counts (L + 1,), the last zero row standing for the
    512 - L zero rows (WanTransformer3DModel.forward, text_log_counts). The encoder runs on the longest caption
    only (L ≈ 7 tokens): masked padding changes nothing before it."""
    tokens = tokenizer(captions, padding="longest", add_special_tokens=True, return_tensors="pt")
    hidden = text_encoder(tokens.input_ids, tokens.attention_mask).last_hidden_state  # (B, L, D)
    hidden = hidden * tokens.attention_mask[..., None]  # zeros past each caption
    length = hidden.shape[1]
    log_counts = torch.zeros(length + 1)
    log_counts[-1] = math.log(max_sequence_length - length)
    return F.pad(hidden, (0, 0, 0, 1)), log_counts  # (B, L + 1, D), (L + 1,)


def sample_sigmas(n: int, generator: torch.Generator, shift: float = FLOW_SHIFT) -> torch.Tensor:
    """σ = shift(u), u ~ U(0, 1): the density of UniPC's shifted, evenly spaced steps (module docstring)."""
    return shift_sigmas(torch.rand(n, generator=generator), shift)


def train_video(
    vae: AutoencoderKLWan,
    tokenizer,
    out="runs/video",
    steps: int = 8000,
    batch_size: int = 32,
    lr: float = 5e-4,
    num_clips: int = 3000,
    caption_dropout: float = 0.1,
    seed: int = 0,
    save_every: int = 250,
    transformer_config: dict = TRANSFORMER_CONFIG,
    frames: int = moving_shapes.FRAMES,
):
    """UMT5 and the transformer, trained together on cached latents of `num_clips` training clips.

    `vae` must carry its latents_mean / latents_std (see latent_statistics) in its config."""
    seed_everything(seed)
    means, stds, attributes = cached_clips(vae, num_clips, seed, Path(out) / "latents.pt", frames)
    z_dim = vae.config.z_dim
    latents_mean = torch.tensor(vae.config.latents_mean).view(1, z_dim, 1, 1, 1)
    latents_std = torch.tensor(vae.config.latents_std).view(1, z_dim, 1, 1, 1)
    transformer = WanTransformer3DModel(**{**transformer_config, "in_channels": z_dim, "out_channels": z_dim})
    text_encoder = transformers.UMT5EncoderModel(umt5_config(tokenizer, transformer_config["text_dim"]))
    params = [*transformer.parameters(), *text_encoder.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    # UMT5's `shared` embedding IS its encoder's embed_tokens (safetensors refuses to save one tensor twice):
    # the encoder stack holds every weight of the model exactly once, so it is what the checkpoint saves.
    models = {"transformer": transformer, "text_encoder": text_encoder.encoder}
    checkpoint = Checkpoint(out)
    start, log = checkpoint.load(models, optimizer)
    clock = Stopwatch(log[-1]["seconds"] if log else 0.0)
    rng = torch.Generator().manual_seed(seed + start)  # resuming continues with fresh (still seeded) draws
    bar = progress(steps, start, "transformer+umt5")
    running = None
    for step in range(start, steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, warmup=100)
        index = torch.randint(0, len(means), (batch_size,), generator=rng)
        z = means[index] + stds[index] * torch.randn(means[index].shape, generator=rng)  # a posterior sample
        z0 = (z - latents_mean) / latents_std  # (B, z_dim, 5, 8, 8), about unit variance per channel
        captions = [moving_shapes.caption_for(attributes[i], rng) for i in index.tolist()]
        captions = ["" if u < caption_dropout else c for u, c in zip(torch.rand(batch_size, generator=rng), captions)]
        sigma = sample_sigmas(batch_size, rng)  # (B,)
        eps = torch.randn(z0.shape, generator=rng)
        s = sigma.view(-1, 1, 1, 1, 1)
        z_sigma = (1 - s) * z0 + s * eps  # x_σ = (1-σ)·x0 + σ·ε
        context, log_counts = encode_text(tokenizer, text_encoder, captions)  # (B, L + 1, 64): 512 rows' worth
        velocity = transformer(z_sigma, sigma * 1000, encoder_hidden_states=context, text_log_counts=log_counts).sample
        loss = F.mse_loss(velocity, eps - z0)  # v = dx_σ/dσ = ε - x0
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
    return transformer.eval(), text_encoder.eval(), log
