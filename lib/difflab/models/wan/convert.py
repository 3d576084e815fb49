"""Original Wan2.1 checkpoint keys → diffusers' (and difflab's): one pure function, state dict → state dict.

The Wan team's `WanModel` names its layers after its own code (self_attn.q, ffn.0, head.head, …); diffusers'
folders rename them (scripts/convert_wan_to_diffusers.py, and `convert_wan_transformer_to_diffusers` for single
files). Tensors are not changed, only keys.

Trap: in the original blocks `norm3` is the cross-attention norm (the one with weights) and `norm2` the
feed-forward norm (no weights); diffusers numbers them in the order they run, so the two names swap.
"""

import re

PREFIXES = ("model.diffusion_model.",)  # ComfyUI-style single files wrap the keys in this

RENAMES = [  # (original, diffusers): substring replacements, applied in this order to every key
    ("time_embedding.0.", "condition_embedder.time_embedder.linear_1."),
    ("time_embedding.2.", "condition_embedder.time_embedder.linear_2."),
    ("text_embedding.0.", "condition_embedder.text_embedder.linear_1."),
    ("text_embedding.2.", "condition_embedder.text_embedder.linear_2."),
    ("time_projection.1.", "condition_embedder.time_proj."),
    ("img_emb.proj.0.", "condition_embedder.image_embedder.norm1."),
    ("img_emb.proj.1.", "condition_embedder.image_embedder.ff.net.0.proj."),
    ("img_emb.proj.3.", "condition_embedder.image_embedder.ff.net.2."),
    ("img_emb.proj.4.", "condition_embedder.image_embedder.norm2."),
    ("head.modulation", "scale_shift_table"),
    ("head.head.", "proj_out."),
    (".self_attn.", ".attn1."),
    (".cross_attn.", ".attn2."),
    (".q.", ".to_q."),
    (".k.", ".to_k."),
    (".v.", ".to_v."),
    (".o.", ".to_out.0."),
    (".k_img.", ".add_k_proj."),
    (".v_img.", ".add_v_proj."),
    (".norm_k_img.", ".norm_added_k."),
    (".modulation", ".scale_shift_table"),
    (".ffn.0.", ".ffn.net.0.proj."),
    (".ffn.2.", ".ffn.net.2."),
]

BLOCK_NORM = re.compile(r"^(blocks\.\d+\.)norm([23])\.")


def convert_key(key: str) -> str:
    for prefix in PREFIXES:
        key = key.removeprefix(prefix)
    for original, diffusers in RENAMES:
        key = key.replace(original, diffusers)
    return BLOCK_NORM.sub(lambda m: f"{m[1]}norm{5 - int(m[2])}.", key)  # blocks.i.norm3 ↔ blocks.i.norm2


def convert_original_wan(state_dict: dict) -> dict:
    """An original Wan2.1 transformer state dict (T2V or I2V) with diffusers' keys; the tensors are the same objects."""
    return {convert_key(key): tensor for key, tensor in state_dict.items()}
