"""Tiny random Llama and T5 models for tests: vocabularies small enough to enumerate."""

from __future__ import annotations

import copy

import torch
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration


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
