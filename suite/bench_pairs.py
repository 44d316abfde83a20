"""The target and drafts the benchmark times: the bundle's base and best KD drafts, given folders,
or a random pair built to agree like a distilled one (``--random-pair``), for machines without
the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from suite.bench_drafts import choose_drafts, read_training
from suite.paths import bundle_dir

REFERENCE_FAMILY: Path | None = None  # the bundle's llama/ (a test may point elsewhere)


def reference_family() -> Path:
    return REFERENCE_FAMILY if REFERENCE_FAMILY is not None else bundle_dir() / "llama"


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
TRAINING_FACTS = ("method", "dataset", "kd_temperature", "seed", "divergence", "parameters")
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


@dataclass
class Pair:
    """One target and the drafts timed against it; ``drafts`` maps a label to a model."""

    target: object
    drafts: dict[str, object]
    info: dict
    tokenizer: object = None


def _label(folder: Path, taken: dict) -> str:
    """A folder's name, or its whole path where two given folders share a name."""
    return folder.name if folder.name not in taken else str(folder)


def load_drafts(folders: list[tuple[str, Path]]) -> tuple[dict[str, object], dict[str, dict]]:
    """Load ``(role, folder)`` pairs; returns ``label -> model`` and ``label -> facts``."""
    from suite.models import load_causal_lm

    models, facts = {}, {}
    for role, folder in folders:
        label = _label(Path(folder), models)
        models[label] = load_causal_lm(folder)
        training = read_training(folder) or {}
        facts[label] = {"role": role, "path": str(folder)} | {
            key: training.get(key) for key in TRAINING_FACTS if key in training
        }
    return models, facts


def _has_tokenizer(target_dir: Path) -> bool:
    return (Path(target_dir) / "tokenizer.json").exists()


def random_ids_reason(args) -> str | None:
    """Why the pair :func:`choose_pair` gives for ``args`` has no tokenizer, so that its prompts
    are random token ids (``--tasks`` cannot apply); None where it has one: the bundle's, or a
    --draft's target with its own tokenizer.json or the bundle's tokenizer."""
    if args.draft:
        target = args.target
        if target is not None and Path(target).is_dir() and not _has_tokenizer(target):
            return f"the --target folder {target} has no tokenizer.json"
        return None
    if args.random_pair:
        return "--random-pair times random token ids"
    return None


def _given(args) -> Pair:
    from suite.models import load_causal_lm, load_tokenizer

    target_dir = Path(args.target) if args.target is not None else reference_family() / "target"
    if not target_dir.is_dir():
        raise ValueError(f"no target folder {target_dir}; pass --target")
    drafts, facts = load_drafts([("given", Path(folder)) for folder in args.draft])
    info = {"kind": "given", "target_path": str(target_dir), "drafts": facts}
    if _has_tokenizer(target_dir):
        tokenizer = load_tokenizer(target_dir)
    elif args.target is None:
        tokenizer = load_tokenizer(reference_family() / "tokenizer")
    else:
        tokenizer = None
    return Pair(load_causal_lm(target_dir), drafts, info, tokenizer)


def _random(seed: int) -> Pair:
    target, draft = random_pair(seed=seed)
    note = RANDOM_PAIR_NOTE.format(
        second=SECOND_SUCCESSOR,
        draft_hidden=DRAFT_SHAPE["hidden_size"],
        target_hidden=TARGET_SHAPE["hidden_size"],
    )
    info = {"kind": "random-subspace", "seed": seed, "construction": note}
    info["drafts"] = {"random-draft": {"role": "random"}}
    return Pair(target, {"random-draft": draft}, info, None)


def _bundled(family_dir: Path | None = None) -> Pair:
    """The bundle's target, base draft and best KD draft (``NoKDDraft`` where it cannot say)."""
    from suite.models import load_causal_lm, load_tokenizer

    family_dir = Path(family_dir or reference_family())

    if not (family_dir / "target").is_dir():
        raise ValueError(
            f"no bundled pair in {family_dir}; pass --target and --draft, or --random-pair"
        )
    choice = choose_drafts(family_dir)
    drafts, facts = load_drafts(list(choice.folders().items()))
    info = {"kind": "reference", "target": f"{family_dir.name}/target", "drafts": facts}
    info["selection"] = choice.record()
    dataset = choice.candidates.get(choice.best_kd.name, {}).get("dataset")
    if dataset:  # timed in the KD draft's own domain, as the paper times its drafts
        info["prompt_tasks"] = [dataset]
    target = load_causal_lm(family_dir / "target")
    return Pair(target, drafts, info, load_tokenizer(family_dir / "tokenizer"))


def choose_pair(args) -> Pair:
    """Given folders first, else the random pair on request, else the bundle's base draft and
    best KD draft against its target. The tokenizer is None for the random pair."""
    if args.draft:
        return _given(args)
    if args.random_pair:
        return _random(args.seed)
    return _bundled()
