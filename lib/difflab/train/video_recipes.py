"""The recipes that make shapes-video, each writing a model card beside what it trained.

difflab train video-vae → runs/video-vae   (checkpoints; resumable)
difflab train video-decoder → runs/video-decoder (the decoder fine-tuned, encoder frozen; resumable)
difflab train video     → runs/video (UMT5 + transformer; resumable), then lib/difflab/weights/shapes-video:
                          a WanPipeline folder (tokenizer, text_encoder, transformer, vae, scheduler) with its card
"""

import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from .. import schedulers
from ..data import moving_shapes
from ..eval import temporal_consistency, video_adherence
from ..models import AutoencoderKLWan
from ..pipelines import TextToVideoPipeline
from ..pretrained import WEIGHTS, load_judge
from ..text.t5_tokenizer import build_t5_tokenizer
from .recipes import machine, write_card
from .text_to_image import encoding_seconds
from .video import (
    FLOW_SHIFT,
    TRANSFORMER_CONFIG,
    VIDEO_VAE_CONFIG,
    cached_clips,
    evaluate_video_vae,
    latent_statistics,
    train_video,
    train_video_decoder,
    train_video_vae,
)

SCHEDULER_CONFIG = Path(__file__).parents[1] / "configs/wan2.1-t2v-1.3b/scheduler/scheduler_config.json"
MAX_FOLDER_MB = 20.0


def trained_video_vae(runs: Path, config: dict = VIDEO_VAE_CONFIG, **overrides) -> AutoencoderKLWan:
    """The VAE of runs/video-decoder (stage 3: the same encoder, a fine-tuned decoder) if it exists, else of
    runs/video-vae. Either gives the transformer the same latents."""
    runs = Path(runs)
    folder = runs / "video-decoder" if (runs / "video-decoder" / "vae.safetensors").exists() else runs / "video-vae"
    vae = AutoencoderKLWan(**{**config, **overrides})
    vae.load_state_dict(load_file(str(folder / "vae.safetensors")))
    return vae.eval()


def run_video_vae(runs=Path("runs"), steps: int = 4500, batch_size: int = 4, **kwargs):
    """Train the video VAE into runs/video-vae; kwargs go to train_video_vae (config, frames, save_every, …)."""
    return train_video_vae(out=Path(runs) / "video-vae", steps=steps, batch_size=batch_size, **kwargs)


def run_video_decoder(runs=Path("runs"), steps: int = 1000, batch_size: int = 4, **kwargs):
    """Fine-tune the video VAE's decoder (encoder frozen) into runs/video-decoder; kwargs to train_video_decoder."""
    runs = Path(runs)
    return train_video_decoder(runs / "video-vae", runs / "video-decoder", steps=steps, batch_size=batch_size, **kwargs)


@torch.no_grad()
def first_frame_alone(vae: AutoencoderKLWan, n: int = 4, seed: int = 1) -> float:
    """Largest |Δ| between latent frame 0 of whole clips and of their first frames encoded alone (0: causal)."""
    clips = moving_shapes.batch(n, seed=seed, split="test")["video"]  # (n, 3, 17, 64, 64)
    whole = vae.encode(clips).latent_dist.mean[:, :, 0]
    alone = vae.encode(clips[:, :, :1]).latent_dist.mean[:, :, 0]
    return (whole - alone).abs().max().item()


@torch.no_grad()
def judge_pipeline(pipe, n: int = 200, steps: int = 25, batch_size: int = 25, seed: int = 0, frames: int = 17):
    """The video judge over n held-out (test-split) captions, one clip each, UniPC `steps`, default guidance."""
    judge = load_judge()
    prompts = moving_shapes.batch(n, seed=seed, split="test", frames=frames)["caption"]
    videos = []
    for start in range(0, n, batch_size):
        chunk = prompts[start : start + batch_size]
        generators = [torch.Generator().manual_seed(seed + start + i) for i in range(len(chunk))]
        out = pipe(chunk, height=64, width=64, num_frames=frames, num_inference_steps=steps,
                   generator=generators, output_type="pt")  # fmt: skip
        videos.append(out.transpose(1, 2))  # (b, F, 3, H, W) → (b, 3, F, H, W), in [0, 1]
    videos = torch.cat(videos)
    return {
        "prompts": n,
        "unipc_steps": steps,
        "adherence": video_adherence(videos, prompts, judge),
        "temporal_consistency": temporal_consistency(videos, judge),
    }


def folder_megabytes(folder: Path) -> float:
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) / 1e6


def assemble(vae, tokenizer, text_encoder, transformer) -> TextToVideoPipeline:
    """The shipped pipeline: trained parts plus Wan2.1's UniPC (flow mode, flow_shift 3) as published."""
    config = json.loads(SCHEDULER_CONFIG.read_text())
    scheduler = schedulers.get(config["_class_name"], **config)
    return TextToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder.eval(),
        transformer=transformer.eval(),
        vae=vae.eval(),
        scheduler=scheduler,
    )


def run_video(
    runs=Path("runs"),
    steps: int = 8000,
    batch_size: int = 32,
    lr: float = 5e-4,
    num_clips: int = 3000,  # encoding costs ~0.25 s a clip on 2 cores; each is re-captioned at every visit
    out=WEIGHTS / "shapes-video",
    vae_config: dict = VIDEO_VAE_CONFIG,
    transformer_config: dict = TRANSFORMER_CONFIG,
    frames: int = moving_shapes.FRAMES,
    eval_prompts: int = 200,
    eval_steps: int = 25,
    vae_eval_clips: int = 256,
    save_every: int = 250,
    vae_history: str | None = None,
):
    """Latent statistics → UMT5 + transformer → the WanPipeline folder `out`, judged, with its card
    (`vae_history`: how the VAE run in runs/video-vae came about, when it was not one uninterrupted run)."""
    runs = Path(runs)
    vae = trained_video_vae(runs, vae_config)
    means, stds, _ = cached_clips(vae, num_clips, 0, runs / "video" / "latents.pt", frames)
    encode_seconds = encoding_seconds(runs / "video" / "latents.pt")  # of the run that encoded, if resumed since
    latents_mean, latents_std = latent_statistics(means, stds)
    vae = trained_video_vae(runs, vae_config, latents_mean=latents_mean, latents_std=latents_std)
    tokenizer = build_t5_tokenizer(runs / "tokenizer")
    transformer, text_encoder, log = train_video(
        vae, tokenizer, out=runs / "video", steps=steps, batch_size=batch_size, lr=lr, num_clips=num_clips,
        save_every=save_every, transformer_config=transformer_config, frames=frames,
    )  # fmt: skip
    pipe = assemble(vae, tokenizer, text_encoder, transformer)
    pipe.save_pretrained(out)
    size_mb = folder_megabytes(out)
    if size_mb > MAX_FOLDER_MB:
        print(f"warning: {out} holds {size_mb:.1f} MB, over the {MAX_FOLDER_MB:g} MB the course ships")
    clock = time.perf_counter()
    metrics = judge_pipeline(pipe, n=eval_prompts, steps=eval_steps, frames=frames)
    vae_log = json.loads((runs / "video-vae" / "state.json").read_text())["log"]
    decoder_state = runs / "video-decoder" / "state.json"  # stage 3, when it was run (trained_video_vae uses it)
    decoder_log = json.loads(decoder_state.read_text())["log"] if decoder_state.exists() else None
    write_card(
        out,
        "shapes-video",
        {
            "what": "A Wan 2.1-style text-to-video pipeline for 17-frame 64×64 moving-shapes clips.",
            "commands": ["difflab train video-vae", "difflab train video"],
            "data": f"difflab.data.moving_shapes, generated on the fly (train split, seed 0): the VAE sees a fresh "
            f"clip at every draw; the transformer sees {num_clips} pre-encoded clips re-captioned at every visit, "
            "10% of captions dropped to ''. Judged on test-split captions.",
            "size_mb": round(size_mb, 2),
            "vae": {
                "config": dict(vae.config),
                "parameters": sum(p.numel() for p in vae.parameters()),
                "steps": vae_log[-1]["step"],
                "optimizer": "AdamW lr 1e-3, cosine per stage (frames, then clips; state cleared between), "
                "MSE + 1e-6·KL against the summed error",
                "frame_steps": 500,
                "wall_seconds": round(vae_log[-1]["seconds"]),
                "held_out": {
                    k: round(v, 2) for k, v in evaluate_video_vae(vae, n=vae_eval_clips, frames=frames).items()
                },
                "first_frame_encoded_alone_max_abs_diff": first_frame_alone(vae),
                "latent_statistics_from_clips": num_clips,
                "history": vae_history,
                "decoder_fine_tuning": None
                if decoder_log is None
                else {"steps": decoder_log[-1]["step"], "wall_seconds": round(decoder_log[-1]["seconds"])},
            },
            "transformer_and_text_encoder": {
                "steps": log[-1]["step"],
                "batch_size": batch_size,
                "optimizer": f"AdamW lr {lr:g}, cosine, weight decay 0.01; flow matching, v = ε - z0, "
                f"σ = shift(U(0, 1)) with shift {FLOW_SHIFT:g}, timestep 1000·σ",
                "final_loss_ema": round(log[-1]["loss_ema"], 4),
                "wall_seconds": round(log[-1]["seconds"]),
                "latent_encoding_seconds": encode_seconds and round(encode_seconds),
                "transformer_parameters": sum(p.numel() for p in transformer.parameters()),
                "text_encoder_parameters": sum(p.numel() for p in text_encoder.parameters()),
            },
            "metrics": metrics,
            "metrics_wall_seconds": round(time.perf_counter() - clock),
            "machine": machine(),
        },
    )
    return pipe, metrics
