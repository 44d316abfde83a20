"""A submitted model folder's files, checked without loading anything that could run code.

Plain files and folders only, no pickles (by suffix or by their bytes), no remote code in any
JSON, safetensors headers that match the model the config describes, built on the meta device.
Every refusal is a :class:`SpecError` naming the file, the field and the value.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from suite.config_values import MAX_LAYERS, config_value_field
from suite.errors import SpecError, cut
from suite.models import (
    ADAPTER_CONFIG,
    ADAPTER_MESSAGE,
    ATTENTION,
    PICKLE_SUFFIXES,
    check_generation_config,
    load_config,
    remote_code_field,
    remote_code_message,
)
from suite.paths import resolve
from suite.pickle_sniff import SNIFF_BYTES, SniffTooSlow, pickles
from suite.strict import check_side_file, read_config

_UNSNIFFED = (".safetensors", ".json")  # parsed strictly elsewhere; every other file is sniffed


MAX_SNIFFED_BYTES = 64 << 20  # files other than weights read as possible pickles, together
MAX_MODEL_FILES = 10_000  # entries of a submitted model folder (a model ships a handful)
MAX_MODEL_DEPTH = 8


def model_files(folder: Path, root: Path, field: str) -> list[Path]:
    """Every file under ``folder``: plain files and folders only (a symbolic link could change
    what is loaded after the check, a FIFO or device would block a reader), and no pickles."""
    files, stack, seen = [], [folder], 0
    sniffed: dict[tuple[int, int], Path] = {}
    budget = MAX_SNIFFED_BYTES
    while stack:
        current = stack.pop()
        if len(current.relative_to(folder).parts) > MAX_MODEL_DEPTH:
            message = f"nested over {MAX_MODEL_DEPTH} folders deep in the model folder; refused"
            raise SpecError(current, field, current.name, message)
        for p in sorted(current.iterdir()):
            seen += 1
            if seen > MAX_MODEL_FILES:  # each is listed, sniffed and sized
                message = f"over {MAX_MODEL_FILES:,} files and folders in the model folder"
                raise SpecError(folder, field, str(folder.name), message)
            try:
                p.name.encode("utf-8")
            except UnicodeEncodeError:  # bytes that are no text: a name no record can hold
                message = "a file name that is not UTF-8; rename it"
                raise SpecError(p, field, p.name, message) from None
            mode = p.lstat().st_mode
            if stat.S_ISLNK(mode):
                target = os.readlink(p)
                if not resolve(p, field).is_relative_to(root):
                    raise SpecError(p, field, target, "a symlink that leaves the submission folder")
                message = "a symbolic link; refused: ship plain files"
                raise SpecError(p, field, target, message)
            if stat.S_ISDIR(mode):
                stack.append(p)
                continue
            if not stat.S_ISREG(mode):
                raise SpecError(p, field, p.name, "not a regular file (a FIFO or device); refused")
            check_side_file(p, p.lstat().st_size, field)
            if p.name == ADAPTER_CONFIG:
                raise SpecError(p, field, p.name, ADAPTER_MESSAGE)
            if p.suffix.lower() in PICKLE_SUFFIXES:
                raise SpecError(p, field, p.name, PICKLE_MESSAGE)
            st = p.lstat()
            if p.suffix.lower() not in _UNSNIFFED:
                inode = (st.st_dev, st.st_ino)
                if inode not in sniffed:  # a hard link to a file read already: read once
                    budget -= min(st.st_size, SNIFF_BYTES[-1])
                    if budget < 0:
                        message = f"over {MAX_SNIFFED_BYTES:,} bytes of files to read as pickles"
                        raise SpecError(folder, field, str(folder.name), message)
                    sniffed[inode] = p
            files.append(p)
    try:  # read together: the unpicklers' reading runs in one child process
        found = pickles(list(sniffed.values()))
    except SniffTooSlow as slow:
        raise SpecError(slow.path, field, slow.path.name, str(slow)) from None
    if found:
        raise SpecError(found[0], field, found[0].name, PICKLE_MESSAGE)
    return files


PICKLE_MESSAGE = "pickle weights are refused (they can run code); save with safetensors"


_SIZES = frozenset({"head_dim", "hidden_size", "intermediate_size"})  # and num_*heads


def _at_least_one(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


MAX_JSON_FILES = 64  # a model folder's JSON files (config, tokenizer, index, generation)
MAX_JSON_BYTES = 32 << 20  # all of them together
_DTYPES = ("float32", "float16", "bfloat16", "float64")  # the suite loads each in float32


def check_weights_match_config(folder: Path, config: dict, shapes: dict, model_type: str) -> int:
    """Build the model its config describes on the meta device (no memory, no weights) and
    require its parameters to be exactly the shipped tensors, names and shapes; the parameter
    count is the model's. A config of another architecture, or one whose sizes disagree with
    the weights, would load with random or missing weights, so it is refused here."""
    import torch
    from transformers import AutoModelForCausalLM

    path = folder / "config.json"
    if config.get("model_type") != model_type:
        message = f"the family's models are '{model_type}'"
        raise SpecError(path, "model_type", config.get("model_type"), message)
    for key, value in config.items():
        if key.startswith("num_") and key.endswith("layers"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SpecError(path, key, value, "expected an integer >= 0")
            if value > MAX_LAYERS:
                raise SpecError(path, key, value, f"must be at most {MAX_LAYERS:,}")
        size = key in _SIZES or (key.startswith("num_") and key.endswith("heads"))
        if size and value is not None and not _at_least_one(value):  # 0: a ZeroDivisionError
            raise SpecError(path, key, value, "expected an integer >= 1 (or null)")
    for key in ("dtype", "torch_dtype"):  # the dtype the weights were saved in
        value = config.get(key)
        if value is not None and value not in _DTYPES:
            message = f"a floating dtype the model is built in: one of {', '.join(_DTYPES)}"
            raise SpecError(path, key, value, message)
    stated = {config.get(key) for key in ("dtype", "torch_dtype")} - {None}
    if len(stated) > 1:  # transformers takes `dtype` and drops `torch_dtype`: one of them is wrong
        message = f"the dtype `dtype` states, {config['dtype']!r}: one dtype, stated once or alike"
        raise SpecError(path, "torch_dtype", config["torch_dtype"], message)
    from transformers.activations import ACT2FN

    act = config.get("hidden_act", "silu")  # transformers' text is the bare name: say the field
    if not isinstance(act, str) or act not in ACT2FN:
        raise SpecError(path, "hidden_act", act, f"unknown activation; known: {', '.join(ACT2FN)}")
    try:  # built as the run builds it (suite.models.load_config), on the meta device
        cfg = load_config(folder)
        seq2seq = getattr(cfg, "is_encoder_decoder", False)  # load_model's class choice
        if not seq2seq:
            with torch.device("meta"):
                model = AutoModelForCausalLM.from_config(cfg, attn_implementation=ATTENTION)
    except SpecError:
        raise
    except Exception as err:  # transformers raises many types for a bad config
        text = " ".join(str(err).split())  # its validation errors span lines
        field = _named_field(text, config)
        value = config.get(field, path.name)
        message = f"cannot build the model: {type(err).__name__}: {cut(text, 300)}"
        raise SpecError(path, field, value, message) from None
    if seq2seq:
        message = "an encoder-decoder config: it would load as another model than the family's"
        raise SpecError(path, "is_encoder_decoder", config.get("is_encoder_decoder"), message)
    built = type(model).__name__
    architectures = config.get("architectures")
    if architectures is not None and architectures != [built]:
        message = f"the config builds a {built}: architectures must be [{built!r}] or absent"
        raise SpecError(path, "architectures", architectures, message)
    expected = {name: tuple(p.shape) for name, p in model.named_parameters()}
    for name in sorted(set(expected) | set(shapes)):
        if name not in shapes:
            message = "the config's model has this parameter; the weights lack it"
            raise SpecError(path, "missing weight", name, message)
        if name not in expected:
            message = "the weights hold this tensor; the config's model has no such parameter"
            raise SpecError(path, "unexpected weight", name, message)
        if expected[name] != shapes[name]:
            message = f"shape {list(shapes[name])} in the weights, {list(expected[name])} in config"
            raise SpecError(path, "weight shape", name, message)
    _meta_forward(model, path)
    return sum(p.numel() for p in model.parameters())


# transformers' words for a config field its error names otherwise
_ERROR_FIELDS = {"padding_idx": "pad_token_id"}


def _named_field(text: str, config: dict) -> str:
    """The config field transformers' error names (``field 'x'``, a backquoted name, or its own
    word for one), else ``config.json``."""
    for found in re.findall(r"field '(\w+)'|`(\w+)`|(\w+) must be", text):
        for name in found:
            name = _ERROR_FIELDS.get(name.lower(), name)
            if name in config:
                return name
    return "config.json"


def _meta_forward(model, path: Path) -> None:
    """The config's model runs a 4-token forward pass on the meta device (shapes only, no
    memory): sizes the weights cannot show (key-value heads that do not divide the attention
    heads) fail here, not after ``submit`` has loaded the weights."""
    import torch

    # a RoPE that updates its frequencies by the input's length reads a value (``.item()``),
    # which the meta device has none of; shapes do not depend on it, so it runs as the default
    dynamic = [m for m in model.modules() if "dynamic" in str(getattr(m, "rope_type", ""))]
    kinds = [m.rope_type for m in dynamic]
    try:
        for m in dynamic:
            m.rope_type = "default"
        with torch.no_grad(), torch.device("meta"):
            logits = model(input_ids=torch.zeros((1, 4), dtype=torch.long)).logits
    except Exception as err:  # shape errors of many types
        message = f"its model cannot run a forward pass: {type(err).__name__}: {cut(str(err))}"
        raise SpecError(path, "config.json", path.name, message) from None
    finally:
        for m, kind in zip(dynamic, kinds, strict=True):
            m.rope_type = kind
    rows = model.get_output_embeddings().weight.shape[0]
    if tuple(logits.shape) != (1, 4, rows):
        message = f"its model gives logits of shape {list(logits.shape)}, not [1, 4, {rows}]"
        raise SpecError(path, "config.json", path.name, message)


def model_config(folder: Path, files: list[Path]) -> dict:
    """config.json of a causal LM type; every JSON file of the model (config, tokenizer,
    generation config) read strictly, at most 16 MiB, and without remote code anywhere in it."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    path = folder / "config.json"
    if path not in files:
        raise SpecError(path, "config.json", str(folder), "no config.json: not a model folder")
    jsons = sorted(p for p in files if p.suffix.lower() == ".json")
    total = sum(p.stat().st_size for p in jsons)
    if len(jsons) > MAX_JSON_FILES or total > MAX_JSON_BYTES:
        message = (
            f"{len(jsons)} JSON files, {total:,} bytes in all; at most {MAX_JSON_FILES} files "
            f"and {MAX_JSON_BYTES:,} bytes"
        )
        raise SpecError(folder, "*.json", str(folder.name), message)
    for name in jsons:
        remote = remote_code_field(read_config(name, nofollow=True))
        if remote:
            raise SpecError(name, remote[0], remote[1], remote_code_message(remote[0]))
    config = read_config(path, nofollow=True)
    bad = config_value_field(config)
    if bad:
        raise SpecError(path, *bad)
    model_type = config.get("model_type")
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        message = "not a causal LM type this transformers knows without remote code"
        raise SpecError(path, "model_type", model_type, message)
    _check_generation_config(folder, files)
    return config


def _check_generation_config(folder: Path, files: list[Path]) -> None:
    """As the load reads it: whatever is at its name (a folder there is refused as the load
    refuses it), not only a file :func:`model_files` listed."""
    check_generation_config(folder)


INDEX_SUFFIX = ".safetensors.index.json"


def check_shard_indexes(folder: Path, files: list[Path], field: str) -> None:
    """Every ``*.safetensors.index.json`` read strictly: its ``weight_map`` names, for each
    tensor, the file name of a shard shipped beside it (transformers would follow any path)."""
    for index in sorted(p for p in files if p.name.endswith(INDEX_SUFFIX)):
        shards = {p.name for p in files if p.parent == index.parent and p.suffix == ".safetensors"}
        weight_map = read_config(index, nofollow=True).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise SpecError(index, "weight_map", weight_map, "expected a tensor -> shard mapping")
        for tensor, shard in weight_map.items():
            if not isinstance(shard, str) or shard not in shards:
                message = "must be the file name of a .safetensors shard in this folder"
                raise SpecError(index, f"weight_map.{tensor}", shard, message)


SAFE_WEIGHTS = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"


def loaded_weights(folder: Path, files: list[Path], field: str) -> list[Path]:
    """The safetensors files transformers will load, as it chooses them: ``model.safetensors``
    when there is one, else the shards ``model.safetensors.index.json`` names (checked by
    :func:`check_shard_indexes`). Any other ``.safetensors`` file, which the checks would read
    and the load would not, is refused."""
    single, index = folder / SAFE_WEIGHTS, folder / SAFE_INDEX
    if single in files:
        loaded = [single]
    elif index in files:
        shards = set(read_config(index, nofollow=True)["weight_map"].values())
        loaded = [folder / name for name in sorted(shards)]
    else:
        message = f"no {SAFE_WEIGHTS} (or {SAFE_INDEX} and its shards): nothing would load"
        raise SpecError(folder, field, str(folder), message)
    for path in files:
        if path.name.lower().endswith(".safetensors") and path not in loaded:
            message = (
                f"a weights file the model would not load (it loads {SAFE_WEIGHTS}, or the shards "
                f"{SAFE_INDEX} names): remove it"
            )
            raise SpecError(path, field, path.name, message)
    return loaded


def check_finite(files: list[Path], field: str = "model", dtype: str = "float32") -> None:
    """Every tensor's values are finite (NaN or infinite weights would give NaN probabilities
    at run time); read one tensor at a time, after the size check."""
    import torch
    from safetensors import safe_open

    for path in files:
        with safe_open(str(path), framework="pt") as fh:
            for key in fh.keys():  # noqa: SIM118 (safe_open has no __iter__)
                tensor = fh.get_tensor(key)
                if not bool(torch.isfinite(tensor).all()):
                    value = "nan" if bool(torch.isnan(tensor).any()) else "inf"
                    raise SpecError(path, key, value, "weights must be finite numbers")
                runs = getattr(torch, dtype)  # the profile's: float32, float16 or bfloat16
                if tensor.numel() and torch.finfo(tensor.dtype).max > torch.finfo(runs).max:
                    peak = float(tensor.abs().max())
                    if peak > torch.finfo(runs).max:
                        message = f"beyond {dtype}'s range: infinite in the dtype the run loads"
                        raise SpecError(path, key, peak, message)
