"""What a trace may be given, checked up front: every error names the argument, the value, the valid values."""

import torch

MODULES = ("components", "leaves", "all")  # which modules get shape hooks; see shapes.modules_to_watch
DETAIL = ("auto", "full", "bounded")  # what is kept of a long run; see summaries.py
SWITCHES = ("shapes", "memory", "timings", "flops", "check_finite")


def short_repr(value, most: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= most else text[: most - 1] + "…"


def check_choice(argument: str, value, valid: tuple):
    if not isinstance(value, str) or value not in valid:
        listed = ", ".join(map(repr, valid))
        raise ValueError(f"{argument}: got {short_repr(value)}; valid values are {listed}.")


def check_options(modules, detail, switches: dict):
    check_choice("modules", modules, MODULES)
    check_choice("detail", detail, DETAIL)
    for name, value in switches.items():
        if not isinstance(value, bool):
            raise ValueError(f"{name}: got {short_repr(value)}; valid values are True, False.")


def components_of(target) -> dict:
    """Named modules to watch: a pipeline's components, a dict of modules, or one module (None: none).

    A pipeline's tokenizer and scheduler hold no tensors and are skipped; a module listed under two names (a
    component shared by two slots) is kept once, under its first name.
    """
    if target is None:
        return {}
    if isinstance(target, torch.nn.Module):
        return {type(target).__name__: target}
    if hasattr(target, "components"):
        items = dict(target.components).items()
    elif isinstance(target, dict):
        items = target.items()
    else:
        raise ValueError(
            f"model_or_pipeline: got {short_repr(target)} ({type(target).__name__}); pass a torch.nn.Module, a "
            "pipeline (an object with .components), a dict of name → module, or None to record only stages."
        )
    chosen, seen = {}, set()
    for name, module in items:
        if isinstance(module, torch.nn.Module) and id(module) not in seen:
            chosen[str(name)] = module
            seen.add(id(module))
    if items and not chosen:
        raise ValueError(
            f"model_or_pipeline: got {short_repr(target)}, which holds no torch.nn.Module; pass the modules to "
            "watch (a module, a pipeline, or a dict of name → module), or None to record only stages."
        )
    return chosen
