"""The target/draft pairs the benchmark times: the bundled pair, two given folders, or a random
pair built to agree like a distilled one (``--random-pair``), for machines without the bundle.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from suite.bundle import REFERENCE_DIR

REFERENCE_FAMILY = REFERENCE_DIR / "llama"
# A 34M-parameter target against a 2.5M-parameter draft: the target's per-token latency sits well
# above Python overhead on a 2-core CPU, and the pair's parameter ratio is above 10.
TARGET_SHAPE = {
    "hidden_size": 512,
    "intermediate_size": 1376,
    "num_hidden_layers": 8,
    "num_attention_heads": 8,
}
DRAFT_SHAPE = {
    "hidden_size": 128,
    "intermediate_size": 344,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
}
VOCAB_SIZE = 8192
SECOND_SUCCESSOR = 0.9
RANDOM_PAIR_NOTE = (
    "Random-weight LlamaForCausalLM pair with shared token geometry: every token has a preferred "
    "successor, a close second (weight {second}) and a broad tail; the draft's embedding and "
    "lm_head span a {draft_hidden}-dim subspace, and the target holds the same vectors lifted into "
    "{target_hidden} dims. All transformer layers keep their random initialisation, so each model "
    "reshapes the next-token distribution by context in its own way; the draft agrees with the "
    "target the way a distilled draft does, on most tokens but not all. Nothing was trained."
)


def _config(shape: dict, vocab_size: int) -> LlamaConfig:
    heads = shape["num_attention_heads"]
    return LlamaConfig(
        vocab_size=vocab_size,
        num_key_value_heads=heads,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
        **shape,
    )


def random_pair(
    *,
    vocab_size: int = VOCAB_SIZE,
    target_shape: dict = TARGET_SHAPE,
    draft_shape: dict = DRAFT_SHAPE,
    second_successor: float = SECOND_SUCCESSOR,
    seed: int = 0,
):
    """A target and a draft that agree often enough to be a realistic pair, without training.

    Independent random models give near-uniform, unrelated distributions (α is meaningless), so
    the two share one token geometry: logit(y | x) ≈ w_y · e_x with w built from e, peaked at
    x's successors. The target's RMSNorm sees the lifted vectors at a different scale, which its
    lm_head undoes, so with the layers removed both models would give the same logits.
    """
    h_t, h_d = target_shape["hidden_size"], draft_shape["hidden_size"]
    if h_d > h_t:
        raise ValueError(f"draft hidden_size {h_d} exceeds the target's {h_t}")
    with torch.random.fork_rng():  # layer init draws from the global generator; leave it be
        torch.manual_seed(seed)
        draft = LlamaForCausalLM(_config(draft_shape, vocab_size)).eval()
        target = LlamaForCausalLM(_config(target_shape, vocab_size)).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    lift, _ = torch.linalg.qr(torch.randn(h_t, h_d, generator=gen))  # orthonormal columns
    embed = torch.randn(vocab_size, h_d, generator=gen)
    head = torch.zeros_like(embed)
    head[torch.randperm(vocab_size, generator=gen)] += embed
    head[torch.randperm(vocab_size, generator=gen)] += second_successor * embed
    head /= h_d**0.5
    with torch.no_grad():
        draft.model.embed_tokens.weight.copy_(embed)
        draft.lm_head.weight.copy_(head)
        target.model.embed_tokens.weight.copy_(embed @ lift.T)
        target.lm_head.weight.copy_((h_d / h_t) ** 0.5 * head @ lift.T)
    return target, draft


def load_pair(target_path, draft_path):
    from suite.models import load_causal_lm

    return load_causal_lm(target_path), load_causal_lm(draft_path)


def choose_pair(args):
    """Given folders first, else the random pair on request, else the bundled pair.

    Returns (target, draft, info, tokenizer); the tokenizer is None for the random pair.
    """
    from suite.models import load_tokenizer

    if args.target is not None:
        target, draft = load_pair(args.target, args.draft)
        info = {"kind": "given", "target_path": str(args.target), "draft_path": str(args.draft)}
        has_tokenizer = (Path(args.target) / "tokenizer.json").exists()
        return target, draft, info, load_tokenizer(args.target) if has_tokenizer else None
    if args.random_pair:
        target, draft = random_pair(seed=args.seed)
        note = RANDOM_PAIR_NOTE.format(
            second=SECOND_SUCCESSOR,
            draft_hidden=DRAFT_SHAPE["hidden_size"],
            target_hidden=TARGET_SHAPE["hidden_size"],
        )
        info = {"kind": "random-subspace", "seed": args.seed, "construction": note}
        return target, draft, info, None
    if not (REFERENCE_FAMILY / "target").is_dir():
        raise ValueError(
            f"no bundled pair in {REFERENCE_FAMILY}; pass --target and --draft, or --random-pair"
        )
    target, draft = load_pair(REFERENCE_FAMILY / "target", REFERENCE_FAMILY / "draft")
    info = {"kind": "reference", "target": "llama/target", "draft": "llama/draft"}
    return target, draft, info, load_tokenizer(REFERENCE_FAMILY / "tokenizer")
