"""Plausible wrong implementations of lab b02's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    (
        "hash_state_dict_keys",
        "lines.append(f\"{name}:{','.join(str(d) for d in shape)}\")",
        "lines.append(name)",
        "the hash of the names alone",
    ),
    (
        "convert_legacy_keys",
        'if "attentions" in parts and parts[-2] in LEGACY_ATTENTION_NAMES:',
        "if parts[-2] in LEGACY_ATTENTION_NAMES:",
        "renamed 'lookup.key.weight' to 'lookup.to_k.weight'",
    ),
    ("load_into", "strict=True, assign=True", "strict=True, assign=False", "on the meta device"),
    ("load_into", "if missing or unexpected or mismatched:", "if unexpected or mismatched:", "raised RuntimeError"),
]
