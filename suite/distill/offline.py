"""Offline KD (SeqKD): the target samples responses at τ_kd once; the draft learns them with CE.

A KD set is generated once per (dataset, τ_kd) and cached outside the repository under
``checkpoint_root()/kd-data``, keyed by a hash of everything that decides its tokens (target
weights, dataset, τ_kd, seed, sizes, prompts; the target's device and dtype where they are not
CPU float32). Generation runs in parts, each written atomically, so a killed run resumes at the
first missing part and produces the same tokens. For an encoder-decoder target (T5) the prompt
is the encoder's input and the response its decoder's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from suite.acceptance import right_pad, sample_continuations
from suite.decoding.plumbing import decoder_start_token_id, is_encoder_decoder
from suite.decoding.sampling import check_temperature
from suite.distill.loop import under_checkpoints
from suite.distill.order import SeededOrder
from suite.distill.precision import model_device, to_device
from suite.errors import SpecError
from suite.io import write_json_atomic
from suite.seeding import prompt_seed
from suite.strict import read_json, same_json

DEFAULT_TARGET_PRECISION = "cpu/float32"


@dataclass(frozen=True)
class KDData:
    """Training sequences: for each, the prompt it answers and the response the target sampled."""

    prompts: tuple[tuple[int, ...], ...]  # the prompt pool
    prompt_index: tuple[int, ...]  # per sequence: which prompt
    responses: tuple[tuple[int, ...], ...]  # per sequence: the target's tokens (EOS kept)
    temperatures: tuple[float, ...]  # per sequence: the τ_kd it was sampled at

    def __len__(self) -> int:
        return len(self.responses)

    def to_json(self) -> dict:
        return {
            "prompts": [list(p) for p in self.prompts],
            "prompt_index": list(self.prompt_index),
            "responses": [list(r) for r in self.responses],
            "temperatures": list(self.temperatures),
        }

    @classmethod
    def from_json(cls, raw: dict) -> KDData:
        return cls(
            prompts=tuple(tuple(p) for p in raw["prompts"]),
            prompt_index=tuple(raw["prompt_index"]),
            responses=tuple(tuple(r) for r in raw["responses"]),
            temperatures=tuple(float(t) for t in raw["temperatures"]),
        )

    def sha256(self) -> str:
        """Hash of the token data itself: what ``training.json`` records as the data sha256."""
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()


def format_temperature(kd_temperature: float) -> str:
    """0.4 -> '0.4', 1 -> '1.0', 0.25 -> '0.25': the spelling used in names and cache folders."""
    text = f"{float(kd_temperature):.2f}"
    return text[:-1] if text.endswith("0") else text


def tokens_sha256(sequences: Sequence[Sequence[int]]) -> str:
    return hashlib.sha256(json.dumps([list(s) for s in sequences]).encode()).hexdigest()


@dataclass(frozen=True)
class KDRequest:
    """Everything that decides a KD set's tokens besides the prompts and the target's precision.

    Batch size is left out: seeds are per prompt. Greedy decoding (τ_kd = 0) has one answer per
    prompt, so it takes one sample; τ_kd > 0 takes ``samples_per_prompt``.
    """

    target_sha: str
    dataset: str
    kd_temperature: float
    samples_per_prompt: int
    max_new_tokens: int
    seed: int
    eos_token_id: int | None
    chunk_size: int = 256

    def __post_init__(self) -> None:
        tau = check_temperature(self.kd_temperature, "kd_temperature")
        object.__setattr__(self, "kd_temperature", tau)

    @property
    def samples(self) -> int:
        return 1 if self.kd_temperature == 0 else int(self.samples_per_prompt)

    def key(
        self, prompts: Sequence[Sequence[int]], precision: str = DEFAULT_TARGET_PRECISION
    ) -> str:
        """The cache key; a target run in another precision than CPU float32 samples other
        tokens, so its precision joins the key (the default's keys are as they always were)."""
        fields = {
            "target_sha": self.target_sha,
            "dataset": self.dataset,
            "kd_temperature": self.kd_temperature,
            "seed": int(self.seed),
            "num_prompts": len(prompts),
            "prompts_sha": tokens_sha256(prompts),
            "samples": self.samples,
            "max_new_tokens": int(self.max_new_tokens),
            "chunk_size": int(self.chunk_size),
            "eos_token_id": self.eos_token_id,
        }
        if precision != DEFAULT_TARGET_PRECISION:
            fields["target_precision"] = precision
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def model_precision(model) -> str:
    """``cpu/float32``, ``cuda/bfloat16``: where and in what dtype a model's weights are."""
    weight = next(model.parameters())
    return f"{weight.device.type}/{str(weight.dtype).removeprefix('torch.')}"


def generate_kd_data(
    target,
    prompts: Sequence[Sequence[int]],
    request: KDRequest,
    *,
    batch_size: int = 32,
    cache_root: Path | None = None,
) -> KDData:
    """The target's responses to ``prompts`` as ``request`` asks, from the cache when it holds
    them. Part (round r, chunk c) seeds its prompts from (seed, r, c) only."""
    prompts = tuple(tuple(int(t) for t in p) for p in prompts)
    key = request.key(prompts, model_precision(target))
    tau = format_temperature(request.kd_temperature)
    root = cache_root if cache_root is not None else under_checkpoints("kd-data")
    folder = root / f"{request.dataset}-t{tau}-{key[:16]}"
    final = folder / "data.json"
    check = _CacheCheck(folder, prompts, request, _vocab(target))
    if folder.is_symlink():  # read and written only where the checkpoints are
        raise check.refuse(folder, None, str(folder), "a KD data folder that is a symbolic link")
    if final.exists() or final.is_symlink():
        return check.data(final, key)
    for made in (root, folder):  # a file in a folder's place: refused, not an OSError
        if made.exists() and not made.is_dir():
            raise check.refuse(made, None, str(made), "a KD data folder that is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    size = request.chunk_size
    chunks = [range(i, min(i + size, len(prompts))) for i in range(0, len(prompts), size)]
    parts = [(r, c) for r in range(request.samples) for c in range(len(chunks))]
    for r, c in tqdm(parts, desc=f"kd-data {request.dataset} t{tau}", dynamic_ncols=True):
        path = folder / f"part-{r:03d}-{c:05d}.json"
        if path.exists() or path.is_symlink():  # kept from an interrupted run: checked
            check.rows(path, len(chunks[c]))
        else:
            out = sample_continuations(
                target,
                [prompts[i] for i in chunks[c]],
                temperature=request.kd_temperature,
                max_new_tokens=request.max_new_tokens,
                seed=prompt_seed(prompt_seed(request.seed, r), c),
                eos_token_id=request.eos_token_id,
                batch_size=batch_size,
            )
            write_json_atomic(path, [list(t) for t in out.tokens], indent=None)
    return _assemble(folder, prompts, chunks, parts, request.kd_temperature, key, check)


_DATA_FIELDS = ("key", "prompts", "prompt_index", "responses", "temperatures")
MAX_KD_CACHE_BYTES = 4 << 30  # one cached file of sampled responses, whatever its request
_TOKEN_CHARS = 12  # a token id as JSON writes it in a list (", 4294967295"), with room to spare
_ROW_CHARS = 32  # a row's own brackets, an index or a temperature (", 0.30000000000000004")


def _vocab(target) -> int | None:
    size = getattr(getattr(target, "config", None), "vocab_size", None)
    return size if isinstance(size, int) and not isinstance(size, bool) else None


@dataclass(frozen=True)
class _CacheCheck:
    """The KD data cache (under the checkpoints) read as strictly as a checkpoint: a regular
    file of strict JSON, made for this request (its key, its prompts, its temperature), every
    response a list of token ids below the target's vocabulary and at most ``max_new_tokens``
    long; anything else is one error naming the file and how to regenerate it."""

    folder: Path
    prompts: tuple
    request: KDRequest
    vocab: int | None

    def refuse(self, path: Path, field: str | None, value, why: str) -> SpecError:
        how = f"delete the folder {self.folder} to sample the data again"
        return SpecError(path, field, value, f"{why}; {how}")

    def _bytes(self, responses: int, prompts: bool) -> int:
        """The most bytes a file holding ``responses`` responses (and the prompt pool, for
        ``data.json``) of this request can take, twice over: reading a file never costs more
        memory than the data it should hold."""
        row = self.request.max_new_tokens * _TOKEN_CHARS + 3 * _ROW_CHARS
        size = responses * row
        if prompts:
            size += sum(len(p) * _TOKEN_CHARS + _ROW_CHARS for p in self.prompts)
        return min(MAX_KD_CACHE_BYTES, 2 * size + (64 << 10))

    def _read(self, path: Path, limit: int):
        try:
            return read_json(path, "KD data", limit, nofollow=True)
        except SpecError as err:
            raise self.refuse(path, err.field, err.value, err.message) from None

    def rows(self, path: Path, count: int, raw=None, field: str = "") -> list[tuple[int, ...]]:
        raw = self._read(path, self._bytes(count, False)) if raw is None else raw
        if not isinstance(raw, list) or len(raw) != count:
            size = len(raw) if isinstance(raw, list) else type(raw).__name__
            raise self.refuse(path, field or "(document)", size, f"expected {count} responses")
        longest = self.request.max_new_tokens
        for i, row in enumerate(raw):
            ok = isinstance(row, list) and 1 <= len(row) <= longest and all(
                isinstance(t, int) and not isinstance(t, bool) and t >= 0
                and (self.vocab is None or t < self.vocab)
                for t in row
            )  # fmt: skip
            if not ok:
                message = (
                    f"expected 1 to {longest} token ids below the target's vocabulary (a "
                    "response holds at least the token that ends it)"
                )
                raise self.refuse(path, f"{field}[{i}]" if field else f"[{i}]", "...", message)
            eos = self.request.eos_token_id  # sampling stops at EOS (kept) or max_new_tokens
            if eos is not None and (eos in row[:-1] or (row[-1] != eos and len(row) < longest)):
                message = (
                    f"not a sampled response: it stops at its EOS ({eos}) or at {longest} tokens"
                )
                raise self.refuse(path, f"{field}[{i}]" if field else f"[{i}]", "...", message)
        return [tuple(row) for row in raw]

    def data(self, path: Path, key: str) -> KDData:
        raw = self._read(path, self._bytes(len(self.prompts) * self.request.samples, True))
        if not isinstance(raw, dict) or raw.get("key") != key:
            value = raw.get("key") if isinstance(raw, dict) else type(raw).__name__
            raise self.refuse(path, "key", value, "not the data of this request")
        for field in raw:  # exactly what _assemble writes
            if field not in _DATA_FIELDS:
                message = f"unknown field; known: {', '.join(_DATA_FIELDS)}"
                raise self.refuse(path, field[:200], "...", message)
        # type for type (true is not 1, 0.0 is not 0): the cache's own values, as written
        if not same_json(raw.get("prompts"), [[int(t) for t in p] for p in self.prompts]):
            raise self.refuse(path, "prompts", "...", "not this request's prompt pool")
        # every prompt answered once per sample, in the order the request samples them
        expected = list(range(len(self.prompts))) * self.request.samples
        stated = raw.get("responses")
        if not isinstance(stated, list):
            raise self.refuse(path, "responses", stated, "expected a list of responses")
        responses = self.rows(path, len(expected), stated, "responses")
        if not same_json(raw.get("prompt_index"), expected):
            message = "expected each prompt once per sample, in the order they are sampled"
            raise self.refuse(path, "prompt_index", "...", message)
        taus = raw.get("temperatures")
        if not same_json(taus, [float(self.request.kd_temperature)] * len(responses)):
            raise self.refuse(path, "temperatures", "...", "not this request's temperature")
        return KDData(self.prompts, tuple(expected), tuple(responses), tuple(taus))


def _assemble(
    folder: Path, prompts, chunks, parts, kd_temperature: float, key: str, check: _CacheCheck
) -> KDData:
    """Join the parts into one ``data.json`` (written atomically), then remove the parts."""
    index, responses = [], []
    for r, c in parts:
        rows = check.rows(folder / f"part-{r:03d}-{c:05d}.json", len(chunks[c]))
        index.extend(chunks[c])
        responses.extend(tuple(row) for row in rows)
    data = KDData(prompts, tuple(index), tuple(responses), (kd_temperature,) * len(responses))
    write_json_atomic(folder / "data.json", data.to_json() | {"key": key}, indent=None)
    for r, c in parts:
        (folder / f"part-{r:03d}-{c:05d}.json").unlink(missing_ok=True)
    return data


def compose_kd_data(sets: Mapping[float, KDData], seed: int) -> KDData:
    """Our reading of the paper's data-centric recipe: each sequence from one drawn τ_kd.

    Sequence j takes sequence j of the set at a temperature drawn uniformly (seeded), so the mix
    has as many sequences as one set and every prompt keeps its share: the budget is unchanged.
    """
    temperatures = sorted(sets)
    first = sets[temperatures[0]]
    for t in temperatures[1:]:
        if sets[t].prompt_index != first.prompt_index or sets[t].prompts != first.prompts:
            raise ValueError(
                f"KD sets at τ_kd {temperatures[0]} and {t} differ in prompts or samples per "
                "prompt; the recipe composes sets of the same layout"
            )
    draws = np.random.default_rng(seed).integers(0, len(temperatures), size=len(first))
    chosen = [temperatures[int(k)] for k in draws]
    responses = tuple(sets[t].responses[j] for j, t in enumerate(chosen))
    return KDData(first.prompts, first.prompt_index, responses, tuple(chosen))


class ResponseBatches:
    """Batch of step s = sequences at positions s·B … s·B+B−1 of a per-epoch seeded permutation.

    A pure function of the step, so a resumed run sees the same batches. Rows are right-padded;
    ``loss_mask`` marks the positions whose logits predict a response token. With
    ``decoder_start_token_id`` (an encoder-decoder) rows are collated for the encoder and decoder.
    """

    def __init__(
        self,
        data: KDData,
        batch_size: int,
        seed: int,
        pad_token_id: int = 0,
        decoder_start_token_id: int | None = None,
    ):
        if not len(data):
            raise ValueError("KD data holds no sequences")
        self.data, self.batch_size, self.pad = data, batch_size, pad_token_id
        self.start = decoder_start_token_id
        self.order = SeededOrder(len(data), seed)

    def __call__(self, step: int) -> dict[str, torch.Tensor]:
        data = self.data
        rows = [
            (data.prompts[data.prompt_index[k]], data.responses[k])
            for k in self.order(step, self.batch_size)
        ]
        return collate(rows, self.pad, self.start)


def decoder_start(model) -> int | None:
    """The decoder start token of an encoder-decoder model; None for a decoder-only one."""
    return decoder_start_token_id(model) if is_encoder_decoder(model) else None


def collate(
    rows: Sequence[tuple[Sequence[int], Sequence[int]]],
    pad_token_id: int = 0,
    decoder_start_token_id: int | None = None,
) -> dict:
    """(prompt, response) pairs -> right-padded model inputs, ``labels`` and ``loss_mask``.

    Decoder-only: ``input_ids`` = prompt + response; ``loss_mask[b, t]`` is true where logits at t
    predict a response token (t + 1 in the response), and ``labels`` = ``input_ids[:, 1:]``.
    Encoder-decoder (``decoder_start_token_id`` given): the prompt is the encoder's input, the
    decoder reads [start] + response[:-1], and its logits at t predict ``labels[b, t]``.
    """
    if decoder_start_token_id is not None:
        return _collate_seq2seq(rows, pad_token_id, decoder_start_token_id)
    width = max(len(p) + len(r) for p, r in rows)
    ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    loss_mask = torch.zeros((len(rows), width - 1), dtype=torch.bool)
    for b, (prompt, response) in enumerate(rows):
        seq = list(prompt) + list(response)
        ids[b, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attn[b, : len(seq)] = 1
        loss_mask[b, len(prompt) - 1 : len(seq) - 1] = True
    return {"input_ids": ids, "attention_mask": attn, "labels": ids[:, 1:], "loss_mask": loss_mask}


def _collate_seq2seq(rows, pad_token_id: int, start: int) -> dict:
    ids, attn = right_pad([p for p, _ in rows], pad_token_id)
    dec_ids, dec_attn = right_pad([(start, *r[:-1]) for _, r in rows], pad_token_id)
    labels, loss_mask = right_pad([r for _, r in rows], pad_token_id)
    return {
        "input_ids": ids,
        "attention_mask": attn,
        "decoder_input_ids": dec_ids,
        "decoder_attention_mask": dec_attn,
        "labels": labels,
        "loss_mask": loss_mask.bool(),
    }


def response_logits(model, batch: dict) -> torch.Tensor:
    """Logits aligned with ``batch['labels']`` and ``batch['loss_mask']``, either kind of model."""
    if "decoder_input_ids" in batch:
        keys = ("input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask")
        return model(**{k: batch[k] for k in keys}).logits
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return logits[:, :-1]


def response_ce_loss(model, batch: dict) -> torch.Tensor:
    """Mean cross-entropy on response tokens only: the prompt is given, not learned."""
    logits = response_logits(model, batch).float()
    nll = F.cross_entropy(logits.transpose(1, 2), batch["labels"], reduction="none")
    mask = batch["loss_mask"]
    return (nll * mask).sum() / mask.sum().clamp_min(1)


@torch.no_grad()
def response_ce(model, data: KDData, batch_size: int = 16, pad_token_id: int = 0) -> float:
    """Mean nats per response token of ``model`` on all of ``data`` (token-weighted)."""
    total, count = 0.0, 0
    for start in range(0, len(data), batch_size):
        ks = range(start, min(start + batch_size, len(data)))
        rows = [(data.prompts[data.prompt_index[k]], data.responses[k]) for k in ks]
        batch = to_device(collate(rows, pad_token_id, decoder_start(model)), model_device(model))
        tokens = int(batch["loss_mask"].sum())
        total += float(response_ce_loss(model, batch)) * tokens
        count += tokens
    return total / max(1, count)
