"""A pretraining recipe's sizes, typed and bounded before anything is built or written.

``tokenizer.vocab_size`` and every size of ``models.<role>.config`` a Llama or a T5 reads are
integers in a range, and the parameter count they make (an over-estimate: untied embeddings,
a full-width key-value projection, gated feed-forward layers) is at most :data:`MAX_PARAMETERS`:
a typo or a hostile recipe cannot ask the tokenizer trainer or torch for terabytes. The rest of
a config is read whole too: only the keys the architecture's model computes with
(:data:`LLAMA_KEYS`, :data:`T5_KEYS`), each number in the range a ``config.json``'s must be in
(:func:`suite.config_values.config_value_field`), every float finite, and the model built from it
on the meta device, so a config that would fail, or train a NaN model, is refused naming its field
before the tokenizer or any model is made.
"""

from __future__ import annotations

import math
from pathlib import Path

from transformers import LlamaConfig, T5Config

from suite.config_values import config_value_field
from suite.errors import SpecError, cut
from suite.models import FORWARD_OUTPUTS, load_tokenizer, remote_code_field, remote_code_message
from suite.paths import resolve
from suite.strict import whole
from suite.tokenizer_files import check_tokenizer_vocabulary

MIN_VOCAB = 258  # the 256 byte symbols and the two special tokens
MAX_VOCAB = 262_144
MAX_MIN_FREQUENCY = 1 << 30
MAX_PARAMETERS = 2_000_000_000
# The size keys each architecture reads, with the largest value each may take.
LLAMA_SIZES = {
    "hidden_size": 65_536,
    "intermediate_size": 262_144,
    "num_hidden_layers": 1_024,
    "num_attention_heads": 1_024,
    "num_key_value_heads": 1_024,
    "head_dim": 4_096,
    "max_position_embeddings": 1 << 20,
}
T5_SIZES = {
    "d_model": 65_536,
    "d_kv": 4_096,
    "d_ff": 262_144,
    "num_layers": 1_024,
    "num_decoder_layers": 1_024,
    "num_heads": 1_024,
    "relative_attention_num_buckets": 4_096,
    "relative_attention_max_distance": 1 << 20,
}
# The other keys a recipe's config may set: what the model computes with, nothing that changes
# what forward returns (FORWARD_OUTPUTS), the ids (the tokenizer's) or the dtype (float32).
LLAMA_KEYS = frozenset({
    *LLAMA_SIZES, "hidden_act", "rms_norm_eps", "initializer_range", "rope_theta",
    "rope_parameters", "rope_scaling", "attention_bias", "attention_dropout", "mlp_bias",
    "tie_word_embeddings",
})  # fmt: skip
T5_KEYS = frozenset({
    *T5_SIZES, "feed_forward_proj", "dropout_rate", "layer_norm_epsilon", "initializer_factor",
    "classifier_dropout", "tie_word_embeddings",
})  # fmt: skip
DERIVED = ("head_dim", "num_key_value_heads", "num_decoder_layers")  # from the others when absent
SET_BY_THE_TOKENIZER = ("vocab_size", "eos_token_id", "pad_token_id", "bos_token_id")


def _integer(path: Path, field: str, value, low: int, high: int) -> int:
    """An integer in [low, high]; a whole exponent number (``2e3``) is that integer."""
    value = whole(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(path, field, value, f"expected an integer from {low:,} to {high:,}")
    return value


def check_tokenizer(path: Path, spec) -> int:
    """The tokenizer section; its vocabulary size, or :data:`MAX_VOCAB` when it is copied."""
    if not isinstance(spec, dict):
        raise SpecError(path, "tokenizer", spec, "expected a mapping")
    known = ("copy_from",) if "copy_from" in spec else ("vocab_size", "min_frequency")
    for key in spec:
        if key not in known:
            raise SpecError(path, f"tokenizer.{key}", spec[key], f"known fields: {list(known)}")
    if "copy_from" in spec:
        if not isinstance(spec["copy_from"], str):
            raise SpecError(path, "tokenizer.copy_from", spec["copy_from"], "expected a path")
        source = resolve(path.parent / spec["copy_from"], "tokenizer.copy_from")
        if not (source / "tokenizer.json").is_file():
            message = f"no tokenizer.json in {source}"
            raise SpecError(path, "tokenizer.copy_from", spec["copy_from"], message)
        # the rules a profile's tokenizer meets, before --out is made; the models get
        # len(tokenizer) logits, so every id it holds must be below that
        tokenizer = load_tokenizer(source)
        check_tokenizer_vocabulary(source, len(tokenizer))
        for name in ("eos_token", "pad_token"):
            if getattr(tokenizer, f"{name}_id", None) is None:
                message = (
                    "a tokenizer to train with needs one: documents end with the end-of-sequence "
                    "token, and batches are padded with the pad token (a T5 decoder starts from it)"
                )
                raise SpecError(source / "tokenizer_config.json", name, None, message)
        return MAX_VOCAB
    if "min_frequency" in spec:  # each integer stored as read, for the trainer that reads it
        field = "tokenizer.min_frequency"
        spec["min_frequency"] = _integer(path, field, spec["min_frequency"], 1, MAX_MIN_FREQUENCY)
    vocab = _integer(path, "tokenizer.vocab_size", spec.get("vocab_size"), MIN_VOCAB, MAX_VOCAB)
    spec["vocab_size"] = vocab
    return vocab


ROLES = ("target", "draft")  # besides the tokenizer, what `train --only` builds


def check_models(path: Path, models, architecture: str, vocab: int) -> None:
    """Each ``models.<role>.config``: a mapping whose sizes are bounded, alone and together."""
    if not isinstance(models, dict):
        raise SpecError(path, "models", models, "expected a mapping of roles")
    for role in models:  # train builds these roles, each into a folder of its name
        if role not in ROLES:
            message = f"unknown role; a recipe's models are {', '.join(ROLES)}"
            raise SpecError(path, f"models.{role}"[:200], role, message)
    for role, spec in models.items():
        field = f"models.{role}.config"
        config = spec.get("config") if isinstance(spec, dict) else None
        if not isinstance(config, dict):
            raise SpecError(path, field, config, "expected a mapping")
        found = remote_code_field(config, field)
        if found:  # an attention kernel from the Hub, remote code or a quantizer
            raise SpecError(path, found[0], found[1], remote_code_message(found[0]))
        _forward_keys(path, field, config)
        sizes = _sizes(path, field, config, architecture)
        _known_keys(path, field, config, architecture)
        _values(path, field, config)
        if architecture != "t5":
            _heads(path, field, sizes)
        count = _parameters(sizes, vocab, architecture)
        if count > MAX_PARAMETERS:
            message = (
                f"about {count:,} parameters, over the {MAX_PARAMETERS:,} a recipe may ask for"
            )
            raise SpecError(path, field, _shown(config, sizes), message)
        _build(path, field, config, architecture, vocab)


def _forward_keys(path: Path, field: str, config: dict) -> None:
    """What forward returns is fixed (the training loop reads ``.logits`` of a model output)."""
    for key, forced in FORWARD_OUTPUTS.items():
        if key in config and config[key] is not forced:
            message = f"what forward returns is fixed: leave it out (it is {forced})"
            raise SpecError(path, f"{field}.{key}", config[key], message)


def _known_keys(path: Path, field: str, config: dict, architecture: str) -> None:
    known = T5_KEYS if architecture == "t5" else LLAMA_KEYS
    for key in config:
        if key not in known and key not in FORWARD_OUTPUTS:
            message = f"unknown or not settable in a recipe; known: {', '.join(sorted(known))}"
            raise SpecError(path, f"{field}.{key}", config[key], message)


def _values(path: Path, field: str, config: dict) -> None:
    """Each number in the range a model's ``config.json`` must hold it in, every float finite
    (YAML's ``.nan`` and ``.inf``: strict JSON has neither) and the activation one there is."""
    found = config_value_field(config)
    if found:
        raise SpecError(path, f"{field}.{found[0]}", found[1], found[2])
    stack = [(config, field)]
    while stack:
        item, where = stack.pop()
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, value in pairs:
            name = f"{where}.{key}" if isinstance(item, dict) else f"{where}[{key}]"
            if isinstance(value, dict | list):
                stack.append((value, name))
            elif isinstance(value, float) and not math.isfinite(value):
                raise SpecError(path, name, value, "expected a finite number")
    act = config.get("hidden_act", "silu")
    from transformers.activations import ACT2FN

    if not isinstance(act, str) or act not in ACT2FN:
        message = f"unknown activation; known: {', '.join(ACT2FN)}"
        raise SpecError(path, f"{field}.hidden_act", act, message)


def _build(path: Path, field: str, config: dict, architecture: str, vocab: int) -> None:
    """The config and its model, built as training builds them, on the meta device (no memory):
    what transformers refuses (a bad ``feed_forward_proj``, a RoPE mapping it cannot use) is
    named here, not after the tokenizer was trained."""
    import torch
    from transformers import LlamaForCausalLM, T5ForConditionalGeneration

    t5 = architecture == "t5"
    try:
        with torch.device("meta"):
            if t5:
                T5ForConditionalGeneration(T5Config(vocab_size=vocab, **config))
            else:
                LlamaForCausalLM(LlamaConfig(vocab_size=vocab, bos_token_id=None, **config))
    except Exception as err:  # transformers raises many types for a bad config
        text = " ".join(str(err).split())
        named = [k for k in config if k in text]
        where = f"{field}.{named[0]}" if named else field
        value = config[named[0]] if named else "(config)"
        message = f"cannot build the model: {type(err).__name__}: {cut(text, 300)}"
        raise SpecError(path, where, value, message) from None


def _sizes(path: Path, field: str, config: dict, architecture: str) -> dict[str, int]:
    """Every size key with its value (transformers' default where the recipe gives none)."""
    t5 = architecture == "t5"
    bounds, default = (T5_SIZES, T5Config()) if t5 else (LLAMA_SIZES, LlamaConfig())
    for key in SET_BY_THE_TOKENIZER:
        if key in config:
            raise SpecError(path, f"{field}.{key}", config[key], "set from the tokenizer")
    sizes = {}
    for key, high in bounds.items():
        if key in config:  # stored as read, for the model built from the config
            config[key] = sizes[key] = _integer(path, f"{field}.{key}", config[key], 1, high)
        elif key not in DERIVED:
            sizes[key] = getattr(default, key)
        else:
            sizes[key] = None
    return sizes


def _heads(path: Path, field: str, s: dict) -> None:
    """Attention heads that a Llama model can be built and run with: key-value heads dividing the
    heads, and the hidden size dividing into the heads where no head_dim is given."""
    heads, kv = s["num_attention_heads"], s.get("num_key_value_heads") or s["num_attention_heads"]
    if heads % kv:
        message = f"must divide num_attention_heads ({heads})"
        raise SpecError(path, f"{field}.num_key_value_heads", kv, message)
    if not s.get("head_dim") and s["hidden_size"] % heads:
        message = f"must be a multiple of num_attention_heads ({heads}) without a head_dim"
        raise SpecError(path, f"{field}.hidden_size", s["hidden_size"], message)


def _parameters(s: dict, vocab: int, architecture: str) -> int:
    """An upper estimate of the parameter count."""
    if architecture == "t5":
        d, inner, ff = s["d_model"], s["num_heads"] * s["d_kv"], s["d_ff"]
        layer = 4 * d * inner + 3 * d * ff
        decoders = s["num_decoder_layers"] or s["num_layers"]
        return s["num_layers"] * layer + decoders * (layer + 4 * d * inner) + 2 * vocab * d
    h, heads = s["hidden_size"], s["num_attention_heads"]
    inner = max(h, heads * (s["head_dim"] or h // heads))
    layer = 4 * h * inner + 3 * h * s["intermediate_size"]
    return s["num_hidden_layers"] * layer + 2 * vocab * h


def _shown(config: dict, sizes: dict[str, int]) -> dict:
    return {k: v for k, v in config.items() if k in sizes}
