"""One training loop for pretraining and distillation: AdamW, warmup + cosine decay, checkpoints.

Checkpoints live outside the repository (``$SUITE_CHECKPOINT_DIR``, default
``~/.cache/suite/checkpoints``) and are written atomically, so a killed run resumes where it
stopped with the same data order and learning-rate schedule.
"""

from __future__ import annotations

import io
import json
import math
import os
import reprlib
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load, save_file
from tqdm import tqdm

from suite.distill.precision import CPU_FLOAT32, Precision, model_device, to_device
from suite.errors import SpecError, cut
from suite.io import atomic_write
from suite.strict import MAX_CONFIG_BYTES, read_json, same_json, whole


def checkpoint_root() -> Path:
    return Path(os.environ.get("SUITE_CHECKPOINT_DIR", Path.home() / ".cache/suite/checkpoints"))


def under_checkpoints(*parts: str) -> Path:
    """``checkpoint_root()/parts...``, every folder of it below the root that exists not a
    symbolic link: checkpoints, KD data and locks stay under the root (the root itself may be a
    link the user made), never written or read where a planted link points."""
    path = checkpoint_root()
    for part in parts:
        path = path / part
        if path.is_symlink():
            message = (
                "a folder under the checkpoint root that is a symbolic link; checkpoints, KD "
                f"data and locks stay under {checkpoint_root()} (delete the link)"
            )
            raise SpecError(path, "checkpoint", str(path), message)
    return path


@dataclass(frozen=True)
class TrainConfig:
    max_steps: int
    lr: float
    min_lr: float
    warmup_steps: int
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    batch_size: int = 16
    block_size: int = 256
    checkpoint_every_s: float = 300.0
    log_every: int = 25
    seed: int = 0

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        frac = (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * min(1, frac)))


def train_config(raw: dict, path: str, field: str = "train") -> TrainConfig:
    """A recipe's ``train`` mapping (at ``field``: ``models.target.train`` in a pretraining
    recipe) as a TrainConfig; an unknown field names file, field and value."""
    if not isinstance(raw, dict):
        raise SpecError(path, field, raw, "expected a mapping")
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    for key in raw:
        if key not in kinds:
            message = f"unknown field; known: {sorted(kinds)}"
            raise SpecError(path, f"{field}.{key}", raw[key], message)
    for key in ("max_steps", "lr", "min_lr", "warmup_steps"):
        if key not in raw:
            raise SpecError(path, f"{field}.{key}", None, "missing required field")
    raw = {k: whole(v) if kinds[k] in ("int", int) else v for k, v in raw.items()}
    for key, value in raw.items():
        _check_number(path, f"{field}.{key}", value, kinds[key] in ("int", int))
    _check_schedule(path, raw, field)
    return TrainConfig(**raw)


MAX_LR = 1.0  # AdamW's step is about lr per weight: above 1 a step outgrows the weights
MIN_LR = 1e-12  # float32's spacing near a weight of 1e-5: a smaller step changes nothing
MIN_GRAD_CLIP = 1e-6  # a gradient's norm clipped below it is within AdamW's eps (1e-8) per weight
MAX_DECAY_STEP = 0.5  # lr × weight_decay: at 1 a step zeroes every weight, above it flips them
MAX_BATCH_SIZE = 4_096  # sequences per step: far above the recipes' 16, and it fits in memory


def _check_schedule(path: str, raw: dict, field: str = "train") -> None:
    """Values that each pass :func:`_check_number` but make no training run: a learning rate
    of 0 or above MAX_LR, a floor above it, a warmup longer than the run, a huge batch."""
    lr = raw["lr"]
    if not 0 < lr <= MAX_LR:
        raise SpecError(path, f"{field}.lr", lr, f"must be in (0, {MAX_LR}]")
    if raw["min_lr"] > lr:
        message = f"must be at most {field}.lr ({lr})"
        raise SpecError(path, f"{field}.min_lr", raw["min_lr"], message)
    if raw["warmup_steps"] > raw["max_steps"]:
        message = f"must be at most {field}.max_steps ({raw['max_steps']})"
        raise SpecError(path, f"{field}.warmup_steps", raw["warmup_steps"], message)
    if lr < MIN_LR:
        message = f"must be at least {MIN_LR:g}: a smaller step moves no float32 weight"
        raise SpecError(path, f"{field}.lr", lr, message)
    if "grad_clip" in raw and raw["grad_clip"] < MIN_GRAD_CLIP:
        message = (
            f"must be at least {MIN_GRAD_CLIP:g}: gradients clipped below it fall under AdamW's "
            "eps, and no step moves a weight"
        )
        raise SpecError(path, f"{field}.grad_clip", raw["grad_clip"], message)
    decay = raw.get("weight_decay", TrainConfig.weight_decay)
    if lr * decay >= MAX_DECAY_STEP:  # AdamW multiplies each weight by 1 - lr * weight_decay
        message = (
            f"{field}.lr × weight_decay is {lr * decay:g}: each step multiplies a weight by "
            f"1 − lr × weight_decay, so it must be below {MAX_DECAY_STEP:g}"
        )
        raise SpecError(path, f"{field}.weight_decay", decay, message)
    if raw.get("batch_size", 0) > MAX_BATCH_SIZE:
        message = f"must be in [1, {MAX_BATCH_SIZE:,}]"
        raise SpecError(path, f"{field}.batch_size", raw["batch_size"], message)


def _check_number(path: str, field: str, value, integer: bool) -> None:
    """A count is an integer in [1, 10**7] (warmup and seed may be 0); a rate or a time a finite
    number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        kind = "an integer" if integer else "a number"
        raise SpecError(path, field, value, f"expected {kind}, got {type(value).__name__}")
    if integer:
        low = 0 if field.endswith(("warmup_steps", "seed")) else 1
        if not low <= value <= 10**7:
            raise SpecError(path, field, value, f"must be in [{low}, 10,000,000]")
    elif not math.isfinite(value) or value < 0:
        raise SpecError(path, field, value, "must be a finite number >= 0")


def _save(ckpt: Path, model, optimizer, scaler, step: int, extra: dict) -> None:
    ckpt.mkdir(parents=True, exist_ok=True)
    if scaler.is_enabled():
        extra = extra | {"scaler": scaler.state_dict()}
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    if _tied(model):
        state.pop("lm_head.weight", None)
    atomic_write(ckpt / "model.safetensors", lambda p: save_file(state, str(p)))
    atomic_write(ckpt / "optimizer.pt", lambda p: torch.save(optimizer.state_dict(), p))
    meta = {"step": step, **extra}
    atomic_write(ckpt / "state.json", lambda p: p.write_text(json.dumps(meta)))


def _check_finite(model, step: int, where: tuple) -> None:
    """Every weight finite before a checkpoint is saved: a run can diverge in its weights while
    its loss stays finite (a model of NaN weights that outputs a uniform distribution)."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            message = (
                f"{name} holds a NaN or infinite weight at step {step}: the run diverged, and "
                "this step is not saved (a lower train.lr or train.weight_decay, or another config)"
            )
            raise SpecError(where[0], where[1], name, message)


def _tied(model) -> bool:
    """Whether the output layer is the input embedding. Not the config's word: T5's in
    transformers 5 always says tied, and our T5 models carry their own output layer."""
    out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    return out is not None and out.weight is inp.weight


LOSS_WINDOW = 200  # the last training losses a checkpoint keeps (the summary means 50)
MAX_LOSS = 1e6  # a training loss (cross-entropy, a divergence): never negative, never near this
LOSS_ROUNDING = 1e-3  # a divergence of two near-equal distributions may round a little below 0

STATE_FIELDS = ("step", "seconds", "losses", "scaler", "train")  # scaler: float16 runs only
# The settings a checkpoint was trained under that decide its weights (not how often it logs
# or saves): a recipe changed in one of them does not resume it.
TRAIN_SETTINGS = (
    "max_steps", "lr", "min_lr", "warmup_steps", "weight_decay", "grad_clip", "batch_size",
    "block_size", "seed",
)  # fmt: skip


def _settings_of(cfg: TrainConfig) -> dict:
    return {key: getattr(cfg, key) for key in TRAIN_SETTINGS}


MAX_TRAIN_SECONDS = 1e9  # a training's wall time so far, carried into its training.json
FLOAT32_MAX = 3.4028234663852886e38  # the scaler keeps its scale as a float32 tensor


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_state(path: Path, meta, max_steps: int) -> dict:
    """A checkpoint's ``state.json``, typed: ``step`` an integer from 1 to ``max_steps``,
    ``seconds`` a finite number >= 0, ``losses`` the last min(step, LOSS_WINDOW) training
    losses (finite numbers) and ``scaler`` a mapping of numbers. Anything else is refused, never
    read as a fresh start on the checkpoint's weights; the error says how to start over."""

    def refuse(field: str, value, why: str) -> SpecError:
        how = f"to start this training over, delete the checkpoint folder {path.parent}"
        return SpecError(path, field, value, f"{why}; {how}")

    if not isinstance(meta, dict):
        raise refuse("(document)", meta, "expected a JSON object")
    for key in meta:
        if key not in STATE_FIELDS:
            raise refuse(str(key), meta[key], f"unknown field; known: {', '.join(STATE_FIELDS)}")
    for key in STATE_FIELDS[:3]:
        if key not in meta:
            raise refuse(key, None, "missing required field")
    step, seconds, losses = meta["step"], meta["seconds"], meta["losses"]
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= max_steps:
        raise refuse("step", step, f"expected an integer from 1 to train.max_steps ({max_steps:,})")
    if not _number(seconds) or not 0 <= seconds <= MAX_TRAIN_SECONDS:
        message = f"expected a number of seconds from 0 to {MAX_TRAIN_SECONDS:g} (30 years)"
        raise refuse("seconds", seconds, message)
    want = min(step, LOSS_WINDOW)
    bounded = (
        all(_number(v) and -LOSS_ROUNDING <= v <= MAX_LOSS for v in losses)
        if isinstance(losses, list)
        else False
    )
    if not isinstance(losses, list) or len(losses) != want or not bounded:
        message = f"expected a list of {want:,} losses, each from 0 to {MAX_LOSS:g}"
        raise refuse("losses", losses, message)
    scaler = meta.get("scaler")
    if "scaler" in meta and not (
        isinstance(scaler, dict)
        and all(isinstance(k, str) and _number(v) for k, v in scaler.items())
    ):
        raise refuse("scaler", scaler, "expected a mapping of names to finite numbers")
    return meta


def _check_weights(ckpt: Path, own: dict, weights: dict, tied: bool) -> None:
    """A checkpoint resumes only the model it was saved from: the same tensors, key for key
    (a tied output layer is not saved) and shape for shape (a recipe whose sizes changed under
    the same name); refused naming the first that differs and how to start over."""
    how = f"to start this training over, delete the checkpoint folder {ckpt}"
    path = ckpt / "model.safetensors"
    missing = set(own) - set(weights) - ({"lm_head.weight"} if tied else set())
    unexpected = set(weights) - set(own)
    if missing or unexpected:
        keys = sorted(missing | unexpected)
        message = (
            f"a checkpoint must hold exactly the model's weights (missing or unexpected); {how}"
        )
        raise SpecError(path, "weights", keys, message)
    for name, tensor in own.items():
        if name in weights and weights[name].shape != tensor.shape:
            saved, wanted = list(weights[name].shape), list(tensor.shape)
            message = (
                f"{name} is {saved} in the checkpoint but {wanted} in the model being trained "
                f"(its sizes changed since); {how}"
            )
            raise SpecError(path, "weights", name, message)
    for name, tensor in own.items():  # saved from this model: in its dtype
        if name in weights and weights[name].dtype != tensor.dtype:
            saved, wanted = (str(t.dtype).removeprefix("torch.") for t in (weights[name], tensor))
            message = f"{name} is {saved} in the checkpoint but {wanted} in the model; {how}"
            raise SpecError(path, "weights", name, message)
    for name, tensor in sorted(weights.items()):  # training saves only finite weights
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            message = f"{name} holds a NaN or infinite weight; {how}"
            raise SpecError(path, "weights", name, message)


MAX_CHECKPOINT_BYTES = 64 << 30  # one checkpoint file: far above the bundle's largest model


def _restart(ckpt: Path) -> str:
    return f"to start this training over, delete the checkpoint folder {ckpt}"


def _read_checkpoint(ckpt: Path, name: str, parse: Callable[[bytes], Any], limit: int) -> Any:
    """A checkpoint file read whole as the regular file it is (a link, FIFO or device is not
    followed or waited on), at most ``limit`` bytes (what this model's file can hold), and
    parsed; any failure is one error naming it and how to restart."""
    path = ckpt / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        why = err.strerror or type(err).__name__
        message = f"cannot be read ({why}); {_restart(ckpt)}"
        raise SpecError(path, "checkpoint", name, message) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        most = min(limit, MAX_CHECKPOINT_BYTES)
        if not stat.S_ISREG(info.st_mode) or info.st_size > most:
            message = (
                f"not a regular file of at most {most:,} bytes (what this model's {name} "
                f"holds); {_restart(ckpt)}"
            )
            raise SpecError(path, "checkpoint", name, message)
        data = fh.read()
    try:
        return parse(data)
    except Exception as err:  # safetensors and torch raise many types for a damaged file
        message = f"cannot be resumed ({type(err).__name__}: {err}); {_restart(ckpt)}"
        raise SpecError(path, "checkpoint", name, message) from None


def _settings(optimizer) -> list[dict]:
    """Each parameter group's settings but its parameters and learning rate (set every step)."""
    return [
        {k: tuple(v) if isinstance(v, list) else v for k, v in group.items()
         if k not in ("params", "lr")}
        for group in optimizer.param_groups
    ]  # fmt: skip


_MOMENTS = ("step", "exp_avg", "exp_avg_sq")  # AdamW's state of a parameter (amsgrad off)


def _check_optimizer(ckpt: Path, optimizer, state: Any, step: int, scaled: bool) -> None:
    """An optimizer state resumes only its own model's parameters with this run's settings:
    each group's settings (betas, eps, weight decay, ...) as the recipe makes them, each
    moment the shape of its parameter and finite (the second moment not negative), and each
    parameter's step count a whole number from 1 to the checkpoint's ``step``; every
    parameter has its moments (a float16 run may have skipped steps, so none is allowed
    there too)."""
    path = ckpt / "optimizer.pt"
    made = _settings(optimizer)
    why = _saved_state_problem(optimizer, state)  # before load_state_dict casts any tensor
    if why is not None:
        raise SpecError(path, "checkpoint", "optimizer.pt", f"{why}; {_restart(ckpt)}")
    try:
        optimizer.load_state_dict(state)
    except Exception as err:  # a state of another optimizer or model
        message = f"not this model's optimizer state ({cut(str(err), 200)}); {_restart(ckpt)}"
        raise SpecError(path, "checkpoint", "optimizer.pt", message) from None
    for i, (mine, saved) in enumerate(zip(made, _settings(optimizer), strict=True)):
        for key in sorted(set(mine) | set(saved), key=str):
            # type for type (a tensor is not a float), shown bounded (a value may share its parts)
            if not same_json(mine.get(key), saved.get(key)):
                shown = f"{reprlib.repr(saved.get(key))}, this run's {reprlib.repr(mine.get(key))}"
                message = f"group {i}'s {reprlib.repr(key)} is {shown}; {_restart(ckpt)}"
                raise SpecError(path, "checkpoint", "optimizer.pt", message)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    kept = sum(1 for p in params if optimizer.state.get(p))
    if kept != len(params) and not (scaled and kept == 0):
        message = (
            f"moments for {kept:,} of the {len(params):,} parameters after {step:,} steps; "
            f"{_restart(ckpt)}"
        )
        raise SpecError(path, "checkpoint", "optimizer.pt", message)
    owners: set[int] = set()  # every state tensor holds its own memory
    for group in optimizer.param_groups:
        for param in group["params"]:
            held = optimizer.state.get(param, {})
            if held and set(held) != set(_MOMENTS):  # AdamW's, as this run keeps them
                message = f"a parameter's state holds {sorted(held)}, not {list(_MOMENTS)}"
                raise SpecError(path, "checkpoint", "optimizer.pt", f"{message}; {_restart(ckpt)}")
            for key in _MOMENTS if held else ():
                why = _state_problem(key, held[key], param, step, owners)
                if why is not None:
                    raise SpecError(path, "checkpoint", "optimizer.pt", f"{why}; {_restart(ckpt)}")


def _saved_state_problem(optimizer, state) -> str | None:
    """Why a saved optimizer state is not this model's, read before ``load_state_dict`` (which
    casts each moment to its parameter's dtype: an expanded tensor of a stated shape would be
    made whole first), or None: state only for the parameters its groups list, each tensor
    holding its own values and no more of them than its parameter has."""
    groups = state.get("param_groups") if isinstance(state, dict) else None
    held = state.get("state") if isinstance(state, dict) else None
    if not isinstance(groups, list) or not isinstance(held, dict):
        return "not an optimizer state (param_groups and state)"
    if not all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups):
        return "a parameter group without its list of parameters"
    ids = [i for g in groups for i in g["params"]]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return "a parameter group listing other than parameter numbers"
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if len(ids) != len(params):
        return f"a state of {len(ids):,} parameters for a model of {len(params):,}"
    by_id = dict(zip(ids, params, strict=True))
    for index, entry in held.items():
        param = by_id.get(index) if isinstance(index, int) else None
        if param is None or not isinstance(entry, dict):
            return f"state for a parameter the model does not have ({reprlib.repr(index)})"
        for key, value in entry.items():
            if not torch.is_tensor(value):
                continue
            why = _own_values(str(key)[:40], value)
            if why is None and key != "step" and value.numel() != param.numel():
                why = f"{key} is {list(value.shape)} for a parameter of {list(param.shape)}"
            if why is not None:
                return why
    return None


def _own_values(key: str, value) -> str | None:
    """Why a state tensor is not a dense one holding its own values (sparse, a view, an
    expanded or strided tensor, which the update writes through or cannot run on), or None."""
    if value.layout != torch.strided or value.is_quantized:
        return f"{key} is not a dense tensor ({type(value).__name__})"
    if value.is_meta or not value.is_contiguous() or value.storage_offset() != 0:
        return f"{key} is not a tensor holding its own values (a view or a strided tensor)"
    if value.untyped_storage().nbytes() != value.numel() * value.element_size():
        return f"{key} is not a tensor holding its own values (a view or a strided tensor)"
    return None


def _state_problem(key: str, value, param, step: int, owners: set[int]) -> str | None:
    """Why one entry of a parameter's AdamW state is not one training makes, or None: a dense
    tensor owning its memory (not sparse, a view, an expanded or a shared tensor, which the
    update writes through or cannot run on); ``step`` a float scalar holding a whole number
    from 1 to ``step``; a moment of its parameter's shape, finite, the second not negative."""
    if not torch.is_tensor(value):
        return f"{key} is not a dense tensor ({type(value).__name__})"
    why = _own_values(key, value)
    if why is not None:
        return why
    storage = value.untyped_storage()
    if value.numel() and storage.data_ptr() in owners:
        return f"{key} shares its memory with another tensor of the state"
    owners.add(storage.data_ptr())
    if key == "step":
        if value.dtype not in (torch.float32, torch.float64) or value.dim() != 0:
            kind = f"{str(value.dtype).removeprefix('torch.')} tensor of shape {list(value.shape)}"
            return f"a parameter's step count is a {kind}, not a float scalar"
        count = float(value)
        if not (count.is_integer() and 1 <= count <= step):
            return f"a parameter's step count {count!r} is not 1 to {step}"
        return None
    if not value.is_floating_point():
        return f"{key} is not a tensor of numbers"
    if value.shape != param.shape:
        return f"{key} is {list(value.shape)} for a parameter of {list(param.shape)}"
    if not bool(torch.isfinite(value).all()):
        return f"{key} holds a NaN or infinite value"
    if key == "exp_avg_sq" and bool((value < 0).any()):
        return "a negative second moment (exp_avg_sq)"
    return None


def _check_settings(path: Path, saved, cfg: TrainConfig) -> None:
    """A checkpoint resumes only under the training settings it states (every checkpoint
    states them: one that does not cannot show it was trained under these)."""
    if saved is None:
        message = "missing: a checkpoint states the settings it was trained under"
        message = f"{message}; {_restart(path.parent)}"
        raise SpecError(path, "train", None, message)
    mine = _settings_of(cfg)
    if not isinstance(saved, dict) or set(saved) != set(mine):
        message = f"expected the training settings {', '.join(mine)}; {_restart(path.parent)}"
        raise SpecError(path, "train", saved, message)
    for key, value in mine.items():
        if saved[key] != value or type(saved[key]) is not type(value):  # false is not 0
            message = (
                f"trained with {key} {saved[key]!r:.40}, the recipe now says {value!r}; "
                f"{_restart(path.parent)}"
            )
            raise SpecError(path, f"train.{key}", saved[key], message)


def _load(ckpt: Path, model, optimizer, scaler, cfg: TrainConfig) -> dict | None:
    if ckpt.is_symlink():  # a checkpoint lives under the checkpoint root, not where a link goes
        message = f"a checkpoint folder that is a symbolic link; {_restart(ckpt)}"
        raise SpecError(ckpt, "checkpoint", ckpt.name, message)
    for folder in (ckpt, *ckpt.parents):  # the nearest that exists is a folder it can write in
        if folder.exists() or folder.is_symlink():
            if not folder.is_dir():
                message = f"not a folder, where checkpoints are written; {_restart(folder)}"
                raise SpecError(folder, "checkpoint", folder.name, message)
            break
    state = ckpt / "state.json"
    if not (state.exists() or state.is_symlink()):  # a dangling link is read, and refused
        return None
    meta = read_json(ckpt / "state.json", "checkpoint state", MAX_CONFIG_BYTES, nofollow=True)
    check_state(ckpt / "state.json", meta, cfg.max_steps)
    _check_settings(ckpt / "state.json", meta.get("train"), cfg)
    tied = _tied(model)
    own = model.state_dict()
    size = sum(t.numel() * t.element_size() for t in own.values())  # the weights' bytes
    slack = (16 << 20) + 4096 * len(own)  # headers and, for the optimizer, its pickle
    weights = _read_checkpoint(ckpt, "model.safetensors", load, size + slack)
    _check_weights(ckpt, model.state_dict(), weights, tied)
    model.load_state_dict(weights, strict=False)
    if tied:
        model.tie_weights()
    state = _read_checkpoint(  # two moments of every weight, in float32 at most
        ckpt,
        "optimizer.pt",
        _optimizer_state,
        2 * sum(t.numel() * 4 for t in own.values()) + slack,
    )
    _check_optimizer(ckpt, optimizer, state, meta["step"], scaler.is_enabled())
    _check_scaler(ckpt / "state.json", meta.get("scaler"), scaler)
    if meta.get("scaler"):
        scaler.load_state_dict(meta["scaler"])
    return meta


def _optimizer_state(data: bytes) -> dict:
    """``optimizer.pt`` as torch.save wrote it, loaded with torch's weights-only unpickler; its
    zip checked first (:func:`suite.pickle_sniff.stored_zip_problem`): torch allocates a
    compressed record's stated size before inflating it."""
    from suite.pickle_sniff import stored_zip_problem

    problem = stored_zip_problem(data)
    if problem:
        raise ValueError(problem)
    return torch.load(io.BytesIO(data), weights_only=True)


# A float16 run's gradient scaler as it saves it (torch.amp.GradScaler.state_dict): each
# field's rule. A float32 run has none.
_SCALER = {
    "scale": lambda v: 0 < v <= FLOAT32_MAX,  # past it the float32 scale is inf
    "growth_factor": lambda v: v > 1,
    "backoff_factor": lambda v: 0 < v < 1,
    "growth_interval": lambda v: isinstance(v, int) and v >= 1,
    "_growth_tracker": lambda v: isinstance(v, int) and v >= 0,
}


def _check_scaler(path: Path, saved, scaler) -> None:
    """``state.json``'s ``scaler`` is the one this run keeps: exactly GradScaler's fields, in
    range, where the run scales its loss (float16); none where it does not."""
    if not scaler.is_enabled():
        if saved is not None:  # a float32 run saves none, not even an empty one
            message = (
                f"a loss scaler in a run that keeps none (float16 only); {_restart(path.parent)}"
            )
            raise SpecError(path, "scaler", saved, message)
        return
    if not isinstance(saved, dict) or set(saved) != set(_SCALER):
        message = (
            f"expected the float16 loss scaler's {', '.join(_SCALER)}; {_restart(path.parent)}"
        )
        raise SpecError(path, "scaler", saved, message)
    for key, ok in _SCALER.items():
        if not ok(saved[key]):
            message = f"out of the loss scaler's range; {_restart(path.parent)}"
            raise SpecError(path, f"scaler.{key}", saved[key], message)


def _append_log(path: Path, record: dict) -> None:
    """One line appended to a checkpoint's ``log.jsonl``, a regular file of its own: a link is
    not written through, a FIFO not waited on, a hard link not written into another file."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as err:
        why = err.strerror or type(err).__name__
        message = f"cannot be appended to ({why}); {_restart(path.parent)}"
        raise SpecError(path, "checkpoint", path.name, message) from None
    with os.fdopen(fd, "w") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            message = f"not a regular file of its own; {_restart(path.parent)}"
            raise SpecError(path, "checkpoint", path.name, message)
        fh.write(json.dumps(record) + "\n")


def make_optimizer(model, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), fused=False)


def _step(
    model, optimizer, scaler, cfg: TrainConfig, step: int, loss_fn, batch, precision
) -> float:
    """One optimiser step at the schedule's learning rate, the loss under autocast, gradients
    clipped (after unscaling, where the loss is scaled); the loss value."""
    with precision.autocast():
        loss = loss_fn(model, to_device(batch, model_device(model)))
    for group in optimizer.param_groups:
        group["lr"] = cfg.lr_at(step)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())


def train(
    model,
    cfg: TrainConfig,
    batch_at: Callable[[int], object],
    loss_fn: Callable[[object, object], torch.Tensor],
    ckpt_dir: Path,
    *,
    desc: str = "train",
    eval_fn: Callable[[], dict] | None = None,
    eval_every: int = 0,
    stop_at: int | None = None,
    precision: Precision = CPU_FLOAT32,
    where: tuple[str, str] | None = None,
) -> dict:
    """Run to ``cfg.max_steps``; ``batch_at(step)`` must be a pure function of the step.

    ``stop_at`` ends the run early after a checkpoint, as a kill would; rerunning resumes.
    The model sits on ``precision.device`` already; batches are moved there, the loss is
    computed under ``precision.autocast()``.

    A step whose loss is NaN or infinite stops the run before it is logged or saved, naming
    ``where`` (the recipe file and its train field) or else the checkpoint folder.

    Returns the log summary: final training loss (mean of the last 50 steps), wall time.
    """
    optimizer, scaler = make_optimizer(model, cfg), precision.scaler()
    meta = _load(ckpt_dir, model, optimizer, scaler, cfg)
    if meta is None:
        meta = {"step": 0, "seconds": 0.0, "losses": []}
    step, seconds, losses = meta["step"], meta["seconds"], meta["losses"]
    log_path = ckpt_dir / "log.jsonl"
    model.train()
    last_save = time.monotonic()
    bar = tqdm(total=cfg.max_steps, initial=step, desc=desc, dynamic_ncols=True)
    end = cfg.max_steps if stop_at is None else min(stop_at, cfg.max_steps)
    try:  # the bar is closed before an error is printed
        while step < end:
            start = time.perf_counter()
            value = _step(model, optimizer, scaler, cfg, step, loss_fn, batch_at(step), precision)
            seconds += time.perf_counter() - start
            if not math.isfinite(value):
                path, field = where or (ckpt_dir, "loss")
                message = (
                    f"the training loss is {value} (NaN or infinite) at step {step + 1}: the run "
                    "diverged, and this step is not saved (a lower train.lr, or another config)"
                )
                raise SpecError(path, field, value, message)
            losses = [*losses[-(LOSS_WINDOW - 1) :], value]
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}")
            record = {"step": step, "loss": value, "lr": cfg.lr_at(step - 1), "seconds": seconds}
            if eval_fn is not None and eval_every and step % eval_every == 0:
                model.eval()
                record["eval"] = eval_fn()
                model.train()
                tqdm.write(f"{desc} step {step}: {json.dumps(record['eval'])}")
            if step % cfg.log_every == 0 or "eval" in record:
                ckpt_dir.mkdir(parents=True, exist_ok=True)  # made at the first log or checkpoint
                _append_log(log_path, record)
            if time.monotonic() - last_save > cfg.checkpoint_every_s or step in (
                end,
                cfg.max_steps,
            ):
                _check_finite(model, step, where or (ckpt_dir, "weights"))
                extra = {"seconds": seconds, "losses": losses, "train": _settings_of(cfg)}
                _save(ckpt_dir, model, optimizer, scaler, step, extra)
                last_save = time.monotonic()
    finally:
        bar.close()
    model.eval()
    tail = losses[-50:]
    return {
        "steps": step,
        "train_loss": sum(tail) / max(1, len(tail)),
        "train_seconds": seconds,
    }
