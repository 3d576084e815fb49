"""How well a video VAE keeps the shapes' colours: the figures quoted in difflab/train/video.py's docstring.

    .venv/bin/python tools/video_vae_colour.py                                      # the shipped shapes-video VAE
    .venv/bin/python tools/video_vae_colour.py runs/video-vae/vae.safetensors      # a training checkpoint

1. The video judge on the VAE's reconstructions of 100 held-out clips: the ceiling any transformer trained on
   its latents can reach (real clips score 1.0 on every measure).
2. The shape's mean colour in frame 0, decoded against true: RMS error per R, G, B, in [-1, 1] units.
3. A linear probe: from latent frame 0, averaged over the cells the shape covers, predict the shape's mean R, G
   and B by least squares on 180 clips; R² on 60 others. A low R² says no straight-line read-out, not that the
   colour is gone: shapes-sd's image VAE scores 0.84 / 0.14 / 0.81 too, yet decodes green (RMS error 0.14).
"""

import argparse

import torch
from safetensors.torch import load_file

import difflab
from difflab.data import moving_shapes
from difflab.eval import temporal_consistency, video_adherence
from difflab.models import AutoencoderKLWan
from difflab.train.video import VIDEO_VAE_CONFIG


def load_vae(path: str | None) -> AutoencoderKLWan:
    if path is None:
        return difflab.load_pipeline("shapes-video", device="cpu").vae
    vae = AutoencoderKLWan(**VIDEO_VAE_CONFIG)
    vae.load_state_dict(load_file(path))
    return vae.eval()


@torch.no_grad()
def judged_reconstructions(vae: AutoencoderKLWan, n: int = 100) -> tuple[dict, dict]:
    data = moving_shapes.batch(range(n), seed=1, split="test")
    clips = data["video"]  # (n, 3, 17, 64, 64) in [-1, 1]
    rebuilt = torch.cat([vae.decode(vae.encode(c).latent_dist.mode()).sample for c in clips.split(10)])
    in_01 = (rebuilt.clamp(-1, 1) + 1) / 2
    judge = difflab.load_judge()
    return video_adherence(in_01, data["caption"], judge), temporal_consistency(in_01, judge)


@torch.no_grad()
def colour_probe(vae: AutoencoderKLWan, n: int = 240, train: int = 180) -> tuple[list[float], list[float]]:
    """(decoded shape-colour RMS error per channel, linear-probe R² per channel) on frame 0 of n test clips."""
    data = moving_shapes.batch(range(n), seed=1, split="test", frames=5)
    clips, mask = data["video"], data["mask"][:, 0, 0].float()  # (n, 3, 5, 64, 64), frame 0's mask (n, 64, 64)
    latents = torch.cat([vae.encode(c).latent_dist.mode() for c in clips.split(40)])  # (n, 16, 2, 8, 8)
    decoded = torch.cat([vae.decode(z).sample[:, :, 0] for z in latents.split(40)])  # (n, 3, 64, 64)
    z = latents[:, :, 0]  # (n, 16, 8, 8)
    colour = (clips[:, :, 0] * mask[:, None]).sum((2, 3)) / mask.sum((1, 2))[:, None]  # (n, 3) mean RGB
    colour_error = ((decoded * mask[:, None]).sum((2, 3)) / mask.sum((1, 2))[:, None] - colour).pow(2).mean(0).sqrt()
    cover = torch.nn.functional.avg_pool2d(mask[:, None], 8)[:, 0]  # (n, 8, 8): share of each cell the shape covers
    features = (z * cover[:, None]).sum((2, 3)) / cover.sum((1, 2))[:, None]  # (n, 16)
    features = torch.cat([features, torch.ones(n, 1)], dim=1)
    fit = torch.linalg.lstsq(features[:train], colour[:train]).solution  # (17, 3)
    predicted, truth = features[train:] @ fit, colour[train:]
    r2 = 1 - (predicted - truth).pow(2).sum(0) / (truth - truth.mean(0)).pow(2).sum(0)
    return colour_error.tolist(), r2.tolist()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?", help="a vae.safetensors (default: the shipped shapes-video VAE)")
    vae = load_vae(parser.parse_args().weights)
    adherence, consistency = judged_reconstructions(vae)
    print("judge on reconstructions, adherence:", {k: round(v, 3) for k, v in adherence.items()})
    print("judge on reconstructions, temporal consistency:", {k: round(v, 3) for k, v in consistency.items()})
    error, r2 = colour_probe(vae)
    print("decoded shape colour, RMS error (R, G, B):", [round(e, 3) for e in error])
    print("linear probe R² (R, G, B):", [round(r, 2) for r in r2])
