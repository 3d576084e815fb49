"""How well a video VAE keeps the shapes' colours: the figures quoted in difflab/train/video.py's docstring.

    .venv/bin/python tools/video_vae_colour.py                                      # the shipped shapes-video VAE
    .venv/bin/python tools/video_vae_colour.py runs/video-vae/vae.safetensors      # a training checkpoint
    .venv/bin/python tools/video_vae_colour.py --shapes-sd     # part 2 for shapes-sd's image VAE, the reference

1. The video judge on the VAE's reconstructions of 100 held-out clips: the ceiling any transformer trained on
   its latents can reach (real clips score 1.0 on every measure).
2. The shape's mean colour in frame 0 of 240 held-out clips, decoded against true, in [-1, 1] units: the RMS error
   per R, G, B over all clips, then per colour name with the mean true and decoded colour. This says which colours
   the VAE has not learnt: the shipped one decodes green and purple as greys (RMS about 0.55 and 0.35 a channel),
   the other five within 0.3. shapes-sd's image VAE, on the same frames, is off by 0.11 / 0.14 / 0.12 overall.
"""

import argparse
from collections.abc import Callable

import torch
from safetensors.torch import load_file

import difflab
from difflab.data import moving_shapes, shapes
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


def first_frames_through(vae) -> Callable[[torch.Tensor], torch.Tensor]:
    """clips (b, 3, F, 64, 64) → their frame 0 (b, 3, 64, 64) as `vae` reconstructs it: a video VAE codes the clip
    (frame 0 on its own, causally), an image VAE the frame."""
    if isinstance(vae, AutoencoderKLWan):
        return lambda clips: vae.decode(vae.encode(clips).latent_dist.mode()).sample[:, :, 0]
    return lambda clips: vae.decode(vae.encode(clips[:, :, 0]).latent_dist.mode()).sample


@torch.no_grad()
def decoded_colours(vae, n: int = 240) -> tuple[torch.Tensor, dict]:
    """(RMS error per channel over all n clips, {colour name: (n, RMS error, mean true RGB, mean decoded RGB)})."""
    data = moving_shapes.batch(range(n), seed=1, split="test", frames=5)
    clips, mask = data["video"], data["mask"][:, 0, 0].float()  # (n, 3, 5, 64, 64), frame 0's mask (n, 64, 64)
    decoded = torch.cat([first_frames_through(vae)(c) for c in clips.split(40)])
    area = mask.sum((1, 2))[:, None]
    true = (clips[:, :, 0] * mask[:, None]).sum((2, 3)) / area  # (n, 3): the shape's mean RGB
    got = (decoded * mask[:, None]).sum((2, 3)) / area
    per_colour = {}
    for name in shapes.COLORS:
        mine = torch.tensor([a["color"] == name for a in data["attributes"]])
        error = (got[mine] - true[mine]).pow(2).mean(0).sqrt()
        per_colour[name] = (int(mine.sum()), error.tolist(), true[mine].mean(0).tolist(), got[mine].mean(0).tolist())
    return (got - true).pow(2).mean(0).sqrt(), per_colour


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?", help="a vae.safetensors (default: the shipped shapes-video VAE)")
    parser.add_argument("--shapes-sd", action="store_true", help="shapes-sd's image VAE instead: part 2 only")
    args = parser.parse_args()
    if args.shapes_sd and args.weights:
        parser.error(f"weights: got {args.weights!r} with --shapes-sd, which measures the shipped image VAE; give one")
    if args.shapes_sd:
        vae = difflab.load_pipeline("shapes-sd", device="cpu").vae
    else:
        vae = load_vae(args.weights)
        adherence, consistency = judged_reconstructions(vae)
        print("judge on reconstructions, adherence:", {k: round(v, 3) for k, v in adherence.items()})
        print("judge on reconstructions, temporal consistency:", {k: round(v, 3) for k, v in consistency.items()})
    error, per_colour = decoded_colours(vae)
    print("decoded shape colour, frame 0, RMS error (R, G, B):", [round(e, 3) for e in error.tolist()])
    for name, (count, error, true, got) in per_colour.items():
        rounded = [[round(v, 2) for v in values] for values in (error, true, got)]
        print(f"  {name:7s} {count:3d} clips  RMS {rounded[0]}  true {rounded[1]}  decoded {rounded[2]}")
