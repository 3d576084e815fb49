"""Smoke tests of the shapes-video recipes: each trainer runs a few steps on tiny sizes and resumes, the assembled
folder loads as a WanPipeline and generates, and the tokenizer loads offline with AutoTokenizer."""

import json
import math

import pytest
import torch
import transformers
from safetensors.torch import load_file

from difflab.data import moving_shapes
from difflab.models import AutoencoderKLWan, WanTransformer3DModel
from difflab.pipelines import TextToVideoPipeline
from difflab.text.t5_tokenizer import build_t5_tokenizer, default_video_words
from difflab.train import video, video_recipes

TINY_VAE = {**video.VIDEO_VAE_CONFIG, "base_dim": 4}
TINY_TRANSFORMER = {**video.TRANSFORMER_CONFIG, "num_attention_heads": 2, "attention_head_dim": 8, "text_dim": 16,
                    "freq_dim": 32, "ffn_dim": 32, "num_layers": 1}  # fmt: skip
FRAMES = 5  # 1 + 4: two latent frames


def test_the_tokenizer_round_trips_through_auto_tokenizer_offline(tmp_path):
    built = build_t5_tokenizer(tmp_path)
    loaded = transformers.AutoTokenizer.from_pretrained(str(tmp_path), local_files_only=True)
    assert (loaded.pad_token_id, loaded.eos_token_id, loaded.unk_token_id) == (0, 1, 2)
    caption = "a small red circle moving left"
    ids = loaded(caption).input_ids
    assert ids == built(caption).input_ids and len(ids) == 7  # one piece per word, then </s>
    assert loaded.decode(ids, skip_special_tokens=True) == caption
    assert set(moving_shapes.vocabulary()) <= set(default_video_words())
    assert loaded("zebra").input_ids[1:-1] == [loaded.convert_tokens_to_ids(c) for c in "zebra"]  # spelt out


def test_a_word_that_is_not_lowercase_letters_is_refused(tmp_path):
    with pytest.raises(ValueError, match="words: got 'Red'"):
        build_t5_tokenizer(tmp_path, words=["a", "Red"])


def test_flow_matching_sigmas_follow_the_schedulers_shift():
    sigmas = video.sample_sigmas(10_000, torch.Generator().manual_seed(0))
    assert 0 <= sigmas.min() and sigmas.max() <= 1
    u = 0.5  # the median of U(0, 1) maps to shift·u / (1 + (shift - 1)·u) = 0.75 for shift 3
    assert abs(sigmas.median().item() - 3 * u / (1 + 2 * u)) < 0.01


def test_training_sees_the_text_states_the_pipeline_gives(tmp_path):
    """Training's short context (L + 1 rows, the last standing for 512 - L zero rows) gives the transformer the
    same output as the pipeline's 512 rows."""
    tokenizer = build_t5_tokenizer(tmp_path)
    encoder = transformers.UMT5EncoderModel(video.umt5_config(tokenizer, 16)).eval()
    captions = ["a red circle moving up", "", "a large blue triangle shrinking"]
    with torch.no_grad():
        short, log_counts = video.encode_text(tokenizer, encoder, captions)  # encoder run on 6 positions
    assert short.shape == (3, 7, 16) and log_counts.tolist() == [0.0] * 6 + [pytest.approx(math.log(512 - 6))]
    assert (short[0, 6:] == 0).all() and (short[0, :6] != 0).any()  # 5 words + </s>, then the zero row
    assert (short[1, 1:] == 0).all()  # "" is </s> alone
    transformer = WanTransformer3DModel(**{**TINY_TRANSFORMER, "in_channels": 16, "out_channels": 16}).eval()
    pipe = TextToVideoPipeline(tokenizer=tokenizer, text_encoder=encoder, transformer=transformer,
                               vae=AutoencoderKLWan(**TINY_VAE), scheduler=None)  # fmt: skip
    full = pipe.encode_prompt(captions)  # (3, 512, 16): padded to 512 before the encoder
    assert torch.allclose(short[:, :6], full[:, :6], atol=1e-6) and (full[:, 6:] == 0).all()
    latents, t = torch.randn(3, 16, 2, 8, 8), torch.tensor([900.0, 500.0, 20.0])
    with torch.no_grad():
        expected = transformer(latents, t, encoder_hidden_states=full).sample
        got = transformer(latents, t, encoder_hidden_states=short, text_log_counts=log_counts).sample
    assert (got - expected).abs().max() <= 1e-5


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 2-step video VAE run, resumed to 3 steps."""
    runs = tmp_path_factory.mktemp("runs")
    kwargs = dict(
        batch_size=1, config=TINY_VAE, frames=FRAMES, save_every=2, eval_clips=2, frame_steps=2, frame_batch_size=1
    )
    video_recipes.run_video_vae(runs, steps=2, **kwargs)
    _, log = video_recipes.run_video_vae(runs, steps=3, **kwargs)
    return runs, log


def test_the_video_vae_trainer_checkpoints_and_resumes(runs):
    folder, log = runs
    assert [entry["step"] for entry in log] == [2, 3]  # the second call started at step 2, the first on clips
    assert json.loads((folder / "video-vae" / "state.json").read_text())["step"] == 3
    assert {"psnr_db", "first_frame_psnr_db"} <= set(log[-1])


def test_the_decoder_stage_leaves_the_encoder_and_so_the_latents_unchanged(runs, tmp_path):
    folder = tmp_path / "runs"
    (folder / "video-vae").mkdir(parents=True)
    for name in ("vae.safetensors", "state.json", "optimizer.pt"):
        (folder / "video-vae" / name).write_bytes((runs[0] / "video-vae" / name).read_bytes())
    before = load_file(str(folder / "video-vae" / "vae.safetensors"))
    _, log = video_recipes.run_video_decoder(folder, steps=2, batch_size=1, config=TINY_VAE, frames=FRAMES,
                                             save_every=2, eval_clips=2)  # fmt: skip
    after = load_file(str(folder / "video-decoder" / "vae.safetensors"))
    assert log[-1]["step"] == 2 and before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("encoder.", "quant_conv.")))
    assert not torch.equal(before["decoder.conv_out.weight"], after["decoder.conv_out.weight"])
    used = video_recipes.trained_video_vae(folder, TINY_VAE).state_dict()["decoder.conv_out.weight"]
    assert torch.equal(used, after["decoder.conv_out.weight"])  # the recipe now takes the fine-tuned decoder


def test_the_video_recipe_resumes_and_ships_a_loadable_wan_pipeline(runs, tmp_path):
    folder, _ = runs
    kwargs = dict(batch_size=2, num_clips=4, vae_config=TINY_VAE, transformer_config=TINY_TRANSFORMER, frames=FRAMES,
                  eval_prompts=2, eval_steps=2, vae_eval_clips=2, save_every=2)  # fmt: skip
    kwargs["out"] = tmp_path / "shapes-video"
    video_recipes.run_video(folder, steps=2, **kwargs)
    _, metrics = video_recipes.run_video(folder, steps=3, **kwargs)
    state = json.loads((folder / "video" / "state.json").read_text())
    assert state["step"] == 3 and [entry["step"] for entry in state["log"]] == [2, 3]
    card = json.loads((tmp_path / "shapes-video" / "card.json").read_text())
    assert card["metrics"]["prompts"] == 2 and set(metrics) >= {"adherence", "temporal_consistency"}
    assert card["vae"]["first_frame_encoded_alone_max_abs_diff"] < 1e-5

    pipe = TextToVideoPipeline.from_pretrained(tmp_path / "shapes-video")
    assert type(pipe.vae) is AutoencoderKLWan and len(pipe.vae.config.latents_std) == TINY_VAE["z_dim"]
    assert isinstance(pipe.tokenizer, transformers.PreTrainedTokenizerBase)
    frames = pipe("a red circle moving left", height=64, width=64, num_frames=FRAMES, num_inference_steps=2,
                  generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert frames.shape == (1, FRAMES, 64, 64, 3) and 0 <= frames.min() and frames.max() <= 1
    trained = torch.load(folder / "video" / "latents.pt", weights_only=True)["means"]
    assert trained.shape == (4, TINY_VAE["z_dim"], 2, 8, 8)  # the cache: 4 clips, 1 + 1 latent frames
    checkpoint = load_file(str(folder / "video" / "text_encoder.safetensors"))
    shipped = pipe.text_encoder.state_dict()
    assert all(torch.equal(shipped[f"encoder.{k}"], v) for k, v in checkpoint.items())  # the trained UMT5 shipped


def test_the_vae_starts_as_a_per_frame_autoencoder_of_identity_blocks():
    """wan_vae_init: no past-frame taps, residual blocks that pass their input, keep/repeat temporal resamplers,
    a nearly deterministic posterior. So at step 0 each frame is coded on its own, like an image."""
    vae = video.wan_vae_init(AutoencoderKLWan(**TINY_VAE)).eval()
    clips = moving_shapes.batch(2, frames=FRAMES)["video"]  # (2, 3, 5, 64, 64)
    with torch.no_grad():
        posterior = vae.encode(clips).latent_dist
        alone = vae.encode(clips[:, :, :1]).latent_dist.mean
        reordered = vae.encode(torch.cat([clips[:, :, :1], clips[:, :, 1:].flip(2)], dim=2)).latent_dist.mean
    assert torch.equal(posterior.mean[:, :, :1], alone)
    assert abs(posterior.logvar.mean().item() + 6.0) < 0.5  # the bias; the weights add a little
    # the temporal downsamplers keep the later frame of each pair, so frame 4 decides latent frame 1 alone
    changed = clips.clone()
    changed[:, :, 1:4] = 0
    with torch.no_grad():
        assert torch.equal(vae.encode(changed).latent_dist.mean, posterior.mean)
    assert not torch.equal(reordered, posterior.mean)  # frame 4 moved: latent frame 1 changes
    block = vae.decoder.up_blocks[0].resnets[0]
    x = torch.randn(1, block.conv1.in_channels, 2, 4, 4)
    with torch.no_grad():
        assert torch.equal(block(x), block.conv_shortcut(x))
