"""Our decoders as the lm-eval model ``specdec``: lm-eval builds requests and scores, we sample.

With a draft, every generation goes through ``speculative_generate``; without one, the target
samples alone through ``autoregressive_generate``. Both share one sampling function, so the two
conditions differ only in how tokens are proposed, never in the distribution they come from.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import lm_eval.models  # noqa: F401  (lm-eval's own models stay reachable once ours is registered)
import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm import tqdm

from suite.decoding import GenerationStats, generate_named
from suite.decoding.plumbing import check_pair, vocab_size
from suite.decoding.sampling import check_temperature
from suite.lm_eval_args import MODEL_NAME, SPECDEC_ARGS, check_numbers_as_written
from suite.models import check_weights_folder, load_causal_lm, load_tokenizer
from suite.prompts import model_prompt_ids
from suite.seeding import SEED_LIMIT, prompt_seed
from suite.specs import DEFAULT_MAX_NEW_TOKENS, MAX_DRAFT_TOKENS, MAX_NEW_TOKENS
from suite.tokenizer_decode import decode_text

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
# Sampling is fixed by the model's own arguments: a task asking for greedy decoding must not
# silently turn a τ_dec = 0.7 run into a greedy one, so these request keys are ignored, once noted.
USED_GEN_KWARGS = frozenset({"until", "max_gen_toks"})  # every other one is logged as ignored
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# The decoder's counts for the latest generation of each document, by the document's own id:
# lm-eval's process_results hook sees the document and the text only, so the hooks of our exported
# tasks (suite.lm_eval_hooks) read α and the accepted length from here.
DOC_STATS: dict[str, DocStats] = {}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestRecord:
    """One generation as the decoder saw it: enough to pair conditions prompt by prompt."""

    index: int
    task: str | None
    doc_id: int | None
    seed: int
    prompt_tokens: int
    tokens: tuple[int, ...]
    text: str
    finish_reason: str
    steps: int
    proposed: int
    accepted: int


@dataclass
class DocStats:
    """Sums over the generations of one document (more than one when the task repeats it)."""

    steps: int = 0
    proposed: int = 0
    accepted: int = 0
    tokens: int = 0

    def add(self, stats: GenerationStats) -> None:
        """Count one generation's steps, proposed and accepted drafts and emitted tokens."""
        self.steps += stats.steps
        self.proposed += stats.proposed
        self.accepted += stats.accepted
        self.tokens += stats.tokens_emitted


@dataclass
class DecoderTotals(DocStats):
    """Running sums over every request served; acceptance is accepted / proposed."""

    requests: int = 0

    def add(self, stats: GenerationStats) -> None:
        self.requests += 1
        super().add(stats)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.proposed if self.proposed else float("nan")

    def to_dict(self) -> dict:
        return {
            "requests": self.requests,
            "steps": self.steps,
            "proposed": self.proposed,
            "accepted": self.accepted,
            "tokens": self.tokens,
            "acceptance_rate": None if self.proposed == 0 else self.acceptance_rate,
        }


_ASCII_INTEGER = re.compile(r"-?[0-9]{1,30}")


def _int_arg(value, name: str, minimum: int, maximum: int | None = None) -> int:
    """Integers from lm-eval's arg strings arrive as int; from a dict they may be digit strings."""
    if isinstance(value, str) and _ASCII_INTEGER.fullmatch(value.strip()):
        value = int(value)  # ASCII digits only: '٤'.isdigit() and int('٤') is 4
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{MODEL_NAME}: {name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        message = f"{name} must be an integer from {minimum} to {maximum}, got {value!r}"
        raise ValueError(f"{MODEL_NAME}: {message}")
    return value


def _text_arg(value, name: str) -> None:
    """A model arg that names a folder or a dtype is text: JSON ``--model_args`` and a
    ``--config`` mapping can give a list or a mapping."""
    if value is not None and not isinstance(value, str):
        kind = type(value).__name__
        raise ValueError(f"{MODEL_NAME}: {name}={value!r:.80}: expected text, got {kind}")


def _folder_arg(value, name: str) -> Path:
    _text_arg(value, name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(
            f"{MODEL_NAME}: {name} is required (a save_pretrained folder), got {value!r}"
        )
    check_weights_folder(value, field=name)
    return Path(value)


_CUDA_DEVICE = re.compile(r"cuda(?::([0-9]{1,4}))?", re.ASCII)


def pick_device(device) -> torch.device:
    """``cpu`` (the default), ``cuda``/``cuda:N`` (N in ASCII digits, below the device count
    where CUDA is available), or ``auto``: the GPU when there is one.

    A CUDA device on a machine without one falls back to the CPU, with a warning; any other
    value is a ValueError naming the model arg (torch's own parser raised RuntimeError).
    """
    if device in (None, "", "cpu"):
        return torch.device("cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    shown = f"{MODEL_NAME}: model_args device={device!r}"
    match = _CUDA_DEVICE.fullmatch(device) if isinstance(device, str) else None
    if match is None:
        raise ValueError(f"{shown}: expected cpu, cuda, cuda:N (N a device number) or auto")
    if not torch.cuda.is_available():
        # lm-eval's command line asks for cuda:0 unless told; its own hf model falls back too.
        log.warning("%s but torch sees no CUDA device; using cpu", shown)
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if match.group(1) is not None and int(match.group(1)) >= count:
        raise ValueError(
            f"{shown}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )
    return torch.device(device)


def pick_dtype(dtype, device: torch.device) -> torch.dtype:
    """float32 on a CPU (half precision is slow there), bfloat16 on a GPU, unless told."""
    _text_arg(dtype, "dtype")
    if dtype in (None, "", "auto"):
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    if dtype not in DTYPES:
        raise ValueError(f"{MODEL_NAME}: dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def default_tokenizer(target: Path) -> Path:
    """The target's own folder if it holds a tokenizer, else a sibling ``tokenizer`` folder."""
    if any((target / name).is_file() for name in TOKENIZER_FILES):
        return target
    sibling = target.parent / "tokenizer"
    if sibling.is_dir():
        return sibling
    raise ValueError(
        f"{MODEL_NAME}: tokenizer not given and none found in target={str(target)!r} or its "
        f"sibling {str(sibling)!r}; pass tokenizer=<folder>"
    )


def _until(gen_kwargs: dict) -> tuple[str, ...]:
    """A request's stop strings, bounded as a task spec's (a task's YAML may state any)."""
    from suite.lm_eval_args import until_problem

    until = gen_kwargs.get("until") or ()
    if isinstance(until, str):
        until = (until,)
    if not isinstance(until, list | tuple) or not all(isinstance(s, str) for s in until):
        raise ValueError(
            f"{MODEL_NAME}: until must be a string or a list of strings, got {until!r}"
        )
    if problem := until_problem(list(until)):
        raise ValueError(f"{MODEL_NAME}: until: {problem}")
    return tuple(s for s in until if s)


def cut_at_stop(text: str, until: tuple[str, ...]) -> str:
    """lm-eval's convention: the text before the first occurrence of any stop string."""
    for stop in until:
        text = text.split(stop)[0]
    return text


@register_model(MODEL_NAME)
class SpecDecLM(LM):
    """Batch size 1, one request at a time; request i is sampled with ``prompt_seed(seed, i)``.

    Seeds follow the position in the request list lm-eval hands over, so repeats of one context
    (``repeats > 1``) are independent samples while a rerun with the same seed is identical.
    """

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None):
        from lm_eval import utils

        check_numbers_as_written(arg_string)  # before lm-eval reads 1e-400 as 0.0
        return cls.create_from_arg_obj(
            utils.simple_parse_args_string(arg_string), additional_config
        )

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict, additional_config: dict | None = None):
        """``--model_args`` with lm-eval's own options merged under them: lm-eval asks for
        ``device=cuda:0`` unless told, so a ``device`` in --model_args wins (lm-eval passed both
        as keywords, a traceback)."""
        extra = {k: v for k, v in (additional_config or {}).items() if v is not None}
        given = {**extra, **arg_dict}
        unknown = sorted(str(k) for k in given if k not in SPECDEC_ARGS)
        if unknown:  # before they are keywords: 'self' was a TypeError traceback
            known = ", ".join(SPECDEC_ARGS)
            raise ValueError(f"{MODEL_NAME}: unknown model_args key {unknown[0]!r}; known: {known}")
        return cls(**given)

    def __init__(
        self,
        target=None,
        draft=None,
        tokenizer=None,
        temperature=0.0,
        num_draft_tokens=4,
        seed=0,
        max_new_tokens=DEFAULT_MAX_NEW_TOKENS,
        batch_size=None,
        max_batch_size=None,
        device=None,
        dtype=None,
        **unknown,
    ) -> None:
        super().__init__()
        if unknown:  # lm-eval hands --model_args over as keywords: name the one not known
            known = "target, draft, tokenizer, temperature, num_draft_tokens, seed, max_new_tokens"
            name = sorted(unknown)[0]
            raise ValueError(f"{MODEL_NAME}: unknown model_args key {name!r}; known: {known}")
        self.temperature = check_temperature(temperature, f"{MODEL_NAME}: temperature")
        self.num_draft_tokens = _int_arg(num_draft_tokens, "num_draft_tokens", 1, MAX_DRAFT_TOKENS)
        self.seed = _int_arg(seed, "seed", 0, SEED_LIMIT - 1)
        self.max_new_tokens = _int_arg(max_new_tokens, "max_new_tokens", 1, MAX_NEW_TOKENS)
        if batch_size not in (None, 1, "1"):
            raise ValueError(f"{MODEL_NAME}: batch_size must be 1, got {batch_size!r}")
        self._device = pick_device(device)
        self.dtype = pick_dtype(dtype, self._device)
        self.target_path = _folder_arg(target, "target")
        self.draft_path = None if draft is None else _folder_arg(draft, "draft")
        if tokenizer is None:
            self.tokenizer_path = default_tokenizer(self.target_path)
        else:
            _text_arg(tokenizer, "tokenizer")
            self.tokenizer_path = Path(tokenizer)
            if not self.tokenizer_path.is_dir():
                raise ValueError(f"{MODEL_NAME}: tokenizer={tokenizer!r} is not a folder")
        self.target = self._load(self.target_path)
        self.draft = None if self.draft_path is None else self._load(self.draft_path)
        self.tokenizer = load_tokenizer(self.tokenizer_path)
        if self.draft is not None:
            check_pair(self.target, self.draft)
        if len(self.tokenizer) > vocab_size(self.target):
            raise ValueError(
                f"{MODEL_NAME}: tokenizer={str(self.tokenizer_path)!r} has {len(self.tokenizer)} "
                f"tokens, more than the target's {vocab_size(self.target)}"
            )
        self.eos_token_id = self._eos_token_id()
        self.max_length = int(getattr(self.target.config, "max_position_embeddings", 0) or 0)
        self.totals = DecoderTotals()
        self.records: list[RequestRecord] = []
        self._ignored_noted: set[str] = set()

    def _load(self, path: Path):
        return load_causal_lm(path, dtype=self.dtype).to(self._device)

    def _eos_token_id(self) -> int | None:
        eos = self.tokenizer.eos_token_id
        if eos is None:
            eos = getattr(self.target.config, "eos_token_id", None)
            eos = eos[0] if isinstance(eos, list | tuple) and eos else eos
        return eos if isinstance(eos, int) else None

    @property
    def method(self) -> str:
        return "target" if self.draft is None else "speculative"

    @property
    def tokenizer_name(self) -> str:
        return str(self.tokenizer_path)

    def get_model_info(self) -> dict:
        """Merged by ``simple_evaluate`` into ``results['config']``."""
        return {
            "specdec_method": self.method,
            "specdec_target": str(self.target_path),
            "specdec_draft": None if self.draft_path is None else str(self.draft_path),
            "specdec_tokenizer": str(self.tokenizer_path),
            "specdec_temperature": self.temperature,
            "specdec_num_draft_tokens": self.num_draft_tokens,
            "specdec_seed": self.seed,
            "specdec_device": str(self._device),
            "specdec_dtype": str(self.dtype).removeprefix("torch."),
        }

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(
            f"{MODEL_NAME} only generates (generate_until): loglikelihood requests, as in "
            "multiple-choice tasks, are not supported"
        )

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(
            f"{MODEL_NAME} only generates (generate_until): loglikelihood_rolling requests, as in "
            "perplexity tasks, are not supported"
        )

    def _note_ignored(self, gen_kwargs: dict) -> None:
        for key in sorted(set(gen_kwargs) - USED_GEN_KWARGS, key=str):  # each named once
            if key not in self._ignored_noted:
                self._ignored_noted.add(key)
                log.warning(
                    "%s: request asks for %s=%r; ignored, sampling uses temperature=%s",
                    MODEL_NAME,
                    key,
                    gen_kwargs[key],
                    self.temperature,
                )

    def _prompt_ids(self, context: str, budget: int) -> list[int]:
        room = self.max_length - budget
        if self.max_length and room < 1:
            raise ValueError(
                f"{MODEL_NAME}: max_gen_toks={budget} leaves no room for a prompt in the "
                f"target's {self.max_length} positions"
            )
        # the run's text and id caps, tokenizer errors named, every id one of the target's logits
        ids = model_prompt_ids(self.tokenizer, context, self.target, special=False, limit=0)
        if self.max_length:
            ids = ids[-room:]  # left-truncate, as lm-eval's HF model does
        if not ids:
            raise ValueError(f"{MODEL_NAME}: context {context!r} encodes to no tokens")
        return ids

    def generate_one(self, context: str, gen_kwargs: dict, index: int, request=None) -> str:
        """Generate for one request, record it, and return the text cut at the stop strings."""
        gen_kwargs = dict(gen_kwargs or {})
        self._note_ignored(gen_kwargs)
        until = _until(gen_kwargs)
        budget = _int_arg(
            gen_kwargs.get("max_gen_toks", self.max_new_tokens), "max_gen_toks", 1, MAX_NEW_TOKENS
        )
        ids = self._prompt_ids(context, budget)
        seed = prompt_seed(self.seed, index)
        common = {
            "temperature": self.temperature,
            "max_new_tokens": budget,
            "seed": seed,
            "eos_token_id": self.eos_token_id,
            "stop_strings": until,
            "tokenizer": self.tokenizer,
        }
        out = generate_named(
            self.target_path,
            self.draft_path,
            self.target,
            self.draft,
            ids,
            num_draft_tokens=self.num_draft_tokens,
            **common,
        )
        text = decode_text(self.tokenizer, out.tokens, skip_special_tokens=True)
        text = cut_at_stop(text, until)
        stats = out.stats
        self.totals.add(stats)
        doc_id = (getattr(request, "doc", None) or {}).get("id")
        if isinstance(doc_id, str):
            DOC_STATS.setdefault(doc_id, DocStats()).add(stats)
        self.records.append(
            RequestRecord(
                index=index,
                task=getattr(request, "task_name", None),
                doc_id=getattr(request, "doc_id", None),
                seed=seed,
                prompt_tokens=len(ids),
                tokens=tuple(out.tokens),
                text=text,
                finish_reason=out.finish_reason,
                steps=stats.steps,
                proposed=stats.proposed,
                accepted=stats.accepted,
            )
        )
        return text

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        outputs = []
        for request in requests:  # these documents' counts start afresh
            DOC_STATS.pop((getattr(request, "doc", None) or {}).get("id"), None)
        for index, request in enumerate(tqdm(requests, disable=disable_tqdm, desc=self.method)):
            context, gen_kwargs = request.args[0], request.args[1]
            text = self.generate_one(context, gen_kwargs, index, request)
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
            outputs.append(text)
        return outputs
