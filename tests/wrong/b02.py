"""Plausible wrong implementations of lab b02's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    (
        "hash_state_dict_keys",
        "lines.append(f\"{name}:{','.join(str(d) for d in shape)}\")",
        "lines.append(name)",
        "the hash of the names alone",
    ),
    ("hash_state_dict_keys", "for name in sorted(shapes):", "for name in shapes:", "sort them first"),
    (
        "hash_state_dict_keys",
        'shape = value["shape"] if isinstance(value, dict) else value.shape',
        "shape = value.shape",
        "its shape is entry['shape']",
    ),
    ("hash_state_dict_keys", ".encode()).hexdigest()", ".encode()).digest()", "should return a hex string, got bytes"),
    (
        "convert_legacy_keys",
        'if "attentions" in parts and parts[-2] in LEGACY_ATTENTION_NAMES:',
        "if parts[-2] in LEGACY_ATTENTION_NAMES:",
        "renamed 'lookup.key.weight' to 'lookup.to_k.weight'",
    ),
    (  # "the projection before .weight": the biases keep their legacy names
        "convert_legacy_keys",
        'if "attentions" in parts and parts[-2] in LEGACY_ATTENTION_NAMES:',
        'if "attentions" in parts and parts[-2] in LEGACY_ATTENTION_NAMES and parts[-1] == "weight":',
        "'encoder.mid_block.attentions.0.query.bias' should become 'encoder.mid_block.attentions.0.to_q.bias'",
    ),
    (
        "convert_legacy_keys",
        'converted[".".join(parts)] = tensor',
        'converted[".".join(parts)] = tensor.clone()',
        "is a copy of the one in state_dict",
    ),
    ("load_into", "strict=True, assign=True", "strict=True, assign=False", "on the meta device"),
    ("load_into", "if missing or unexpected or mismatched:", "if unexpected or mismatched:", "raised RuntimeError"),
    (
        "load_into",
        "expected = model.state_dict()",
        "expected = dict(model.named_parameters())",
        "refused the state dict of a model with BatchNorm buffers, which fits the model",
    ),
    (  # load what fits, then look at what did not: the model is half loaded when the error comes
        "load_into",
        "expected = model.state_dict()",
        "expected = model.state_dict(); model.load_state_dict(state_dict, strict=False, assign=True)",
        "load_state_dict ran with a state dict that does not fit (decoder.conv_out.bias)",
    ),
]
