"""Tiny random Llama and T5 models for tests: vocabularies small enough to enumerate."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import torch
import yaml
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

REPO = Path(__file__).resolve().parents[1]


def tiny_llama(
    vocab: int = 8, hidden: int = 32, layers: int = 2, seed: int = 0, sharpness: float = 1.0
) -> LlamaForCausalLM:
    """A random model; ``sharpness`` scales the output layer so next-token distributions peak."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(sharpness)
    return model


def perturbed(model, noise: float, seed: int):
    """A close copy of ``model``: a good draft whose distributions differ a little."""
    other = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in other.parameters():
            param.add_(noise * param.std() * torch.randn(param.shape, generator=gen))
    return other


def tiny_t5(
    vocab: int = 8,
    d_model: int = 32,
    layers: int = 2,
    decoder_layers: int = 2,
    seed: int = 0,
    sharpness: float = 1.0,
    eos_token_id: int | None = None,
) -> T5ForConditionalGeneration:
    """A random T5 v1.1-style model (own output layer; ``sharpness`` scales only that layer).

    transformers 5 always ties T5's ``lm_head`` to the input embeddings (``tie_word_embeddings=
    False`` only turns off output scaling); tied, a random model mostly repeats its last token.
    """
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab,
        d_model=d_model,
        d_kv=8,
        d_ff=32,
        num_layers=layers,
        num_decoder_layers=decoder_layers,
        num_heads=2,
        dropout_rate=0.0,
        tie_word_embeddings=False,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=eos_token_id,
    )
    model = T5ForConditionalGeneration(config).eval()
    head = torch.randn(model.lm_head.weight.shape) * sharpness
    model.lm_head.weight = torch.nn.Parameter(head)
    return model


def write_training(folder: Path, **facts) -> Path:
    """The ``training.json`` that ``suite distill`` writes beside a draft: what the draft is."""
    record = {
        "method": "offline",
        "dataset": "gsm8k",
        "kd_temperature": 0.0,
        "kd_temperatures": [0.0],
        "divergence": "cross_entropy",
        "seed": 0,
        "data_centric_recipe": None,
    }
    record.update(facts)
    (folder / "training.json").write_text(json.dumps(record))
    return folder


def write_tiny_run(root: Path) -> Path:
    """A bundle of tiny models with the real tokenizer, a profile and a two-engine study over it.

    ``root/bundle`` holds target, base draft and one KD draft; ``root/tiny.yaml`` is the profile
    and ``root/grid.yaml`` the study (both engines, three temperatures, two drafts).
    """
    bundle = root / "bundle"
    shutil.copytree(REPO / "reference" / "llama" / "tokenizer", bundle / "tokenizer")
    target = tiny_llama(vocab=4096, hidden=32, layers=2, seed=0, sharpness=8.0)
    target.save_pretrained(bundle / "target")
    perturbed(target, 0.3, seed=1).save_pretrained(bundle / "draft")
    perturbed(target, 0.1, seed=2).save_pretrained(bundle / "kd-offline-gsm8k-t0.0")
    write_training(bundle / "kd-offline-gsm8k-t0.0")
    profile = {
        "name": "tiny",
        "description": "tiny models for tests",
        "models": {"llama": {"bundle": str(bundle)}},
        "sizes": {
            "analytic": {"prompts": 3, "seeds": 2, "max_new_tokens": 8},
            "empirical": {"prompts": 2, "seeds": 1, "max_new_tokens": 8},
        },
    }
    (root / "tiny.yaml").write_text(yaml.safe_dump(profile))
    study = {
        "name": "grid",
        "title": "Grid",
        "description": "Both engines over two drafts.",
        "claims": [1],
        "family": "llama",
        "engines": ["analytic", "empirical"],
        "grid": {
            "datasets": ["gsm8k"],
            "drafts": [
                {"method": "base"},
                {"method": "offline", "dataset": "{kd_dataset}", "kd_temperature": "any"},
            ],
            "decode_temperatures": [0.0, 0.7, 1.3],
            "num_draft_tokens": 3,
        },
    }
    (root / "grid.yaml").write_text(yaml.safe_dump(study))
    return root
