"""State-dict converters: small pure functions that rename (or reshape) keys, dict in → new dict out."""

LEGACY_ATTENTION_NAMES = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def convert_legacy_vae_attention(state_dict: dict) -> dict:
    """VAE checkpoints saved before diffusers 0.14 name the mid-block attention query/key/value/proj_attn;
    today's Attention module calls them to_q/to_k/to_v/to_out.0. Rename those and keep everything else."""
    converted = {}
    for key, tensor in state_dict.items():
        parts = key.split(".")
        if "attentions" in parts and len(parts) >= 2 and parts[-2] in LEGACY_ATTENTION_NAMES:
            parts[-2] = LEGACY_ATTENTION_NAMES[parts[-2]]
        converted[".".join(parts)] = tensor
    return converted


def identity(state_dict: dict) -> dict:
    return dict(state_dict)
