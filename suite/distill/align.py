"""The target's alignment step: rejection-sampling fine-tuning (best-of-n), as chat tuning does.

The paper's target, Llama-2-13B-chat, is an aligned model whose next-token distributions are
peaked, while its draft was pretrained on generic text. The pretrained miniature target is as flat
as its draft, so it is aligned here: for each training prompt it samples ``samples_per_prompt``
responses at a low ``temperature``, keeps the best by a reward (a finished response first, then a
correct final answer where the task has one, then token F1 with the reference answer), and is
fine-tuned on those with cross-entropy. The base draft is not aligned, as Llama-68M is not.

The samples are cached like offline KD data (resumable parts under the checkpoint root), and the
fine-tuning resumes from its checkpoint, so a killed run picks up where it stopped.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from suite.acceptance import sample_continuations
from suite.data import Example, extract_answer, load_examples
from suite.distill.loop import train, train_config, under_checkpoints
from suite.distill.offline import (
    KDData,
    KDRequest,
    ResponseBatches,
    collate,
    decoder_start,
    generate_kd_data,
    response_ce_loss,
    response_logits,
)
from suite.errors import SpecError
from suite.prompts import encode_texts
from suite.specs import MIN_TEMPERATURE, format_prompt, load_task
from suite.strict import whole
from suite.tokenizer_decode import decode_text

ALIGN_FIELDS = {
    "from": str,
    "rounds": int,
    "prompts_per_dataset": int,
    "max_prompt_tokens": int,
    "samples_per_prompt": int,
    "temperature": float,
    "max_new_tokens": int,
    "batch_size": int,
    "chunk_size": int,
    "eval_prompts": int,
    "train": dict,
}
OPTIONAL = {"rounds"}  # default 1
# Each size is bounded (the bundled recipes use a few to a few hundred of each): samples and
# batches are held in memory, and a temperature past 10 samples noise.
ALIGN_MAXIMA = {
    "rounds": 100,
    "prompts_per_dataset": 100_000,
    "max_prompt_tokens": 8_192,
    "samples_per_prompt": 64,
    "temperature": 10.0,
    "max_new_tokens": 8_192,
    "batch_size": 256,
    "chunk_size": 100_000,
    "eval_prompts": 100_000,
}


def check_align_spec(spec: dict, path: str, field: str) -> dict:
    """Every field present with the right type; errors name the file, the field and the value."""
    if not isinstance(spec, dict):
        raise SpecError(path, field, spec, "expected a mapping")
    for key, kind in ALIGN_FIELDS.items():
        if key in OPTIONAL and key not in spec:
            continue
        value = spec.get(key)
        if kind is int and key in spec:  # a whole exponent number (2e0) is that integer
            value = spec[key] = whole(value)
        ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
        if value is None or isinstance(value, bool) or not ok:
            raise SpecError(path, f"{field}.{key}", value, f"expected {kind.__name__}")
        if kind in (int, float) and not value > 0:
            raise SpecError(path, f"{field}.{key}", value, "must be > 0")
        most = ALIGN_MAXIMA.get(key)
        if most is not None and not value <= most:  # finite, and no larger than a sane run's
            raise SpecError(path, f"{field}.{key}", value, f"must be at most {most:,}")
    unknown = sorted(set(spec) - set(ALIGN_FIELDS))
    if unknown:
        raise SpecError(path, f"{field}.{unknown[0]}", spec[unknown[0]], "unknown field")
    if spec["temperature"] < MIN_TEMPERATURE:  # the sampler's floor, as for every temperature
        message = f"must be at least {MIN_TEMPERATURE:g} (MIN_TEMPERATURE)"
        raise SpecError(path, f"{field}.temperature", spec["temperature"], message)
    return spec


_WORD = re.compile(r"\w+")


def token_f1(response: str, reference: str) -> float:
    """SQuAD-style F1 over lower-cased word tokens: overlap with the reference, order ignored."""
    got = Counter(_WORD.findall(response.lower()))
    want = Counter(_WORD.findall(reference.lower()))
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Reward:
    """A response's reward, ordered: finished first, then a correct answer, then F1."""

    finished: bool
    correct: bool
    f1: float

    def key(self) -> tuple:
        return (self.finished, self.correct, self.f1)


def reward(example: Example, text: str, finished: bool, dataset: str) -> Reward:
    spec = load_task(dataset)
    correct = (
        example.answer is not None
        and spec.answer is not None
        and extract_answer(spec, text) == example.answer
    )
    return Reward(finished, bool(correct), token_f1(text, example.reference or ""))


def alignment_pool(tokenizer, dataset: str, size: int, max_prompt_tokens: int, seed: int):
    """The first ``size`` training examples of a seeded permutation whose prompt fits."""
    examples = [ex for ex in load_examples(dataset, "train") if ex.reference]
    pool = []
    for i in np.random.default_rng(seed).permutation(len(examples)):
        text = format_prompt(examples[i].instruction)
        ids = encode_texts(tokenizer, [text])[0]
        if len(ids) <= max_prompt_tokens:
            pool.append((examples[i], tuple(ids)))
        if len(pool) == size:
            return pool
    raise ValueError(f"{dataset}: only {len(pool)} training prompts fit {max_prompt_tokens} tokens")


def best_of_n(data: KDData, pool, tokenizer, dataset: str) -> tuple[KDData, dict]:
    """One response per prompt: the best of its samples by ``reward`` (first on ties)."""
    eos = tokenizer.eos_token_id
    best: dict[int, tuple[tuple, int]] = {}
    for k, (i, tokens) in enumerate(zip(data.prompt_index, data.responses, strict=True)):
        finished = bool(tokens) and tokens[-1] == eos
        text = decode_text(tokenizer, list(tokens), skip_special_tokens=True)
        key = reward(pool[i][0], text, finished, dataset).key()
        if i not in best or key > best[i][0]:
            best[i] = (key, k)
    chosen = [best[i] for i in sorted(best)]
    kept = KDData(
        prompts=data.prompts,
        prompt_index=tuple(data.prompt_index[k] for _, k in chosen),
        responses=tuple(data.responses[k] for _, k in chosen),
        temperatures=tuple(data.temperatures[k] for _, k in chosen),
    )
    summary = {
        "prompts": len(chosen),
        "finished": float(np.mean([key[0] for key, _ in chosen])),
        "correct": float(np.mean([key[1] for key, _ in chosen])),
        "f1": float(np.mean([key[2] for key, _ in chosen])),
    }
    return kept, summary


def concat(sets: list[KDData]) -> KDData:
    """Several datasets' selections as one training set (prompt indices shifted)."""
    prompts, index, responses, temps = [], [], [], []
    for data in sets:
        offset = len(prompts)
        prompts.extend(data.prompts)
        index.extend(offset + i for i in data.prompt_index)
        responses.extend(data.responses)
        temps.extend(data.temperatures)
    return KDData(tuple(prompts), tuple(index), tuple(responses), tuple(temps))


def align(
    model,
    tokenizer,
    spec: dict,
    datasets: list[str],
    *,
    seed: int,
    name: str,
    source_sha,
    where: tuple[str, str] | None = None,
    role: str = "target",
):
    """Fine-tune ``model`` (the pretrained target) in place on its best-of-n responses, for
    ``rounds`` rounds (expert iteration): round r samples from the model round r - 1 made, on a
    prompt pool of its own (seed + r), and fine-tunes it further. ``where`` (recipe, field)
    names a training loss that turns NaN. Its checkpoints are the ``role``'s own
    (``<role>-align``, ``<role>-align-r2``, ...)."""
    rounds = []
    sha = source_sha
    for r in range(spec.get("rounds", 1)):
        rounds.append(
            align_round(model, tokenizer, spec, datasets, seed + r, name, sha, r, where, role)
        )
        sha = state_sha256(model)
    last = rounds[-1]
    return {
        "rounds": rounds,
        "data_sha256": last["data_sha256"],
        "steps": sum(r["steps"] for r in rounds),
        "train_loss": last["train_loss"],
        "train_seconds": sum(r["train_seconds"] for r in rounds),
    }


def align_round(
    model,
    tokenizer,
    spec,
    datasets,
    seed: int,
    name: str,
    sha: str,
    r: int,
    where=None,
    role: str = "target",
) -> dict:
    cfg = train_config(spec["train"], f"{name} align.train")
    selections, facts = [], {}
    for dataset in datasets:
        pool = alignment_pool(
            tokenizer, dataset, spec["prompts_per_dataset"], spec["max_prompt_tokens"], seed
        )
        request = KDRequest(
            target_sha=sha,
            dataset=f"align-{dataset}",
            kd_temperature=spec["temperature"],
            samples_per_prompt=spec["samples_per_prompt"],
            max_new_tokens=spec["max_new_tokens"],
            seed=seed,
            eos_token_id=tokenizer.eos_token_id,
            chunk_size=spec["chunk_size"],
        )
        prompts = [ids for _, ids in pool]
        samples = generate_kd_data(model, prompts, request, batch_size=spec["batch_size"])
        kept, facts[dataset] = best_of_n(samples, pool, tokenizer, dataset)
        selections.append(kept)
    data = concat(selections)
    pad, start = tokenizer.pad_token_id, decoder_start(model)
    batches = ResponseBatches(data, cfg.batch_size, seed, pad, start)
    ckpt = under_checkpoints(name, f"{role}-align" if r == 0 else f"{role}-align-r{r + 1}")
    summary = train(
        model, cfg, batches, response_ce_loss, ckpt, desc=f"align round {r + 1}", where=where
    )
    return {
        "selected": facts,
        "sequences": len(data),
        "data_sha256": data.sha256(),
        "sampled_from_sha256": sha,
        **summary,
    }


def state_sha256(model) -> str:
    """A hash of a model's current weights (names and bytes): keys the next round's samples."""
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def heldout_continuations(
    model, tokenizer, dataset: str, limit: int, temperature: float, tokens: int
):
    """The first ``limit`` test examples of ``dataset`` (with a reference), their prompts, and
    one continuation of each sampled from ``model`` at ``temperature`` (seed 0)."""
    examples = [ex for ex in load_examples(dataset, "test") if ex.reference][:limit]
    texts = [format_prompt(ex.instruction) for ex in examples]
    prompts = [ids[-512:] for ids in encode_texts(tokenizer, texts)]
    conts = sample_continuations(
        model,
        prompts,
        temperature=temperature,
        max_new_tokens=tokens,
        seed=0,
        eos_token_id=tokenizer.eos_token_id,
        batch_size=16,
    )
    return examples, prompts, conts.tokens


@torch.no_grad()
def greedy_quality(model, tokenizer, datasets: list[str], limit: int, max_new_tokens: int) -> dict:
    """Held-out quality of greedy responses, the measure that fits an aligned model: token F1
    with the reference answer (and GSM8K final-answer accuracy), on each dataset's test split.
    Held-out loss on the references would not fit: alignment moves a model away from them."""
    out = {}
    for dataset in datasets:
        examples, _, tokens = heldout_continuations(
            model, tokenizer, dataset, limit, 0.0, max_new_tokens
        )
        scores = [
            reward(ex, decode_text(tokenizer, list(t), skip_special_tokens=True), True, dataset)
            for ex, t in zip(examples, tokens, strict=True)
        ]
        out[dataset] = {
            "f1": float(np.mean([s.f1 for s in scores])),
            "accuracy": float(np.mean([s.correct for s in scores])),
            "prompts": len(scores),
        }
    return out


@torch.no_grad()
def own_entropy(target, others: dict, tokenizer, datasets, limit: int, max_new_tokens: int) -> dict:
    """Mean next-token entropy (nats) at τ = 1 of the target on its own τ = 1 continuations of
    each dataset's test prompts, and of each model in ``others`` on the same continuations."""
    out = {}
    for dataset in datasets:
        _, prompts, tokens = heldout_continuations(
            target, tokenizer, dataset, limit, 1.0, max_new_tokens
        )
        rows = [(p, t) for p, t in zip(prompts, tokens, strict=True) if t]
        sums = {name: 0.0 for name in ["target", *others]}
        count = 0
        for start in range(0, len(rows), 16):
            batch = collate(rows[start : start + 16], tokenizer.pad_token_id, decoder_start(target))
            mask = batch["loss_mask"]
            for name, model in [("target", target), *others.items()]:
                logp = response_logits(model, batch)[mask].float().log_softmax(-1)
                sums[name] += float(-(logp.exp() * logp).sum())
            count += int(mask.sum())
        out[dataset] = {name: total / max(1, count) for name, total in sums.items()}
    return out


def source_folder(folder: Path, spec: dict, path: str) -> Path:
    """The pretrained stage ``folder`` the alignment starts from, refused when not built."""
    if not (folder / "training.json").is_file():
        raise SpecError(path, "align.from", spec["from"], f"no trained model in {folder}")
    return folder
