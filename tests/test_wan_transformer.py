"""difflab's WanTransformer3DModel against diffusers' (the numerical oracle) and the published Wan2.1 configs."""

import pytest
import torch
from diffusers import WanTransformer3DModel as DiffusersWan
from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
from safetensors.torch import load_file

from difflab.configs import load_config
from difflab.loading import build_on_meta
from difflab.models.wan import WanTransformer3DModel, convert_original_wan

TOLERANCE = 1e-5

# diffusers' own test config (tests/models/transformers/test_models_transformer_wan.py) and its inputs' shapes.
DIFFUSERS_TEST = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=2,
    attention_head_dim=12,
    in_channels=4,
    out_channels=4,
    text_dim=16,
    freq_dim=256,
    ffn_dim=32,
    num_layers=2,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    rope_max_seq_len=32,
)
# Text-to-video, otherwise different: 3 heads of 16 (RoPE split 8|4|4), 3 layers, no cross-attention norm,
# out_channels ≠ in_channels, and a 3 × 5 × 7 patch grid (odd frame count, H ≠ W).
TEXT_ONLY = dict(
    num_attention_heads=3,
    attention_head_dim=16,
    in_channels=5,
    out_channels=3,
    text_dim=24,
    freq_dim=32,
    ffn_dim=40,
    num_layers=3,
    cross_attn_norm=False,
    rope_max_seq_len=16,
)
# Image-to-video (Wan2.1 I2V's layout): an image embedder and an image branch in every attn2.
IMAGE_TO_VIDEO = dict(DIFFUSERS_TEST, num_attention_heads=4, attention_head_dim=8, image_dim=20, added_kv_proj_dim=32)
# First-last-frame (FLF2V): both frames' image tokens, laid side by side, get a learned position embedding.
FIRST_LAST_FRAME = dict(IMAGE_TO_VIDEO, pos_embed_seq_len=2 * 5)

CASES = {  # config, (B, C, F, H, W), text tokens, image tokens (None: text-to-video)
    "diffusers_test": (DIFFUSERS_TEST, (1, 4, 2, 16, 16), 12, None),
    "text_only": (TEXT_ONLY, (2, 5, 3, 10, 14), 7, None),
    "image_to_video": (IMAGE_TO_VIDEO, (2, 4, 3, 8, 12), 512, 5),  # diffusers assumes 512 text tokens
    "first_last_frame": (FIRST_LAST_FRAME, (2, 4, 3, 8, 12), 512, 5),  # 5 tokens per frame, 2 frames
}


def pair(config, seed=0):
    """diffusers' model with seeded random weights, and ours holding the same weights (loaded strictly)."""
    torch.manual_seed(seed)
    theirs = DiffusersWan(**config).eval()
    ours = WanTransformer3DModel(**config).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    if config.get("pos_embed_seq_len"):  # diffusers initialises it to zeros: give it values worth testing
        with torch.no_grad():
            for model in (ours, theirs):
                model.condition_embedder.image_embedder.pos_embed.copy_(
                    torch.linspace(-1, 1, 10 * 20).reshape(1, 10, 20)
                )
    return ours, theirs


def inputs(config, shape, text_tokens, image_tokens, seed=1):
    g = torch.Generator().manual_seed(seed)
    batch = shape[0]
    kwargs = dict(
        hidden_states=torch.randn(shape, generator=g),
        timestep=torch.randint(0, 1000, (batch,), generator=g),
        encoder_hidden_states=torch.randn(batch, text_tokens, config["text_dim"], generator=g),
    )
    if image_tokens is not None:
        frames = 2 if config.get("pos_embed_seq_len") else 1  # FLF2V: first and last frames stacked on the batch
        image = torch.randn(frames * batch, image_tokens, config["image_dim"], generator=g)
        kwargs["encoder_hidden_states_image"] = image
    return kwargs


@pytest.mark.parametrize("case", CASES)
def test_state_dict_keys_and_shapes_match_diffusers(case):
    config = CASES[case][0]
    ours = build_on_meta(WanTransformer3DModel, config)
    with torch.device("meta"):
        theirs = DiffusersWan(**config)
    expected = [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == expected


@pytest.mark.parametrize("case", CASES)
def test_wan_transformer_matches_diffusers(case):
    config, shape, text_tokens, image_tokens = CASES[case]
    ours, theirs = pair(config)
    kwargs = inputs(config, shape, text_tokens, image_tokens)
    with torch.no_grad():
        expected = theirs(**kwargs).sample
        got = ours(**kwargs).sample
    assert got.shape == expected.shape == shape[:1] + (config["out_channels"],) + shape[2:]
    assert (got - expected).abs().max().item() <= TOLERANCE


def keep_in_fp32_then_cast(model, dtype):
    """diffusers' from_pretrained(torch_dtype=...): everything in `dtype` except the `_keep_in_fp32_modules`."""
    names = model._keep_in_fp32_modules
    tensors = [*model.named_parameters(), *model.named_buffers()]
    kept = {n: t.data.clone() for n, t in tensors if any(m in n.split(".") for m in names)}
    model.to(dtype)
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if name in kept:
            tensor.data = kept[name]
    return model


@pytest.mark.parametrize("case", ["diffusers_test", "image_to_video"])
def test_bf16_with_fp32_modulation_matches_diffusers(case):
    """In bf16 with diffusers' fp32 modules (time MLP, scale_shift_tables, norms; our RoPE is always fp32)."""
    config, shape, text_tokens, image_tokens = CASES[case]
    ours, theirs = (keep_in_fp32_then_cast(m, torch.bfloat16) for m in pair(config))
    kwargs = inputs(config, shape, text_tokens, image_tokens)
    kwargs = {k: v.bfloat16() if v.is_floating_point() else v for k, v in kwargs.items()}
    with torch.no_grad():
        expected = theirs(**kwargs).sample
        got = ours(**kwargs).sample
    assert got.dtype == torch.bfloat16 and ours.blocks[0].scale_shift_table.dtype == torch.float32
    assert torch.equal(got, expected)


def test_diffusers_512_token_split_misreads_image_tokens_with_fewer_text_tokens():
    """diffusers splits attn2's context at L − 512; with 4 image + 12 text tokens that puts all 16 in the text
    branch. Ours takes the image-token count explicitly, so it differs there; told 0 image tokens it agrees."""
    config = IMAGE_TO_VIDEO
    ours, theirs = pair(config)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 9, config["num_attention_heads"] * config["attention_head_dim"], generator=g)
    context = torch.randn(2, 4 + 12, x.shape[-1], generator=g)  # [4 image tokens | 12 text tokens]
    ours_attn, theirs_attn = ours.blocks[0].attn2, theirs.blocks[0].attn2
    with torch.no_grad():
        expected = theirs_attn(x, context)
        explicit = ours_attn(x, context, None, num_image_tokens=4)
        as_text = ours_attn(x, context, None, num_image_tokens=0)
        # With 512 text tokens the hard-coded split is right, and the two agree.
        long_context = torch.randn(2, 4 + 512, x.shape[-1], generator=g)
        agreed = (ours_attn(x, long_context, None, num_image_tokens=4) - theirs_attn(x, long_context)).abs().max()
    assert (explicit - expected).abs().max() > 1e-2
    assert (as_text - expected).abs().max() <= TOLERANCE
    assert agreed <= TOLERANCE


@pytest.mark.parametrize("model, expected", [("wan2.1-t2v-1.3b", 1_418_996_800), ("wan2.1-t2v-14b", 14_288_491_584)])
def test_real_wan21_configs_have_the_published_parameter_counts(model, expected):
    config = load_config(model, "transformer")  # with _class_name and _diffusers_version, set aside
    transformer = build_on_meta(WanTransformer3DModel, config)
    assert sum(p.numel() for p in transformer.parameters()) == expected
    assert transformer.ignored_config == {"_class_name": "WanTransformer3DModel", "_diffusers_version": "0.33.0.dev0"}


def test_qk_norm_is_accepted_and_ignored_like_diffusers():
    """Any qk_norm builds the same RMSNorm over all heads (norm_q.weight has heads·d entries), in both libraries."""
    config = dict(DIFFUSERS_TEST, qk_norm=None)
    ours = build_on_meta(WanTransformer3DModel, config)
    with torch.device("meta"):
        theirs = DiffusersWan(**config)
    assert ours.config.qk_norm is None
    assert ours.state_dict()["blocks.0.attn1.norm_q.weight"].shape == (2 * 12,)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def to_original_key(key: str) -> str:
    """diffusers' name → the original Wan code's name, written out by hand (the test's own map, not convert.py's)."""
    block_norms = {"norm2.": "norm3.", "norm3.": "norm2."}  # the original numbering swaps these two
    parts = key.split(".")
    if parts[0] == "blocks":
        index, rest = parts[1], ".".join(parts[2:])
        for ours, original in block_norms.items():
            if rest.startswith(ours):
                return f"blocks.{index}.{original}{rest[len(ours) :]}"
        rest = rest.replace("attn1.", "self_attn.").replace("attn2.", "cross_attn.")
        rest = rest.replace("to_out.0.", "o.").replace("to_q.", "q.").replace("to_k.", "k.").replace("to_v.", "v.")
        rest = rest.replace("add_k_proj.", "k_img.").replace("add_v_proj.", "v_img.")
        rest = rest.replace("norm_added_k.", "norm_k_img.").replace("ffn.net.0.proj.", "ffn.0.")
        rest = rest.replace("ffn.net.2.", "ffn.2.").replace("scale_shift_table", "modulation")
        return f"blocks.{index}.{rest}"
    top = {
        "condition_embedder.time_embedder.linear_1.": "time_embedding.0.",
        "condition_embedder.time_embedder.linear_2.": "time_embedding.2.",
        "condition_embedder.text_embedder.linear_1.": "text_embedding.0.",
        "condition_embedder.text_embedder.linear_2.": "text_embedding.2.",
        "condition_embedder.time_proj.": "time_projection.1.",
        "condition_embedder.image_embedder.norm1.": "img_emb.proj.0.",
        "condition_embedder.image_embedder.ff.net.0.proj.": "img_emb.proj.1.",
        "condition_embedder.image_embedder.ff.net.2.": "img_emb.proj.3.",
        "condition_embedder.image_embedder.norm2.": "img_emb.proj.4.",
        "proj_out.": "head.head.",
        "scale_shift_table": "head.modulation",
        "patch_embedding.": "patch_embedding.",
    }
    for ours, original in top.items():
        if key.startswith(ours):
            return original + key[len(ours) :]
    raise AssertionError(f"no original name for {key}")


def test_convert_original_wan_matches_diffusers_single_file_converter():
    """An original-layout I2V state dict (norm3 = the cross-attention norm) converts to diffusers' keys, as
    diffusers' own single-file converter does, and loads into our model strictly."""
    _, theirs = pair(IMAGE_TO_VIDEO)
    state_dict = theirs.state_dict()
    original = {to_original_key(k): v for k, v in state_dict.items()}
    assert "blocks.0.norm3.weight" in original and "blocks.0.norm2.weight" not in original
    ours = convert_original_wan(original)
    assert ours == convert_wan_transformer_to_diffusers(dict(original)) == state_dict
    prefixed = convert_original_wan({"model.diffusion_model." + k: v for k, v in original.items()})
    assert prefixed == state_dict
    WanTransformer3DModel(**IMAGE_TO_VIDEO).load_state_dict(ours, strict=True)


def test_save_pretrained_round_trips_and_diffusers_reads_the_folder(tmp_path):
    ours, theirs = pair(DIFFUSERS_TEST)
    ours.save_pretrained(tmp_path)
    again = WanTransformer3DModel.from_pretrained(tmp_path)
    # diffusers' from_pretrained needs accelerate here (not installed): read the same two files its way.
    read_by_diffusers = DiffusersWan.from_config(DiffusersWan.load_config(tmp_path)).eval()
    read_by_diffusers.load_state_dict(load_file(tmp_path / "diffusion_pytorch_model.safetensors"), strict=True)
    kwargs = inputs(DIFFUSERS_TEST, (1, 4, 2, 16, 16), 12, None)
    with torch.no_grad():
        expected = theirs(**kwargs).sample
        assert torch.equal(again(**kwargs).sample, ours(**kwargs).sample)
        assert (read_by_diffusers(**kwargs).sample - expected).abs().max() <= TOLERANCE


def test_config_errors_name_the_field_and_the_fix():
    with pytest.raises(ValueError, match="added_kv_proj_dim: got 20.*Fix: set it to 32"):
        WanTransformer3DModel(**dict(IMAGE_TO_VIDEO, added_kv_proj_dim=20))
    with pytest.raises(ValueError, match="attention_head_dim: got 11"):
        WanTransformer3DModel(**dict(DIFFUSERS_TEST, attention_head_dim=11))
    with pytest.raises(ValueError, match="num_layers"):
        build_on_meta(WanTransformer3DModel, dict(DIFFUSERS_TEST, num_layers=10**9))


def test_video_longer_than_rope_max_seq_len_is_refused():
    model = WanTransformer3DModel(**dict(DIFFUSERS_TEST, rope_max_seq_len=4))
    kwargs = inputs(DIFFUSERS_TEST, (1, 4, 2, 10, 8), 3, None)  # 5 patches along H > 4
    with pytest.raises(ValueError, match="axis 'h'.*rope_max_seq_len=4"):
        model(**kwargs)


def test_loading_in_bf16_keeps_diffusers_fp32_modules_and_matches_it(tmp_path):
    """from_pretrained(dtype=bf16) keeps in float32 exactly the parameters diffusers' rule keeps (a dotted part of
    the name in _keep_in_fp32_modules), so the loaded model computes what diffusers' bf16 model computes."""
    ours, theirs = pair(DIFFUSERS_TEST)
    ours.save_pretrained(tmp_path)
    loaded = WanTransformer3DModel.from_pretrained(tmp_path, torch_dtype=torch.bfloat16)
    keep = DiffusersWan._keep_in_fp32_modules
    for name, parameter in loaded.named_parameters():
        kept = any(part in keep for part in name.split("."))
        assert parameter.dtype == (torch.float32 if kept else torch.bfloat16), name
    assert loaded.blocks[0].norm2.weight.dtype == torch.float32  # one a whole-model cast would have lost
    theirs = keep_in_fp32_then_cast(theirs, torch.bfloat16)
    kwargs = inputs(DIFFUSERS_TEST, (1, 4, 2, 16, 16), 12, None)
    kwargs = {k: v.bfloat16() if v.is_floating_point() else v for k, v in kwargs.items()}
    with torch.no_grad():
        assert torch.equal(loaded(**kwargs).sample, theirs(**kwargs).sample)
