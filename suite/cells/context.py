"""What a worker holds besides its cells: the profile, the models it loaded, c, provenance.

Models and tokenizers are cached per process (a Ray actor keeps them between units), and c is
measured once per (target, draft architecture).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import torch
import transformers

from suite.data import load_examples
from suite.models import check_finite_logits, load_model, load_tokenizer
from suite.paths import portable_path
from suite.profiles import ModelRef, Profile
from suite.prompts import ensure_pad, prompt_format
from suite.provenance import code_version, hardware, packages
from suite.records import ModelProvenance, Provenance
from suite.specs import load_task
from suite.tokenizer_decode import decode_texts

transformers.utils.logging.disable_progress_bar()
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Context:
    """What a worker needs besides the cells: the profile (models, sizes) and model hashes."""

    profile: Profile
    fingerprints: dict[str, str]  # model location -> sha256 (or Hub id@revision)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


# Loaded models and tokenizers are cached per process by location and fingerprint (the sha256
# of the folder's files): a folder whose files change is loaded again.
@functools.lru_cache(maxsize=64)
def _model(location: str, revision: str | None, dtype: str, device: str, fingerprint: str | None):
    """A model on the profile's device and dtype, refused naming it when it gives NaN or
    infinite logits there (a finite model in float32 may overflow in float16)."""
    model = load_model(location, dtype=_DTYPES[dtype], revision=revision).to(device)
    check_finite_logits(model, location)
    return model


@functools.lru_cache(maxsize=8)
def _tokenizer(location: str, revision: str | None, fingerprint: str | None):
    return ensure_pad(load_tokenizer(location, revision=revision))


# c per (target, draft architecture), measured once per process: drafts of one architecture cost
# the same per token, and timing each checkpoint apart turned clock noise into differences
# between drafts (0.065, 0.097 and 0.18 for one architecture in one smoke run).
_COST_RATIOS: dict[tuple, dict] = {}
COST_ROUNDS = 10


def architecture(model) -> str:
    """The draft's architecture: its config without names, paths and versions."""
    config = model.config.to_diff_dict()
    for key in ("_name_or_path", "name_or_path", "transformers_version", "torch_dtype", "dtype"):
        config.pop(key, None)
    return json.dumps(config, sort_keys=True, default=str)


def _cost_ratio(target: ModelRef, draft: ModelRef, dtype: str, device: str, prints) -> float:
    """c of the draft's architecture against the target: the median over paired rounds of
    blocked repeats (``torch.utils.benchmark``, :func:`suite.timing.blocked_cost_ratio`)."""
    from suite.timing import blocked_cost_ratio

    target_model = _model(target.location, target.revision, dtype, device, prints(target))
    draft_model = _model(draft.location, draft.revision, dtype, device, prints(draft))
    key = (target, prints(target), architecture(draft_model), dtype, device)
    if key not in _COST_RATIOS:
        _COST_RATIOS[key] = blocked_cost_ratio(
            target_model, draft_model, context_tokens=32, rounds=COST_ROUNDS
        )
    return _COST_RATIOS[key]["cost_ratio"]


@functools.lru_cache(maxsize=8)
def _token_chars(location: str, revision: str | None, fingerprint: str | None) -> np.ndarray:
    """Characters of each vocabulary entry's decoded text, surrounding whitespace stripped."""
    tokenizer = _tokenizer(location, revision, fingerprint)
    texts = decode_texts(tokenizer, [[i] for i in range(len(tokenizer))])
    return np.array([len(text.strip()) for text in texts])


@functools.lru_cache(maxsize=32)
def examples_of(dataset: str, split: str, prompts: int):
    """A cell's prompts, loaded once per process."""
    return load_examples(dataset, split, limit=prompts)


class Models:
    """Loads models of one family once per process, on the profile's device and dtype."""

    def __init__(self, ctx: Context, family: str):
        self.ctx = ctx
        self.family = ctx.profile.models[family]
        self.device = resolve_device(ctx.profile.device)
        self.dtype = ctx.profile.dtype

    def fingerprint(self, ref: ModelRef) -> str | None:
        return self.ctx.fingerprints.get(ref.location)

    def load(self, ref: ModelRef):
        return _model(ref.location, ref.revision, self.dtype, self.device, self.fingerprint(ref))

    def target(self):
        return self.load(self.family.target)

    def draft(self, name: str):
        return self.load(self.family.drafts[name])

    def tokenizer(self):
        ref = self.family.tokenizer
        return _tokenizer(ref.location, ref.revision, self.fingerprint(ref))

    def token_chars(self) -> np.ndarray:
        ref = self.family.tokenizer
        return _token_chars(ref.location, ref.revision, self.fingerprint(ref))

    def cost_ratio(self, name: str) -> float:
        draft = self.family.drafts[name]
        return _cost_ratio(self.family.target, draft, self.dtype, self.device, self.fingerprint)

    def provenance(self, draft: str, dataset: str) -> Provenance:
        fp = self.ctx.fingerprints
        refs = {
            "tokenizer": self.family.tokenizer,
            "target": self.family.target,
            "draft": self.family.drafts[draft],
        }
        code = code_version()
        return Provenance(
            git_commit=code["git_commit"],
            git_dirty=code["git_dirty"],
            packages=packages(),
            hardware=hardware(self.device) | {"dtype": self.dtype},  # what the numbers ran in
            profile=self.ctx.profile.name,
            prompt_format=prompt_format(self.tokenizer()),
            task=load_task(dataset).sha256,
            models={
                role: ModelProvenance(portable_location(ref), fp.get(ref.location))
                for role, ref in refs.items()
            },
        )


def portable_location(ref: ModelRef) -> str:
    """Bundle paths relative to the repository, so records do not depend on the checkout path."""
    if ref.path is None:
        return f"{ref.hub}@{ref.revision or 'main'}"
    return portable_path(ref.shown if ref.shown is not None else ref.path)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
