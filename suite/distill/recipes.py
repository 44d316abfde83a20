"""The KD grid: which drafts to build from the base draft, and building them with one budget.

Every draft starts from the base draft and trains with the same steps, batch size and learning-rate
schedule, so drafts differ only in their KD data: method (offline SeqKD or online token-level KD),
training dataset and τ_kd. The data-centric drafts (``kd-<method>-<dataset>-recipe``) are our
reading of the paper's recipe, whose exact form is unknown: each sequence's τ_kd is drawn from
``recipe_temperatures`` (an empty list leaves them out). Decoder-only and encoder-decoder (T5)
families share this code: the models say which they are.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from suite.data import load_examples
from suite.decoding.plumbing import check_pair
from suite.distill.grid import KDDraft, draft_name, kd_grid  # noqa: F401  (re-exported)
from suite.distill.loop import train, train_config, under_checkpoints
from suite.distill.offline import (
    KDRequest,
    ResponseBatches,
    compose_kd_data,
    decoder_start,
    generate_kd_data,
    response_ce_loss,
    tokens_sha256,
)
from suite.distill.online import OnlineKDLoss, PromptBatches
from suite.distill.precision import CPU_FLOAT32, Precision
from suite.distill.pretrain import check_finite_losses, heldout_loss
from suite.distill.recipe_spec import METHODS, load_kd_recipe  # noqa: F401  (re-exported)
from suite.errors import SpecError
from suite.io import check_write_folder, save_model, weights_sha256, write_json_atomic
from suite.models import load_model, load_tokenizer
from suite.prompts import prompt_format, training_prompt_ids
from suite.strict import read_config

RECIPE_LABEL = "our reading of the paper's recipe"


def select_drafts(drafts: list[KDDraft], only: list[str] | None) -> list[KDDraft]:
    if not only:
        return drafts
    by_name = {d.name: d for d in drafts}
    unknown = [n for n in only if n not in by_name]
    if unknown:
        raise ValueError(f"unknown draft {unknown[0]!r}; see --list (--full-grid for 0.1 steps)")
    return [by_name[n] for n in only]


def prompt_pool(tokenizer, dataset: str, size: int, max_prompt_tokens: int, seed: int) -> list:
    """KD prompts of one dataset: the first ``size`` of a seeded permutation of its training split
    that fit in ``max_prompt_tokens``, through the tokenizer's chat template where it has one.
    Offline and online drafts share it, so only the method differs."""
    examples = load_examples(dataset, "train")
    pool = []
    for i in np.random.default_rng(seed).permutation(len(examples)):
        ids = training_prompt_ids(tokenizer, examples[i].instruction)
        if len(ids) <= max_prompt_tokens:
            pool.append(tuple(ids))
        if len(pool) == size:
            return pool
    raise ValueError(f"{dataset}: only {len(pool)} training prompts fit {max_prompt_tokens} tokens")


def is_done(out: Path, draft: KDDraft) -> bool:
    """A draft is built when its folder holds its ``training.json`` (a file: written last); a
    folder or FIFO of that name is not one (the build refuses it, naming it)."""
    facts = out / draft.name / "training.json"
    return facts.is_file() and not facts.is_symlink()


@dataclass(frozen=True)
class KDTraining:
    """What one draft is trained on: its batches and loss, and the facts of its data."""

    batches: object
    loss_fn: object
    data_sha256: str
    sequences: int | None


def kd_training(recipe: dict, draft: KDDraft, shared: dict, pool: list, model, cfg) -> KDTraining:
    """Offline KD: the target's samples at each of the draft's τ_kd (composed for the recipe),
    trained on with cross-entropy. Online KD: prompts, the target scored on the draft's own
    samples at each step."""
    tokenizer, target, seed = shared["tokenizer"], shared["target"], draft.seed
    prompts_cfg, offline_cfg = recipe["prompts"], recipe["offline"]
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    if draft.method == "online":
        loss_fn = OnlineKDLoss(
            target,
            divergence=draft.divergence,
            max_new_tokens=prompts_cfg["max_new_tokens"],
            eos_token_id=eos,
            pad_token_id=pad,
        )
        batches = PromptBatches(pool, cfg.batch_size, seed, draft.kd_temperatures)
        return KDTraining(batches, loss_fn, tokens_sha256(pool), None)
    requests = {
        t: KDRequest(
            target_sha=shared["target_sha"],
            dataset=draft.dataset,
            kd_temperature=t,
            samples_per_prompt=offline_cfg["samples_per_prompt"],
            max_new_tokens=prompts_cfg["max_new_tokens"],
            seed=seed,
            eos_token_id=eos,
            chunk_size=offline_cfg.get("chunk_size", 256),
        )
        for t in draft.kd_temperatures
    }
    batch_size = offline_cfg.get("batch_size", 32)
    sets = {
        t: generate_kd_data(target, pool, r, batch_size=batch_size) for t, r in requests.items()
    }
    data = compose_kd_data(sets, seed) if draft.is_recipe else sets[draft.kd_temperature]
    batches = ResponseBatches(data, cfg.batch_size, seed, pad, decoder_start(model))
    return KDTraining(batches, response_ce_loss, data.sha256(), len(data))


def checkpoint_dir(recipe: dict, draft: KDDraft, shared: dict) -> Path:
    """Per draft and target; another precision than CPU float32 resumes only its own runs."""
    name = f"{draft.name}-{shared['target_sha'][:12]}"
    precision = shared["precision"]
    if not precision.is_default:
        name += f"-{precision.label}"
    return under_checkpoints(recipe["name"], name)


def run_draft(recipe: dict, draft: KDDraft, out: Path, shared: dict, command: str) -> dict:
    """Distil one draft from the base draft and save it to ``out/<name>`` with training.json."""
    start = time.time()
    tokenizer, prompts_cfg = shared["tokenizer"], recipe["prompts"]
    cfg = train_config(recipe["train"], recipe["_path"])
    precision = shared["precision"]  # the draft keeps float32 weights on its device
    model = load_model(out / recipe["models"]["base_draft"]).to(precision.device)
    check_pair(shared["target"], model)
    try:
        pool = prompt_pool(
            tokenizer,
            draft.dataset,
            prompts_cfg["per_dataset"],
            prompts_cfg["max_prompt_tokens"],
            draft.seed,
        )
    except ValueError as err:  # named by the recipe's fields that ask for more than there is
        field = "prompts.per_dataset"
        raise SpecError(recipe["_path"], field, prompts_cfg["per_dataset"], str(err)) from None
    kd = kd_training(recipe, draft, shared, pool, model, cfg)
    limit = recipe.get("eval_examples", 200)
    summary = train(
        model,
        cfg,
        kd.batches,
        kd.loss_fn,
        checkpoint_dir(recipe, draft, shared),
        desc=draft.name,
        eval_fn=lambda: heldout_loss(model, tokenizer, [draft.dataset], min(limit, 64)),
        eval_every=recipe.get("eval_every", 0),
        precision=precision,
        where=(recipe["_path"], "train"),
    )
    heldout = heldout_loss(model, tokenizer, recipe["datasets"], limit)
    check_finite_losses(heldout, recipe["_path"], "train")
    folder = out / draft.name
    check_write_folder(folder)  # again: a link planted while it trained is not written through
    save_model(model, folder)  # tokenizer: the family's
    info = {
        "artifact": draft.name,
        "recipe": recipe["_path"],
        "command": command,
        "seed": draft.seed,
        "method": draft.method,
        "dataset": draft.dataset,
        "kd_temperature": draft.kd_temperature,
        "kd_temperatures": list(draft.kd_temperatures),
        "data_centric_recipe": RECIPE_LABEL if draft.is_recipe else None,
        "divergence": draft.divergence if draft.method == "online" else "cross_entropy",
        "base_draft": recipe["models"]["base_draft"],
        "target_sha256": shared["target_sha"],
        **asdict(precision),  # device, dtype
        "parameters": sum(p.numel() for p in model.parameters()),
        "data_sha256": kd.data_sha256,
        "prompts": len(pool),
        "prompt_format": prompt_format(tokenizer),
        "kd_sequences": kd.sequences,
        "train_loss": summary["train_loss"],
        "heldout_loss": heldout,
        "heldout_examples_per_dataset": limit,
        "steps": summary["steps"],
        "wall_seconds": summary["train_seconds"],
        "total_seconds": time.time() - start,
        "config": {k: recipe[k] for k in ("prompts", "offline", "train")},
    }
    write_json_atomic(folder / "training.json", info)
    return info


def check_positions(recipe: dict, out: Path) -> None:
    """A KD sequence (a prompt of up to ``max_prompt_tokens`` and ``max_new_tokens`` more) fits
    the positions of the target and the base draft (``max_position_embeddings``, where their
    ``config.json`` states it: a T5's relative positions have no end), before anything is read
    or written; a config that is not there is named when its model loads."""
    prompts = recipe["prompts"]
    length = prompts["max_prompt_tokens"] + prompts["max_new_tokens"]
    for role in ("target", "base_draft"):
        path = out / recipe["models"][role] / "config.json"
        if not path.is_file():
            continue
        positions = read_config(path).get("max_position_embeddings")
        if isinstance(positions, int) and not isinstance(positions, bool) and length > positions:
            message = (
                f"max_prompt_tokens + max_new_tokens = {length:,} tokens, past the "
                f"{positions:,} positions of models.{role} ({path.parent})"
            )
            raise SpecError(recipe["_path"], "prompts.max_new_tokens", prompts["max_new_tokens"],
                            message)  # fmt: skip


def run_distill(
    recipe: dict,
    out: Path,
    drafts: list[KDDraft],
    command: str | None = None,
    precision: Precision = CPU_FLOAT32,
) -> list[dict]:
    """Build every draft not yet built (a folder with training.json counts as built).

    Several workers may share one queue: each draft is claimed with a lock file under the
    checkpoint root, and a worker skips drafts another live worker holds. The target runs on
    ``precision.device`` in ``precision.dtype``; each draft trains there (see ``precision``).
    """
    command = command or " ".join(["python", "-m", "suite", *sys.argv[1:]])
    for draft in drafts:  # where the drafts are saved: no link or file in the way
        check_write_folder(out / draft.name)
    todo = [d for d in drafts if not is_done(out, d)]
    if not todo:
        return []
    models = recipe["models"]
    check_positions(recipe, out)
    target = out / models["target"]
    shared = {
        "tokenizer": load_tokenizer(out / models["tokenizer"]),
        "target": load_model(target, dtype=precision.torch_dtype).to(precision.device),
        "target_sha": weights_sha256(target),
        "precision": precision,
    }
    locks = under_checkpoints(recipe["name"], "locks")
    built = []
    for draft in todo:
        lock = locks / f"{draft.name}.lock"
        with claim(lock) as mine:
            if mine and not is_done(out, draft):
                built.append(run_draft(recipe, draft, out, shared, command))
            elif not mine:  # said, not silent: the user sees why nothing was built
                print(f"{draft.name}: another worker holds {lock}; skipped", file=sys.stderr)
    return built


@contextlib.contextmanager
def claim(lock: Path):
    """Yield True when this process holds ``lock`` (created exclusively, holding host and pid);
    a lock left by a dead process on this host is taken over."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = f"{socket.gethostname()} {os.getpid()}"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            host, _, pid = _holder(lock).partition(" ")
            mine = host == socket.gethostname() and re.fullmatch("[0-9]{1,10}", pid)
            if mine and not _alive(int(pid)):
                lock.unlink(missing_ok=True)
                continue
            yield False
            return
        with os.fdopen(fd, "w") as fh:
            fh.write(me)
        try:
            yield True
        finally:
            lock.unlink(missing_ok=True)
        return
    yield False


def _holder(lock: Path) -> str:
    """What a lock file says of its holder ("HOST PID"): its first 256 bytes, as text. A lock
    that is a link, a FIFO or a folder is refused (read, it would block or say nothing), naming
    it; one that vanished since is held by no one."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except FileNotFoundError:
        return ""
    except OSError as err:
        message = (
            f"a draft's lock that cannot be read ({err.strerror}); delete it to build the draft"
        )
        raise SpecError(lock, "lock", lock.name, message) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        message = "a draft's lock that is not a regular file; delete it to build the draft"
        raise SpecError(lock, "lock", lock.name, message)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(256).decode("utf-8", "replace").strip()


def _alive(pid: int) -> bool:
    if pid <= 0:  # no process has it (os.kill(0, 0) signals the caller's own group)
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no process has such a pid
        return False
    except PermissionError:
        return True
    return True
