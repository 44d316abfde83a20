"""Tokenizer, target and base draft trained from scratch on the training splits.

The recipe (YAML) holds every size, step count, learning rate and seed; the command line only
says which recipe and where to write. Artifacts are ``save_pretrained`` folders (safetensors).
``architecture: llama`` (the default) trains decoder-only models on packed blocks;
``architecture: t5`` trains encoder-decoders on (prompt -> response) pairs, padded, not packed.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import shutil
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)

from suite.data import load_examples
from suite.decoding.plumbing import is_encoder_decoder
from suite.distill.align import (
    align,
    check_align_spec,
    greedy_quality,
    own_entropy,
    source_folder,
)
from suite.distill.data_fit import (
    block_error,
    check_data,
    encode_pairs,
    training_pairs,
)
from suite.distill.loop import train, train_config, under_checkpoints
from suite.distill.offline import (
    KDData,
    ResponseBatches,
    collate,
    decoder_start,
    response_ce_loss,
    response_logits,
)
from suite.distill.order import step_positions
from suite.distill.precision import model_device, to_device
from suite.distill.recipe_file import (  # noqa: F401 (load_recipe, check_parts: re-exported)
    ARCHITECTURES,
    SAFE_NAME,
    SAFE_NAME_RULE,
    check_not_itself,
    check_parts,
    load_recipe,
)
from suite.distill.tokenizer import train_tokenizer
from suite.errors import SpecError, control_character
from suite.io import (
    atomic_write,
    check_write_folder,
    save_model,
    weights_sha256,
    write_json_atomic,
)
from suite.models import load_model, load_tokenizer
from suite.paths import resolve
from suite.prompts import encode_texts, training_prompt_ids
from suite.specs import format_prompt, format_training_text
from suite.strict import read_config


def data_sha256(datasets: list[str], split: str) -> str:
    digest = hashlib.sha256()
    for instruction, response in training_pairs(datasets, split):
        digest.update(format_training_text(instruction, response).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def encode_seq2seq(tokenizer, pairs, max_tokens: int) -> KDData:
    """Encoder inputs (formatted prompts, their last ``max_tokens`` kept: the response marker)
    and decoder targets (response + EOS, cut at ``max_tokens``), one sequence per pair."""
    eos = tokenizer.eos_token_id
    prompts = encode_texts(tokenizer, [format_prompt(i) for i, _ in pairs])
    responses = encode_texts(tokenizer, [r for _, r in pairs])
    return KDData(
        prompts=tuple(tuple(p[-max_tokens:]) for p in prompts),
        prompt_index=tuple(range(len(pairs))),
        responses=tuple(tuple([*r, eos][:max_tokens]) for r in responses),
        temperatures=(1.0,) * len(pairs),  # the references: samples of the data itself
    )


class PackedBlocks:
    """Documents shuffled per epoch, concatenated and cut into blocks: batch = f(step) only."""

    def __init__(self, docs: list[list[int]], block_size: int, batch_size: int, seed: int):
        self.docs, self.block, self.batch, self.seed = docs, block_size + 1, batch_size, seed
        self.n_blocks = sum(map(len, docs)) // self.block
        self._epochs: dict[int, torch.Tensor] = {}

    def _epoch(self, epoch: int) -> torch.Tensor:
        if epoch not in self._epochs:
            order = list(range(len(self.docs)))
            random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
            stream = [t for i in order for t in self.docs[i]]
            stream = torch.tensor(stream[: self.n_blocks * self.block], dtype=torch.long)
            self._epochs = {epoch: stream.view(self.n_blocks, self.block)}
        return self._epochs[epoch]

    def __call__(self, step: int) -> torch.Tensor:
        positions = step_positions(step, self.batch, self.n_blocks)
        return torch.stack([self._epoch(epoch)[i] for epoch, i in positions])


def check_finite_losses(losses: dict, path: str, field: str) -> None:
    """A model whose held-out loss is NaN or infinite is not saved as a finished artifact."""
    for name, value in losses.items():
        if not math.isfinite(value):
            message = f"the trained model's held-out loss on {name} is {value}: it is not saved"
            raise SpecError(path, field, value, message)


def lm_loss(model, batch: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=batch[:, :-1]).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch[:, 1:].reshape(-1))


@torch.no_grad()
def heldout_loss(model, tokenizer, datasets: list[str], limit: int, batch_size: int = 16) -> dict:
    """Mean nats per response token on each dataset's test split, given the prompt."""
    model.eval()
    eos, pad, device = tokenizer.eos_token_id, tokenizer.pad_token_id, model_device(model)
    out = {}
    for name in datasets:
        rows = [ex for ex in load_examples(name, "test") if ex.reference][:limit]
        total, count = 0.0, 0
        for start in range(0, len(rows), batch_size):
            seqs, masks, pairs = [], [], []
            for ex in rows[start : start + batch_size]:
                p = training_prompt_ids(tokenizer, ex.instruction)
                r = [*encode_texts(tokenizer, [ex.reference])[0], eos]
                pairs.append((p[-1024:], r[:1024]))
                seqs.append((p + r)[:1024])
                masks.append(([0] * len(p) + [1] * len(r))[:1024])
            if is_encoder_decoder(model):
                batch = to_device(collate(pairs, pad, decoder_start(model)), device)
                logits = response_logits(model, batch).float()
                nll = F.cross_entropy(logits.transpose(1, 2), batch["labels"], reduction="none")
                total += float(nll[batch["loss_mask"]].sum())
                count += int(batch["loss_mask"].sum())
                continue
            width = max(map(len, seqs))
            ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=device)
            attn = torch.tensor(
                [[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=device
            )
            mask = torch.tensor([m + [0] * (width - len(m)) for m in masks], device=device)
            target_mask = mask[:, 1:].bool()
            logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
            nll = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
            total += float(nll[target_mask].sum())
            count += int(target_mask.sum())
        out[name] = total / max(1, count)
    return out


def build_model(config: dict, tokenizer, seed: int, architecture: str = "llama"):
    torch.manual_seed(seed)
    if architecture == "t5":
        return build_t5(config, tokenizer)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        **config,
    )
    return LlamaForCausalLM(cfg)


def build_t5(config: dict, tokenizer) -> T5ForConditionalGeneration:
    """A T5 whose decoder starts from the pad token (T5's convention).

    ``tie_word_embeddings: false`` (T5 v1.1) means no output scaling and an output layer of its
    own; transformers 5 ties T5's lm_head regardless, so it is untied here, initialised at
    std d_model^-0.5 (unit-scale logits), and save/load keep it apart as the values differ.
    """
    pad = tokenizer.pad_token_id
    cfg = T5Config(
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=pad,
        decoder_start_token_id=pad,
        **config,
    )
    model = T5ForConditionalGeneration(cfg)
    if config.get("tie_word_embeddings") is False:
        head = torch.randn(model.lm_head.weight.shape) * cfg.d_model**-0.5
        model.lm_head.weight = torch.nn.Parameter(head)
    return model


MAX_TOKENIZER_FOLDER_BYTES = 256 << 20  # tokenizer.json is at most 64 MiB; a few files beside it


def copy_tokenizer(recipe: dict, out: Path) -> None:
    """Share another family's tokenizer (``tokenizer.copy_from``, relative to the recipe file):
    one vocabulary per family, and the same one across families for comparable prompts."""
    copy_from = Path(recipe["_path"]).parent / recipe["tokenizer"]["copy_from"]
    source = resolve(copy_from, "tokenizer.copy_from")
    check_not_itself(recipe, source, out / "tokenizer")
    if not (source / "tokenizer.json").is_file():
        message = f"no tokenizer.json in {source}"
        raise SpecError(recipe["_path"], "tokenizer.copy_from", str(source), message)
    load_tokenizer(source)  # checked with the recipe too, before --out was made
    files = [p for p in sorted(source.iterdir()) if p.is_file() and not p.is_symlink()]
    files = [p for p in files if p.name != "training.json"]
    size = sum(p.stat().st_size for p in files)
    if size > MAX_TOKENIZER_FOLDER_BYTES:
        message = f"its files come to {size:,} bytes, over {MAX_TOKENIZER_FOLDER_BYTES:,}"
        raise SpecError(recipe["_path"], "tokenizer.copy_from", str(source), message)
    origin = source / "training.json"  # strict JSON, a regular file: read before --out is made
    facts = read_config(origin, nofollow=True) if (origin.exists() or origin.is_symlink()) else {}
    _check_source_facts(origin, facts)
    folder = out / "tokenizer"
    check_write_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:  # each copied beside its place and renamed over it: no link followed
        atomic_write(folder / path.name, lambda tmp, source=path: shutil.copyfile(source, tmp))
    keep = ("vocab_size", "min_frequency", "data_sha256", "recipe", "command")
    write_json_atomic(
        folder / "training.json",
        {
            "artifact": "tokenizer",
            "recipe": recipe["_path"],
            "command": " ".join(["python", "-m", "suite", *sys.argv[1:]]),
            "copied_from": recipe["tokenizer"]["copy_from"],
            "source": {k: facts[k] for k in keep if k in facts},
            "vocab_size": len(load_tokenizer(folder)),
        },
    )


def _check_source_facts(origin: Path, facts: dict) -> None:
    """The facts a copied tokenizer's ``training.json`` passes on, typed as a build writes them:
    counts integers >= 1, texts one line of plain text (at most 4,096 characters)."""
    for key in ("vocab_size", "min_frequency"):
        value = facts.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise SpecError(origin, key, value, "expected an integer >= 1")
    for key in ("data_sha256", "recipe", "command"):
        value = facts.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 4_096 or control_character(value, ""):
            message = "expected one line of plain text of at most 4,096 characters"
            raise SpecError(origin, key, value, message)


def run_tokenizer(recipe: dict, out: Path) -> None:
    if "copy_from" in recipe["tokenizer"]:
        copy_tokenizer(recipe, out)
        return
    pairs = training_pairs(recipe["datasets"], "train")
    texts = [format_training_text(i, r) for i, r in pairs]
    start = time.time()
    train_tokenizer(texts, **recipe["tokenizer"], out_dir=out / "tokenizer")
    write_json_atomic(
        out / "tokenizer" / "training.json",
        {
            "artifact": "tokenizer",
            "recipe": recipe["_path"],
            "command": " ".join(["python", "-m", "suite", *sys.argv[1:]]),
            "data_sha256": data_sha256(recipe["datasets"], "train"),
            "wall_seconds": time.time() - start,
            **recipe["tokenizer"],
        },
    )


def run_model(recipe: dict, role: str, out: Path) -> dict:
    """Train ``recipe['models'][role]`` and save it to ``out/<role>``.

    With an ``align`` section, pretraining saves to the stage folder ``<align.from>`` beside the
    checkpoints (skipped when already built; a build intermediate, not part of the bundle) and
    the alignment step fine-tunes it into ``out/<role>``, whose ``training.json`` keeps the
    pretrained stage's facts under ``pretrained``.
    """
    spec = recipe["models"][role]
    if not recipe.get("_data_checked"):  # not with the recipe: its tokenizer was built since
        check_data(recipe, load_tokenizer(out / "tokenizer"))
    if "align" not in spec:
        return pretrain_model(recipe, role, out, out / role)
    check_align_spec(spec["align"], recipe["_path"], f"models.{role}.align")
    stage = spec["align"]["from"]
    if not re.fullmatch(SAFE_NAME, stage):
        message = SAFE_NAME_RULE
        raise SpecError(recipe["_path"], f"models.{role}.align.from", stage, message)
    source = stage_folder(recipe, spec["align"])
    if not (source / "training.json").is_file():
        pretrain_model(recipe, role, out, source)
    return align_model(recipe, role, out)


def stage_folder(recipe: dict, align_spec: dict) -> Path:
    """Where a target's pretrained stage lives: under the checkpoints, outside the bundle."""
    return under_checkpoints(recipe["name"], "stages", align_spec["from"])


def align_model(recipe: dict, role: str, out: Path) -> dict:
    spec, path = recipe["models"][role], recipe["_path"]
    source = source_folder(stage_folder(recipe, spec["align"]), spec["align"], path)
    tokenizer = load_tokenizer(out / "tokenizer")
    model = load_model(source)
    source_sha = weights_sha256(source)
    facts = align(
        model,
        tokenizer,
        spec["align"],
        recipe["datasets"],
        seed=recipe["seed"],
        name=recipe["name"],
        source_sha=source_sha,
        where=(path, f"models.{role}.align.train"),
        role=role,
    )
    limit = recipe.get("eval_examples", 200)
    heldout = heldout_loss(model, tokenizer, recipe["datasets"], limit)
    check_finite_losses(heldout, path, f"models.{role}.align")
    folder = out / role
    check_write_folder(folder)  # again: a link planted while it trained is not written through
    save_model(model, folder)
    tokenizer.save_pretrained(str(folder))
    n = spec["align"]["eval_prompts"]
    draft = out / "draft"
    others = {"base_draft": load_model(draft)} if (draft / "training.json").is_file() else {}
    info = {
        "artifact": role,
        "recipe": path,
        "command": " ".join(["python", "-m", "suite", *sys.argv[1:]]),
        "seed": recipe["seed"],
        "architecture": recipe["architecture"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "aligned_from": spec["align"]["from"],
        "aligned_from_sha256": source_sha,
        "pretrained": json.loads((source / "training.json").read_text()),
        "alignment": {k: v for k, v in facts.items() if k not in ("steps", "train_loss")},
        "data_sha256": facts["data_sha256"],
        "steps": facts["steps"],
        "train_loss": facts["train_loss"],
        "heldout_loss": heldout,
        "heldout_examples_per_dataset": limit,
        "heldout_quality": greedy_quality(model, tokenizer, recipe["datasets"], n, 128),
        "entropy_at_tau_1": own_entropy(model, others, tokenizer, recipe["datasets"], n, 48),
        "eval_prompts_per_dataset": n,
        "wall_seconds": facts["train_seconds"],
        "config": spec,
    }
    write_json_atomic(folder / "training.json", info)
    return info


def pretrain_model(recipe: dict, role: str, out: Path, folder: Path) -> dict:
    """Train ``recipe['models'][role]`` from scratch into ``folder`` (tokenizer: out/tokenizer)."""
    spec = recipe["models"][role]
    tokenizer = load_tokenizer(out / "tokenizer")
    cfg = train_config(spec["train"], recipe["_path"])
    model = build_model(spec["config"], tokenizer, recipe["seed"], recipe["architecture"])
    pairs = training_pairs(recipe["datasets"], "train")
    if is_encoder_decoder(model):
        data = encode_seq2seq(tokenizer, pairs, cfg.block_size)
        pad, start = tokenizer.pad_token_id, decoder_start(model)
        batches = ResponseBatches(data, cfg.batch_size, recipe["seed"], pad, start)
        loss_fn, per_epoch = response_ce_loss, len(data)
        tokens = sum(len(data.prompts[i]) + len(r) for i, r in enumerate(data.responses))
    else:
        docs = encode_pairs(tokenizer, pairs)
        batches = PackedBlocks(docs, cfg.block_size, cfg.batch_size, recipe["seed"])
        if batches.n_blocks == 0:  # check_data refuses it first; no step divides by 0 blocks
            raise block_error(recipe, role, cfg.block_size, sum(map(len, docs)))
        loss_fn, per_epoch = lm_loss, batches.n_blocks
        tokens = batches.n_blocks * batches.block
    ckpt = under_checkpoints(recipe["name"], role)
    limit = recipe.get("eval_examples", 200)
    summary = train(
        model,
        cfg,
        batches,
        loss_fn,
        ckpt,
        desc=role,
        eval_fn=lambda: heldout_loss(model, tokenizer, recipe["datasets"], min(limit, 64)),
        eval_every=spec.get("eval_every", 500),
        where=(recipe["_path"], f"models.{role}.train"),
    )
    heldout = heldout_loss(model, tokenizer, recipe["datasets"], limit)
    check_finite_losses(heldout, recipe["_path"], f"models.{role}")
    check_write_folder(folder, "--out" if folder.parent == out else "SUITE_CHECKPOINT_DIR")
    save_model(model, folder)
    tokenizer.save_pretrained(str(folder))
    info = {
        "artifact": folder.name,
        "recipe": recipe["_path"],
        "command": " ".join(["python", "-m", "suite", *sys.argv[1:]]),
        "seed": recipe["seed"],
        "architecture": recipe["architecture"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "data_sha256": data_sha256(recipe["datasets"], "train"),
        "tokens_per_epoch": tokens,
        "epochs": summary["steps"] * cfg.batch_size / max(1, per_epoch),
        "train_loss": summary["train_loss"],
        "heldout_loss": heldout,
        "heldout_examples_per_dataset": limit,
        "wall_seconds": summary["train_seconds"],
        "config": spec,
    }
    write_json_atomic(folder / "training.json", info)
    return info
