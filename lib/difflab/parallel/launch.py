"""A torchrun job: the shapes-video transformer on one process and split across all of them, compared.

    torchrun --standalone --nproc_per_node 2 -m difflab.parallel.launch              # gloo on CPUs
    torchrun --standalone --nproc_per_node 2 -m difflab.parallel.launch --steps 4    # and a whole generation
    torchrun --standalone --nproc_per_node 2 -m difflab.parallel.launch --backend nccl   # one GPU per rank

Every rank builds the same model and the same inputs (same seeds), computes the single-process answer itself,
then the same call with the tokens split, Ulysses and then ring. Rank 0 prints one JSON object: per scheme, the
largest difference from one process, the bytes this rank sent per forward (measured, by collective) beside
communication_bytes' formula, and the seconds. With --steps, the whole pipeline runs too: video vs video, and
the bytes per denoising step (two transformer calls under guidance).
"""

import argparse
import json
import os
import time

import torch
import torch.distributed as dist

from ..models.wan import WanTransformer3DModel
from ..pretrained import load_pipeline, weights_folder
from .context import ContextParallelConfig, communication_bytes, disable_parallelism, enable_parallelism

SCHEMES = ("ulysses", "ring")


def seeded_inputs(transformer, batch: int, frames: int, size: int, text_tokens: int = 8):
    """Latents (B, C, F', size, size), timesteps (B,) and text states (B, L, text_dim), the same on every rank."""
    g = torch.Generator().manual_seed(0)
    c = transformer.config
    latents = torch.randn(batch, c.in_channels, frames, size, size, generator=g)
    timestep = torch.tensor([500.0] * batch)
    text = torch.randn(batch, text_tokens, c.text_dim, generator=g)
    return latents, timestep, text


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def forward_bytes(transformer, scheme: str, world: int, latents_shape, element_size: int = 4) -> dict:
    """communication_bytes for one forward of `transformer` on latents of `latents_shape` (B, C, F, H, W)."""
    c = transformer.config
    b, _, f, h, w = latents_shape
    p_t, p_h, p_w = c.patch_size
    return communication_bytes(
        scheme,
        world,
        batch=b,
        tokens=(f // p_t) * (h // p_h) * (w // p_w),
        dim=c.num_attention_heads * c.attention_head_dim,
        layers=c.num_layers,
        out_values=c.out_channels * p_t * p_h * p_w,
        element_size=element_size,
    )


def compare_forward(transformer, scheme: str, inputs, world: int) -> dict:
    """One forward split across the ranks vs the same forward on this process alone."""
    latents, timestep, text = inputs
    with torch.no_grad():
        alone, seconds_alone = timed(lambda: transformer(latents, timestep, text).sample)
        cp = enable_parallelism(transformer, ContextParallelConfig(**{f"{scheme}_degree": world}))
        try:
            split, seconds = timed(lambda: transformer(latents, timestep, text).sample)
        finally:
            disable_parallelism(transformer)
    formula = forward_bytes(transformer, scheme, world, latents.shape, latents.element_size())
    return {
        "max_abs_diff": (split - alone).abs().max().item(),
        "sent_bytes": dict(cp.log.sent),
        "formula_bytes": formula,
        "calls": dict(cp.log.calls),
        "seconds": seconds,
        "seconds_one_process": seconds_alone,
    }


def compare_pipeline(pipe, scheme: str, world: int, steps: int, frames: int) -> dict:
    """A whole generation with the transformer split vs on this process alone: the videos and the bytes per step."""
    kwargs = dict(height=64, width=64, num_frames=frames, num_inference_steps=steps, output_type="pt")
    alone = pipe("a red circle moving right", generator=torch.Generator().manual_seed(0), **kwargs)
    cp = enable_parallelism(pipe.transformer, ContextParallelConfig(**{f"{scheme}_degree": world}))
    try:
        split = pipe("a red circle moving right", generator=torch.Generator().manual_seed(0), **kwargs)
    finally:
        disable_parallelism(pipe.transformer)
    latent_frames = 1 + (frames - 1) // pipe.vae_scale_factor_temporal
    side = 64 // pipe.vae_scale_factor_spatial
    latents = (1, pipe.transformer.config.in_channels, latent_frames, side, side)
    per_call = sum(forward_bytes(pipe.transformer, scheme, world, latents).values())
    return {
        "video_max_abs_diff": (split - alone).abs().max().item(),
        "sent_bytes_per_step": cp.log.total / steps,
        "formula_bytes_per_step": 2 * per_call,  # two transformer calls a step under guidance (the default 5.0)
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemes", nargs="+", default=list(SCHEMES), choices=SCHEMES)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=5, help="latent frames of the forward check")
    parser.add_argument("--size", type=int, default=8, help="latent height and width of the forward check")
    parser.add_argument("--steps", type=int, default=0, help="also generate a video with this many steps")
    parser.add_argument("--video-frames", type=int, default=9)
    parser.add_argument("--backend", default="gloo", choices=("gloo", "nccl"), help="nccl: one GPU per rank")
    args = parser.parse_args(argv)
    if args.backend == "nccl" and not torch.cuda.is_available():
        parser.error("--backend: got nccl, but this machine has no CUDA device; NCCL moves GPU tensors only. Use gloo.")

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    device = torch.device("cpu")
    if args.backend == "nccl":  # nccl moves GPU tensors only: each rank computes on its own GPU
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    dist.init_process_group(args.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    folder = weights_folder("shapes-video")
    transformer = WanTransformer3DModel.from_pretrained(folder, subfolder="transformer").eval().to(device)
    pipe = load_pipeline("shapes-video", device=device) if args.steps else None  # UMT5 and the VAE too: slower
    inputs = tuple(t.to(device) for t in seeded_inputs(transformer, args.batch, args.frames, args.size))
    report = {"world_size": world, "backend": dist.get_backend(), "latents": list(inputs[0].shape)}
    for scheme in args.schemes:
        report[scheme] = compare_forward(transformer, scheme, inputs, world)
        if args.steps:
            report[scheme].update(compare_pipeline(pipe, scheme, world, args.steps, args.video_frames))
    if rank == 0:
        print(json.dumps(report), flush=True)
    dist.barrier()  # no rank tears its connections down while another still uses them
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
