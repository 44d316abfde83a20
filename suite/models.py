"""Loading models and tokenizers: safetensors only, no remote code unless asked for by flag."""

from __future__ import annotations

import contextlib
import logging
import re
import reprlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PretrainedConfig,
)

from suite.config_values import config_value_field
from suite.errors import SpecError, cut
from suite.jsonable import entries
from suite.panic_text import panic_text_held
from suite.pickle_sniff import SniffTooSlow, pickles
from suite.strict import check_side_file, read_config
from suite.tokenizer_files import (
    TOKENIZER_JSON,
    BuiltTokenizerError,
    check_loaded_special_tokens,
    check_special_tokens,
    check_tokenizer_file,
    check_tokenizer_regexes,
)
from suite.tokenizer_ids import SPECIAL_IDS, special_id_problem

# A PEFT adapter's config: where peft is installed, transformers loads the base model it names
# (any folder or Hub id) and applies the adapter, so the folder checked is not the model run.
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_MESSAGE = (
    "a PEFT adapter config makes transformers load the model it names instead; merge the "
    "adapter into the weights and save them with save_pretrained"
)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# keys that make transformers import code the model folder names: remote classes, attention or
# MoE kernels fetched from the Hub, quantizers (which swap in other layers); and keys that patch
# the layers it builds (module fusion) or spread the load over processes
LAYER_KEYS = ("fusion_config", "distributed_config", "kernel_config", "use_kernels")
REMOTE_CODE_KEYS = ("trust_remote_code", "auto_map", "quantization_config", *LAYER_KEYS)
KERNEL_KEYS = ("attn_implementation", "_attn_implementation", "experts_implementation")
BUILT_IN_KERNELS = ("eager", "sdpa")  # the only values a kernel key may hold
ATTENTION = "sdpa"  # every model is loaded with this, whatever its config says
# What forward returns, not what it computes: every model is built with these values, whatever
# its config says (a config's "return_dict": false made forward return tuples, and
# "output_attentions": true is refused by transformers with the built-in attention)
FORWARD_OUTPUTS = {
    "return_dict": True,
    "output_attentions": False,
    "output_hidden_states": False,
    "output_router_logits": False,
    "torchscript": False,
    "use_cache": True,
}
PROBE_TOKENS = 8  # the short input of check_finite_logits


def remote_code_field(value: Any, field: str = "") -> tuple[str, Any] | None:
    """The dotted field and value of the first key anywhere in a YAML or JSON value that would
    make transformers import code: :data:`REMOTE_CODE_KEYS`, or a :data:`KERNEL_KEYS` key whose
    value is not a built-in implementation."""
    for name, key, sub in entries(value, field):
        if key in REMOTE_CODE_KEYS:
            return name, sub
        if key in KERNEL_KEYS and sub is not None and sub not in BUILT_IN_KERNELS:
            return name, sub
    return None


def remote_code_message(field: str) -> str:
    """Why :func:`remote_code_field`'s field is refused."""
    key = field.rsplit(".", 1)[-1]
    if key in KERNEL_KEYS:
        return f"code from outside the folder is refused: use {' or '.join(BUILT_IN_KERNELS)}"
    if key in LAYER_KEYS:
        return "refused: it patches the layers transformers builds (the model must load as saved)"
    if key == "quantization_config":
        return (
            "quantized models are refused (a quantizer swaps in other layers): ship float weights"
        )
    return "remote code is refused: the model must load without it"


def check_weights_folder(path: str | Path, field: str = "model") -> Path:
    """A local ``save_pretrained`` folder whose weights are safetensors and nothing else: no
    file named as a pickle (any case) or holding one (:func:`suite.pickle_sniff.pickles`,
    as a submission's files are read)."""
    folder = Path(path)
    if not folder.is_dir():
        raise SpecError(folder, field, str(path), "not a folder holding a save_pretrained model")
    named = [p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES]
    read = sorted(
        p for p in folder.iterdir()
        if p.suffix != ".safetensors" and p.is_file() and not p.is_symlink()
    )  # fmt: skip
    try:
        found = sorted(named) or [p.name for p in pickles(read)]  # training_args.BIN too
    except SniffTooSlow as slow:
        raise SpecError(folder, field, slow.path.name, str(slow)) from None
    if found:
        raise SpecError(
            folder, field, found[0], "pickle checkpoints are refused; save with safetensors"
        )
    if (folder / ADAPTER_CONFIG).exists():
        raise SpecError(folder, field, ADAPTER_CONFIG, ADAPTER_MESSAGE)
    if not any(p.suffix == ".safetensors" for p in folder.iterdir()):
        raise SpecError(folder, field, str(path), "no .safetensors weights in this folder")
    for p in folder.iterdir():  # each is hashed into the model's fingerprint
        if p.is_file():
            check_side_file(p, p.stat().st_size, field)
    config = folder / "config.json"
    if config.exists():  # strict JSON, at most 16 MiB, no code named in it, before transformers
        check_config_file(config)
    check_generation_config(folder, nofollow=False)  # a bundle may link it, as its config
    return folder


GENERATION_CONFIG = "generation_config.json"


def check_generation_config(folder: Path, *, nofollow: bool = True) -> None:
    """``generation_config.json`` as transformers reads it when the model loads: a value it
    refuses (``max_new_tokens: -3``, a string where a number goes) is named here, by its file
    and field, not as a traceback or a bare message at load."""
    from transformers import GenerationConfig

    path = Path(folder) / GENERATION_CONFIG
    if not (path.exists() or path.is_symlink()):
        return
    data = read_config(path, nofollow=nofollow)
    for key in SPECIAL_IDS:  # a list where one id goes, named (transformers compares it with 0)
        problem = special_id_problem(key, data.get(key))
        if problem:
            raise SpecError(path, *problem)
    try:
        GenerationConfig.from_dict(data)
    except Exception as err:  # transformers' refusals: ValueError, TypeError...
        text = cut(" ".join(str(err).split()), 300)
        named = [name for name in re.findall(r"`(\w+)`", text) if name in data]
        field = named[0] if named else _wrong_type(data) or GENERATION_CONFIG
        value = data.get(field, path.name)
        message = f"transformers refuses it: {type(err).__name__}: {text}"
        raise SpecError(path, field, value, message) from None


def _wrong_type(data: dict) -> str | None:
    """The first count or rate of a generation config that is text (``"5"``), or None."""
    numeric = ("max_", "min_", "num_", "top_", "temperature")
    for key, value in data.items():
        if (key.startswith(numeric) or key.endswith("_token_id")) and isinstance(value, str):
            return key
    return None


def check_config_file(config: Path) -> None:
    """A model's config.json read strictly and scanned for :func:`remote_code_field`'s keys and
    for numbers out of range (:func:`suite.config_values.config_value_field`)."""
    data = read_config(config)
    remote = remote_code_field(data)
    if remote:
        raise SpecError(config, remote[0], remote[1], remote_code_message(remote[0]))
    bad = config_value_field(data)
    if bad:
        raise SpecError(config, *bad)


def force_outputs(config: PretrainedConfig) -> PretrainedConfig:
    """``config`` and its sub-configs with :data:`FORWARD_OUTPUTS` wherever they hold the key."""
    todo = [config]
    while todo:
        current = todo.pop()
        for key, value in FORWARD_OUTPUTS.items():
            if hasattr(current, key) and getattr(current, key) != value:
                setattr(current, key, value)
        subs = (getattr(current, key, None) for key in getattr(current, "sub_configs", None) or ())
        todo.extend(sub for sub in subs if isinstance(sub, PretrainedConfig))
    return config


def load_config(
    path: str | Path, *, trust_remote_code: bool = False, revision: str | None = None
) -> PretrainedConfig:
    """The config every model is built from, here and in the submission check: config.json as
    transformers reads it, with :data:`FORWARD_OUTPUTS` forced. Check the files first."""
    with _RopeComplaints() as complaints:
        config = AutoConfig.from_pretrained(
            str(path), trust_remote_code=trust_remote_code, revision=revision
        )
    if complaints.messages:  # transformers only warns, then builds a model it calls invalid
        where = Path(path) / "config.json" if is_local(path) else str(path)
        rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None)
        raise SpecError(where, "rope_parameters", reprlib.repr(rope), complaints.messages[0])
    return force_outputs(config)


class _RopeComplaints(logging.Handler):
    """The warnings of transformers' RoPE validation while a config is read, whatever the
    verbosity the user set: each one names a RoPE field transformers itself calls invalid."""

    LOGGER = "transformers.modeling_rope_utils"

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:300])

    def __enter__(self) -> _RopeComplaints:
        logger = logging.getLogger(self.LOGGER)
        self._saved = logger.level, logger.propagate
        logger.addHandler(self)
        logger.setLevel(logging.WARNING)
        logger.propagate = False  # the complaint becomes the error; it is not printed twice
        return self

    def __exit__(self, *exc) -> None:
        logger = logging.getLogger(self.LOGGER)
        logger.removeHandler(self)
        logger.setLevel(self._saved[0])
        logger.propagate = self._saved[1]


def is_local(path: str | Path) -> bool:
    """A folder (or what is written like one), not a Hub id."""
    return Path(path).exists() or str(path).startswith((".", "/", "~"))


def check_model_files(path: str | Path, revision: str | None = None) -> None:
    """What is checked before transformers reads a model: a local folder's files
    (:func:`check_weights_folder`), or a Hub model's ``config.json``, the file transformers would
    read (from the Hub cache, fetched into it first where the Hub is reachable), scanned the same
    way: a Hub config naming a quantizer, a kernel or remote code is refused like a folder's."""
    if is_local(path):
        check_weights_folder(path)
        return
    from transformers.utils import cached_file

    config = cached_file(str(path), "config.json", revision=revision)
    check_config_file(Path(config))


class _UntiedT5Notice(logging.Filter):
    """transformers 5 always declares T5's lm_head tied to its embeddings and warns when a T5
    v1.1-style checkpoint (the bundle's) holds both with different values; it then keeps them
    apart, as trained. That expected case is not worth a warning per load. Nor is the table of
    missing, unexpected or mismatched keys: :func:`_load` refuses them in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "LOAD REPORT" in message and "CONVERSION" not in message:
            return False
        return "tie shared.weight to lm_head.weight" not in message


def _load_error(path, err: Exception) -> SpecError:
    """transformers' own refusal of a folder (a generation config it cannot validate, a value
    of the wrong type) as one line naming the folder; the field where its text names one."""
    text = " ".join(str(err).split())
    named = re.search(r"`(\w+)`", text)
    field = named.group(1) if named else "model"
    return SpecError(
        path, field, str(path), f"does not load: {type(err).__name__}: {cut(text, 300)}"
    )


def _load(path, dtype, trust_remote_code, revision, *, seq2seq_allowed: bool):
    check_model_files(path, revision)
    config = load_config(path, trust_remote_code=trust_remote_code, revision=revision)
    seq2seq = seq2seq_allowed and getattr(config, "is_encoder_decoder", False)
    if not seq2seq_allowed and getattr(config, "is_encoder_decoder", False):
        message = "this command runs decoder-only (causal) models; an encoder-decoder one is not"
        model_type = getattr(config, "model_type", None)
        raise SpecError(_config_where(path), "model_type", model_type, message)
    auto_cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    if is_local(path):
        _check_size(path, config, auto_cls)
    quiet = _UntiedT5Notice()
    logger = logging.getLogger("transformers.modeling_utils")
    logger.addFilter(quiet)
    try:
        with _refusals(path, config, auto_cls):
            model, info = auto_cls.from_pretrained(
                str(path),
                config=config,
                dtype=dtype,
                use_safetensors=True,
                trust_remote_code=trust_remote_code,
                revision=revision,
                output_loading_info=True,
                # reported in ``info`` and refused below, not raised as a bare RuntimeError
                ignore_mismatched_sizes=True,
                attn_implementation=ATTENTION,  # never a kernel the config names
            )
    finally:
        logger.removeFilter(quiet)
    _check_shapes(path, info.get("mismatched_keys") or ())
    for kind in ("missing_keys", "unexpected_keys"):
        keys = sorted(str(k) for k in info.get(kind) or ())
        if keys:  # a model with random or ignored weights would be scored as if trained
            message = f"{len(keys)} {kind.replace('_', ' ')} between config and weights"
            raise SpecError(path, kind, keys[0], message)
    if seq2seq:
        _check_decoder_start(path, model)
    return model.eval()


MAX_BUFFER_BYTES = 256 << 20


def _check_size(path, config, auto_cls) -> None:
    """A local model's config builds the parameters its safetensors hold, each by name and
    shape, and buffers (masks, tables) bounded by them: its model is built on the meta device (no
    memory) and held against the headers. transformers builds and fills the whole model a config
    describes before it compares it with the weights, so a config.json of a larger model than
    its weights would be allocated first (gigabytes from a file of a few)."""
    import math

    from suite.safetensors_files import weight_shapes

    files = sorted(p for p in Path(path).iterdir() if p.suffix == ".safetensors")
    shapes = weight_shapes(files)
    where = _config_where(path)
    with _refusals(path, config, auto_cls), torch.device("meta"):
        model = auto_cls.from_config(config, attn_implementation=ATTENTION)
    built = {name: tuple(p.shape) for name, p in model.named_parameters()}
    _check_shapes(path, [(n, shapes[n], s) for n, s in built.items() if shapes.get(n, s) != s])
    missing = sorted(name for name in built if name not in shapes)
    if missing:  # named as the check after loading names them, before anything is allocated
        message = f"{len(missing)} missing keys between config and weights"
        raise SpecError(path, "missing_keys", missing[0], message)
    held = sum(math.prod(shapes[name]) for name in built)  # the tensors the model takes
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    bound = max(4 * held, MAX_BUFFER_BYTES)  # a model's masks and tables: small beside it
    if buffers > bound:  # a causal mask of n_positions²: quadratic in a size the weights show once
        message = (
            f"its model's buffers (masks, tables) take {buffers:,} bytes, over {bound:,}: more "
            "than its weights could use"
        )
        raise SpecError(where, "config.json", f"{buffers:,} bytes", message)


@contextlib.contextmanager
def _refusals(path, config, auto_cls) -> Iterator[None]:
    """transformers' refusal of a model it builds, as one line naming the folder (the field
    where its text names one)."""
    try:
        yield
    except ValueError as err:  # transformers' refusal of a config class: a page of names
        if "Unrecognized configuration class" not in str(err):
            raise _load_error(path, err) from None
        message = f"transformers has no {auto_cls.__name__} for this model type"
        model_type = getattr(config, "model_type", None)
        raise SpecError(_config_where(path), "model_type", model_type, message) from None
    except Exception as err:  # ZeroDivisionError, TypeError...: transformers' own, on a value
        raise _load_error(path, err) from None


def _config_where(path) -> Path | str:
    """How an error names a model's config.json: the file of a local folder, else the Hub id."""
    return Path(path) / "config.json" if is_local(path) else f"{path} (config.json)"


def _check_decoder_start(path, model) -> None:
    """An encoder-decoder model's decoder starts from a token of its vocabulary, named by its
    config or generation config: refused naming config.json otherwise (it failed at the first
    cell, naming no file)."""
    from suite.decoding.plumbing import configured_decoder_start

    token = configured_decoder_start(model)
    rows = int(model.get_output_embeddings().weight.shape[0])
    if isinstance(token, int) and not isinstance(token, bool) and 0 <= token < rows:
        return
    where = _config_where(path)
    message = f"an encoder-decoder model's decoder starts from a token id in [0, {rows:,})"
    raise SpecError(where, "decoder_start_token_id", token, message)


def _check_shapes(path, mismatched) -> None:
    """Refuse a model whose config.json gives a parameter another shape than its weights (the
    parameter would be left random): ``mismatched`` is transformers' (name, weights' shape,
    config's shape) triples."""
    if not mismatched:
        return
    name, weights, config = sorted((str(k), list(a), list(b)) for k, a, b in mismatched)[0]
    where = _config_where(path)
    message = (
        f"weights and config disagree on shapes: {len(mismatched)} tensors, e.g. this one is "
        f"{weights} in the weights, {config} by the config"
    )
    raise SpecError(where, "weight shape", name, message)


def load_causal_lm(
    path: str | Path,
    *,
    dtype: torch.dtype = torch.float32,
    trust_remote_code: bool = False,
    revision: str | None = None,
):
    """A causal LM in eval mode from a local folder (safetensors) or a Hub id."""
    return _load(path, dtype, trust_remote_code, revision, seq2seq_allowed=False)


def load_model(
    path: str | Path,
    *,
    dtype: torch.dtype = torch.float32,
    trust_remote_code: bool = False,
    revision: str | None = None,
):
    """A causal LM or, when its config says encoder-decoder (T5), a seq2seq LM, in eval mode.

    One loader for both families, so the bundle and the KD code need not know which they hold.
    """
    return _load(path, dtype, trust_remote_code, revision, seq2seq_allowed=True)


def check_finite_logits(model, where: str | Path, field: str = "model", value=None) -> None:
    """One forward over a few tokens, on the model as it runs (its device and dtype): a model
    whose numbers give NaN or infinite logits (weights that overflow, a config the range checks
    let through) is refused naming ``where`` before it scores anything."""
    for name, p in model.named_parameters():  # every row, not only the probe's: in its dtype
        if not bool(torch.isfinite(p).all()):
            kind = "NaN" if bool(torch.isnan(p).any()) else "infinite"
            message = (
                f"parameter {name} holds {kind} values in {str(p.dtype).removeprefix('torch.')}"
                " (the dtype it runs in): its weights overflow it"
            )
            raise SpecError(where, field, str(where) if value is None else value, message)
    vocab = model.get_input_embeddings().num_embeddings
    device = next(model.parameters()).device
    ids = torch.arange(min(PROBE_TOKENS, vocab), device=device).unsqueeze(0)
    with torch.inference_mode():
        if getattr(model.config, "is_encoder_decoder", False):
            logits = model(input_ids=ids, decoder_input_ids=ids[:, :1]).logits
        else:
            logits = model(input_ids=ids).logits
    if not bool(torch.isfinite(logits).all()):
        kind = "NaN" if bool(torch.isnan(logits).any()) else "infinite"
        message = (
            f"the model gives {kind} logits on a short input: check its weights and "
            "config.json's numbers (norm epsilons, RoPE parameters)"
        )
        raise SpecError(where, field, str(where) if value is None else value, message)


def load_tokenizer(
    path: str | Path, *, trust_remote_code: bool = False, revision: str | None = None
):
    """A tokenizer whose regexes and special tokens pass :mod:`suite.tokenizer_files`' rules (a
    local folder's or a Hub tokenizer's), before it tokenizes anything."""
    if str(path).startswith((".", "/", "~")) and not Path(path).is_dir():
        raise SpecError(path, "tokenizer", str(path), "no such tokenizer folder")
    where = Path(path) / TOKENIZER_JSON if is_local(path) else f"{path} ({TOKENIZER_JSON})"
    file_checked = is_local(path) and Path(where).is_file()
    if file_checked:  # its own rules first: a Rust panic at load is one they refuse
        check_tokenizer_file(Path(where))
    if is_local(path):  # strict JSON (transformers reads NaN), special tokens bounded
        check_special_tokens(Path(path))
    try:
        with panic_text_held():  # a Rust panic's report: named below in one line
            tokenizer = AutoTokenizer.from_pretrained(
                str(path), trust_remote_code=trust_remote_code, revision=revision
            )
    except SpecError:
        raise
    except BaseException as err:  # the tokenizers library's own refusals name no file
        panic = type(err).__name__ == "PanicException"
        if not is_local(path) or not (panic or isinstance(err, Exception)):
            raise
        lines = str(err).strip().splitlines()
        text = f"{type(err).__name__}: {lines[0][:300] if lines else ''}"
        message = f"the tokenizer does not load: {text}"
        raise SpecError(Path(path), "tokenizer", str(path), message) from None
    try:
        check_tokenizer_regexes(tokenizer, where)
    except BuiltTokenizerError as err:
        if not file_checked:
            raise
        # tokenizer.json passed: what transformers built of it differs, by tokenizer_class
        config = Path(path) / "tokenizer_config.json"
        wanted = read_config(config).get("tokenizer_class") if config.is_file() else None
        message = (
            f"transformers builds a {type(tokenizer).__name__} from the folder, whose "
            f"{err.field} = {cut(str(err.value), 80)}: {err.reason}"
        )
        raise SpecError(config, "tokenizer_class", wanted, message) from None
    check_loaded_special_tokens(tokenizer, where)
    return tokenizer
