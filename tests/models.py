"""Tiny random Llama models for tests: small vocabularies, so distributions can be enumerated."""

from __future__ import annotations

import copy

import torch
from transformers import LlamaConfig, LlamaForCausalLM


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


def perturbed(model: LlamaForCausalLM, noise: float, seed: int) -> LlamaForCausalLM:
    """A close copy of ``model``: a good draft whose distributions differ a little."""
    other = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in other.parameters():
            param.add_(noise * param.std() * torch.randn(param.shape, generator=gen))
    return other
