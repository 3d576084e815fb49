import json

import torch

from difflab.models import AutoencoderKL
from difflab.schedulers import DDPMScheduler
from difflab.text.tokenizer import build_clip_tokenizer
from difflab.train.judge import train_judge
from difflab.train.text_to_image import SCHEDULER_CONFIG, loss_weight, train_text_to_image
from difflab.train.vae import VAE_CONFIG, train_vae


def test_vae_trainer_takes_steps_checkpoints_and_resumes(tmp_path):
    vae = train_vae(out=tmp_path, steps=2, batch_size=2, save_every=1)
    log = json.loads((tmp_path / "state.json").read_text())["log"]
    assert [entry["step"] for entry in log] == [1, 2] and all(entry["psnr_db"] > 0 for entry in log)
    assert isinstance(vae, AutoencoderKL)
    train_vae(out=tmp_path, steps=3, batch_size=2, save_every=1)  # resumes at step 2, runs one more
    assert [e["step"] for e in json.loads((tmp_path / "state.json").read_text())["log"]] == [1, 2, 3]


def test_text_to_image_trainer_changes_the_weights_and_logs_the_loss(tmp_path):
    torch.manual_seed(0)
    vae = AutoencoderKL(**VAE_CONFIG).eval()
    tokenizer = build_clip_tokenizer(tmp_path / "tokenizer")
    unet, text_encoder, log = train_text_to_image(
        vae, tokenizer, out=tmp_path / "run", steps=2, batch_size=4, num_images=8, save_every=1
    )
    assert [e["step"] for e in log] == [1, 2] and all(e["loss_ema"] > 0 for e in log)
    fresh = type(unet)(**dict(unet.config))
    assert any(not torch.equal(a, b) for a, b in zip(unet.state_dict().values(), fresh.state_dict().values()))


def test_loss_weight_lifts_only_the_noisy_timesteps_where_snr_is_below_one():
    alpha_bar = DDPMScheduler.from_config(SCHEDULER_CONFIG).alphas_cumprod  # (1000,)
    weight, snr = loss_weight(alpha_bar), alpha_bar / (1 - alpha_bar)
    assert torch.equal(weight[snr >= 1], torch.ones(int((snr >= 1).sum())))
    assert torch.allclose(weight[snr < 1], 1 / snr[snr < 1])
    assert 200 < weight[-1] < 220  # t = 999: ᾱ ≈ 0.0047
    assert 300 < int((snr >= 1).sum()) < 400  # SD's schedule crosses SNR = 1 about a third of the way in


def test_judge_trainer_runs_and_reports_accuracy_per_attribute():
    judge, accuracy = train_judge(steps=2, batch_size=8)
    assert set(accuracy) == {"color", "shape", "size", "position"}
    assert all(0 <= a <= 1 for a in accuracy.values())
