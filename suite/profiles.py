"""Profiles: the sizes of a run (prompts, seeds, tokens) and the models it runs on.

A profile changes sizes and model locations, never code paths (DESIGN section 9). ``smoke``,
``quick`` and ``full`` run on the bundle in ``reference/``; ``paper`` names the paper's own models
on the Hugging Face Hub and validates here without a network, because nothing is fetched until a
model is loaded.

Every draft carries its facts (:class:`suite.drafts.DraftFacts`): a bundle's drafts from their
``training.json``, a profile's drafts from a ``facts`` mapping or, for a local folder, its
``training.json``. The draft named ``base`` is the base draft (a role, like ``target``).
"""

from __future__ import annotations

import hashlib
import re
import reprlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from suite.drafts import BASE, OTHER, DraftFacts, facts_from_mapping, read_training_facts
from suite.errors import SpecError, control_character
from suite.paths import PROFILES_DIR, bundle_path, portable_path, spec_file, spec_names
from suite.reader import MAX_N_BOOT
from suite.sandbox import MAX_CHAT_TEMPLATE_CHARS, chat_template_refusal
from suite.specs import MAX_NEW_TOKENS, MAX_SEEDS, SAFE_NAME, SAFE_NAME_RULE, Reader, read_named
from suite.stats.intervals import MAX_BOOTSTRAP_DRAWS
from suite.strict import check_side_file, read_config
from suite.tokenizer_files import (
    TOKENIZER_JSON,
    check_special_tokens,
    check_tokenizer_file,
    check_tokenizer_vocabulary,
)

ENGINES = ("analytic", "empirical")
DEVICES = ("cpu", "cuda", "auto")
DTYPES = ("float32", "float16", "bfloat16")
BASE_DRAFT = BASE
# owner/name in ASCII; neither part '.', '..' or holding '..' (the Hub refuses those, and a local
# cache or mirror would read them as folders)
_HUB_ID = re.compile(r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]*/(?!\.)[A-Za-z0-9_.-]+")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_NOT_DRAFTS = ("tokenizer", "target")
DEFAULT_N_BOOT = 1000  # bootstrap resamples of an analytic cell's interval over prompts

# Files that describe a model without changing it: left out of its fingerprint, so that writing
# a model card does not make the results measured on the model stale.
_NOT_FINGERPRINTED = frozenset({"README.md"})


@dataclass(frozen=True)
class ModelRef:
    """A model by local folder or by Hub id (with an optional pinned revision)."""

    name: str
    path: Path | None = None
    hub: str | None = None
    revision: str | None = None
    facts: DraftFacts | None = None  # drafts only: how the model was made
    # the folder records name, where ``path`` is a private copy of it (a submission's model,
    # which submit checks, copies and loads from the copy): None when it is ``path``
    shown: Path | None = None

    @property
    def location(self) -> str:
        return str(self.path) if self.path is not None else self.hub

    def fingerprint(self) -> str:
        """sha256 over the folder's files (name and content) but its model card, or the Hub id
        at its revision."""
        if self.path is None:
            return f"hub:{self.hub}@{self.revision or 'main'}"
        return _folder_digest(self.path)


@dataclass(frozen=True)
class FamilyModels:
    """One model family of a profile: tokenizer, target, and every draft by name."""

    family: str
    tokenizer: ModelRef
    target: ModelRef
    drafts: dict[str, ModelRef]


@dataclass(frozen=True)
class EngineSizes:
    prompts: int
    seeds: int
    max_new_tokens: int
    batch_size: int = 16
    n_boot: int = DEFAULT_N_BOOT  # analytic: resamples of α̂'s interval over prompts


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    device: str
    dtype: str
    models: dict[str, FamilyModels]
    sizes: dict[str, EngineSizes]
    path: Path
    max_draft_parameters: int | None = None  # submissions above it are refused; None: no limit

    def family(self, name: str, where: Path, field: str) -> FamilyModels:
        if name not in self.models:
            known = ", ".join(sorted(self.models))
            message = f"profile '{self.name}' has no such model family; known: {known}"
            raise SpecError(where, field, name, message)
        return self.models[name]


def _folder_digest(folder: Path) -> str:
    """The sha256 of a model folder's files (names and bytes): its top level and the chat
    templates transformers also reads from ``additional_chat_templates/``. Each file adds its
    name's length, its name and its content's sha256, so no two folders share one (a file's
    bytes cannot pass for the next file's name)."""
    digest = hashlib.sha256()
    extra = folder / ADDITIONAL_TEMPLATES
    nested = sorted(extra.iterdir()) if extra.is_dir() and not extra.is_symlink() else []
    for p in [*sorted(folder.iterdir()), *nested]:
        if p.is_file() and p.name not in _NOT_FINGERPRINTED:
            check_side_file(p, p.stat().st_size)
            name = str(p.relative_to(folder)).encode("utf-8", "surrogateescape")
            content = hashlib.sha256()
            with p.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    content.update(chunk)
            digest.update(len(name).to_bytes(8, "big") + name + content.digest())
    return digest.hexdigest()


# A model's location in a record is at most 1,024 characters: a folder named here leaves room
# for a model folder's name in it (``/`` and 128 characters).
MAX_FOLDER_LOCATION = 1_024 - 129


def _local(r: Reader, value: Any, field: str) -> Path:
    """A folder the profile names: plain text (records and tables show it), and short enough
    that the records of the models in it can state where they are."""
    text = r.string(value, field)
    c = control_character(text, allowed="")
    if c is not None:
        message = f"holds U+{ord(c):04X}: a folder path is plain text (no control character)"
        raise r.error(field, text, message)
    try:
        folder = bundle_path(text)
    except ValueError as e:
        raise r.error(field, text, str(e)) from None
    shown = portable_path(folder)
    if len(shown) > MAX_FOLDER_LOCATION:
        message = (
            f"{len(shown):,} characters as records state it; a model folder's location is at "
            f"most 1,024, so a folder holding models at most {MAX_FOLDER_LOCATION:,}"
        )
        raise r.error(field, text, message)
    return folder


def _model_folder(r: Reader, folder: Path, field: str, value: Any) -> Path:
    """A model folder named by the profile holds a readable config.json (strict JSON, at most
    16 MiB); refused naming the profile file, the field and the value otherwise."""
    config = folder / "config.json"
    if not config.is_file():
        raise r.error(field, value, f"no config.json in {folder}: not a model folder")
    try:
        read_config(config)
    except SpecError as err:
        raise r.error(field, value, f"{config}: {err.message}") from None
    return folder


ADDITIONAL_TEMPLATES = "additional_chat_templates"
MAX_ADDITIONAL_TEMPLATES = 16


def _template_text(jinja: Path) -> str:
    """A chat template file's text: at most MAX_CHAT_TEMPLATE_CHARS characters of UTF-8, sized
    before it is read."""
    if jinja.stat().st_size > MAX_CHAT_TEMPLATE_CHARS * 4:
        raise SpecError(jinja, "chat_template", jinja.name,
                        f"over {MAX_CHAT_TEMPLATE_CHARS:,} characters")  # fmt: skip
    try:
        return jinja.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        message = f"not UTF-8 text (byte {err.start}); refused"
        raise SpecError(jinja, "chat_template", jinja.name, message) from None


def check_chat_templates(folder: Path) -> None:
    """A tokenizer folder's chat templates (tokenizer_config.json, chat_template.jinja or .json,
    additional_chat_templates/*.jinja) obey the sandbox's chat-template rules; a SpecError names
    the file otherwise. Read wherever a folder may come to be a tokenizer: a profile's, a
    submission's."""
    found = []
    config = folder / "tokenizer_config.json"
    if config.is_file() and "chat_template" in (data := read_config(config)):
        found.append((config, data["chat_template"]))
    extra_dir = folder / ADDITIONAL_TEMPLATES  # transformers reads every .jinja in it
    extras = sorted(extra_dir.glob("*.jinja")) if extra_dir.is_dir() else []
    if len(extras) > MAX_ADDITIONAL_TEMPLATES:
        message = f"{len(extras)} templates; at most {MAX_ADDITIONAL_TEMPLATES}"
        raise SpecError(extra_dir, "chat_template", ADDITIONAL_TEMPLATES, message)
    for jinja in [folder / "chat_template.jinja", *extras]:
        if jinja.is_file():
            found.append((jinja, _template_text(jinja)))
    extra = folder / "chat_template.json"
    if extra.is_file():
        found.append((extra, read_config(extra).get("chat_template")))
    for path, template in found:
        problem = chat_template_refusal(template)
        if problem:
            raise SpecError(path, "chat_template", path.name, problem)


def _chat_templates(r: Reader, folder: Path, field: str, value: Any) -> None:
    """:func:`check_chat_templates`, refused when the profile is read, before any run."""
    try:
        check_chat_templates(folder)
    except SpecError as err:
        raise r.error(field, value, f"{err.path}: {err.message}") from None


def _tokenizer_regexes(r: Reader, folder: Path, field: str, value: Any) -> None:
    """A tokenizer folder's ``tokenizer.json`` regexes (normalizers, pre-tokenizers, decoders)
    obey :mod:`suite.tokenizer_files`' rules: refused when the profile is read, before any run
    (one that backtracks without bound made the Rust tokenizer panic on a prompt)."""
    path = folder / TOKENIZER_JSON
    if not path.is_file():
        return
    try:
        check_tokenizer_file(path)
    except SpecError as err:
        raise r.error(field, value, str(err)) from None


def _tokenizer_folder(r: Reader, folder: Path, field: str, value: Any) -> None:
    """What a tokenizer folder holds that runs on every prompt: special tokens (each at most
    MAX_SPECIAL_TOKEN_CHARS characters, as a chat template may print them), chat templates and
    regexes."""
    try:
        check_special_tokens(folder)
    except SpecError as err:
        raise r.error(field, value, str(err)) from None
    _chat_templates(r, folder, field, value)
    _tokenizer_regexes(r, folder, field, value)


def _tokenizer_ids(r: Reader, tokenizer: ModelRef, target: ModelRef, field: str) -> None:
    """A local tokenizer's ids and special tokens against a local target's vocab_size: a token id
    the target has no logit for is refused when the profile is read, not on some prompt later."""
    if tokenizer.path is None or target.path is None:
        return  # a Hub model: checked when it is loaded
    try:
        vocab_size = read_config(target.path / "config.json").get("vocab_size")
        if isinstance(vocab_size, int) and not isinstance(vocab_size, bool) and vocab_size > 0:
            check_tokenizer_vocabulary(tokenizer.path, vocab_size)
    except SpecError as err:
        raise r.error(field, str(tokenizer.path), str(err)) from None


def _model_ref(r: Reader, name: str, raw: Any, field: str) -> ModelRef:
    d = r.mapping(raw, field, set(), {"hub", "revision", "path"})
    if ("hub" in d) == ("path" in d):
        raise r.error(field, raw, "give exactly one of 'hub' (a Hub id) or 'path' (a folder)")
    if "path" in d:
        folder = _local(r, d["path"], f"{field}.path")
        if name != "tokenizer":  # a tokenizer folder has no model config
            _model_folder(r, folder, f"{field}.path", d["path"])
        if name in _NOT_DRAFTS:  # the target's folder is the tokenizer's when none is named
            _tokenizer_folder(r, folder, f"{field}.path", d["path"])
        return ModelRef(name, path=folder)
    hub = r.string(d["hub"], f"{field}.hub")
    if not _HUB_ID.fullmatch(hub):
        message = "expected a Hub id like 'owner/name' (ASCII letters, digits, '_.-', no '..')"
        raise r.error(f"{field}.hub", hub, message)
    revision = r.string(d["revision"], f"{field}.revision") if "revision" in d else None
    if revision is not None and not _COMMIT.fullmatch(revision):
        # A branch or tag moves; only a commit pins the weights a result was measured on.
        raise r.error(f"{field}.revision", revision, "expected a 40-hex commit of the Hub repo")
    return ModelRef(name, hub=hub, revision=revision)


def _draft_ref(r: Reader, name: str, raw: Any, field: str) -> ModelRef:
    """A profile's draft: its facts as stated, else its folder's training.json, else its role."""
    d = r.mapping(raw, field, set(), {"hub", "revision", "path", "facts"})
    ref = _model_ref(r, name, {k: v for k, v in d.items() if k != "facts"}, field)
    if "facts" in d:
        if not isinstance(d["facts"], dict):
            raise r.error(f"{field}.facts", d["facts"], "expected a mapping")
        facts = facts_from_mapping(d["facts"], r.error, f"{field}.facts.")
    elif ref.path is not None:
        facts = read_training_facts(ref.path, base=name == BASE_DRAFT)
    else:
        facts = DraftFacts(BASE if name == BASE_DRAFT else OTHER, source="profile")
    return replace(ref, facts=facts)


MAX_DRAFTS = 1_024  # draft folders of one bundle or drafts_dir (the bundled: 103 a family)
MAX_BATCH = 256  # sequences per batched forward: its cache and logits grow with it


def _bundle_drafts(r: Reader, folder: Path, field: str) -> dict[str, ModelRef]:
    """Every model folder in a bundle besides tokenizer and target; ``draft`` is the base draft.
    A folder's name is its draft's name, so it must be a safe name like a profile's."""
    drafts = {}
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        if sub.name in _NOT_DRAFTS or not (sub / "config.json").is_file():
            continue
        if not SAFE_NAME.fullmatch(sub.name):
            raise r.error(field, sub.name, f"a draft folder's name is {SAFE_NAME_RULE}")
        if len(drafts) >= MAX_DRAFTS:  # each is read (its config, training.json) right here
            message = f"holds over {MAX_DRAFTS:,} draft folders; refused"
            raise r.error(field, str(folder), message)
        name = BASE_DRAFT if sub.name == "draft" else sub.name
        facts = read_training_facts(sub, base=name == BASE_DRAFT)
        drafts[name] = ModelRef(name, path=sub, facts=facts)
    return drafts


def bundle_family(folder: Path, family: str, where: Path) -> FamilyModels:
    """A bundle folder's tokenizer, target and drafts, as a profile's ``{bundle: folder}`` reads
    them; errors name ``where``."""
    return _family(Reader(where), family, {"bundle": str(folder)})


def _family(r: Reader, family: str, raw: Any) -> FamilyModels:
    """A family's models; a folder the system cannot read (a name too long for it, a loop of
    links, no permission) is refused naming the family's field and the value."""
    try:
        return _family_models(r, family, raw)
    except OSError as err:
        key = next((k for k in ("bundle", "target") if isinstance(raw, dict) and k in raw), None)
        field = f"models.{family}" + (f".{key}" if key else "")
        shown = raw[key] if key else raw
        message = f"cannot be read: {err.strerror or err} ({reprlib.repr(str(err.filename))})"
        raise r.error(field, shown, message) from None


def _family_models(r: Reader, family: str, raw: Any) -> FamilyModels:
    field = f"models.{family}"
    d = r.mapping(raw, field, set(), {"bundle", "target", "tokenizer", "drafts", "drafts_dir"})
    if "bundle" in d:
        if set(d) - {"bundle", "drafts_dir"}:
            raise r.error(field, sorted(d), "a bundle names its own target, tokenizer and drafts")
        folder = _local(r, d["bundle"], f"{field}.bundle")
        if not (folder / "target").is_dir():
            raise r.error(f"{field}.bundle", d["bundle"], f"no target in {folder}")
        _model_folder(r, folder / "target", f"{field}.bundle", d["bundle"])
        target = ModelRef("target", path=folder / "target")
        tokenizer = ModelRef("tokenizer", path=folder / "tokenizer")
        _tokenizer_folder(r, folder / "tokenizer", f"{field}.bundle", d["bundle"])
        drafts = _bundle_drafts(r, folder, f"{field}.bundle")
        _tokenizer_ids(r, tokenizer, target, f"{field}.bundle")
    else:
        if "target" not in d:
            raise r.error(f"{field}.target", None, "missing required field (or give 'bundle')")
        target = _model_ref(r, "target", d["target"], f"{field}.target")
        tokenizer = (
            _model_ref(r, "tokenizer", d["tokenizer"], f"{field}.tokenizer")
            if "tokenizer" in d
            else ModelRef("tokenizer", target.path, target.hub, target.revision)
        )
        _tokenizer_ids(r, tokenizer, target, f"{field}.tokenizer" if "tokenizer" in d else field)
        drafts = {}
        for name, ref in r.named(d.get("drafts", {}), f"{field}.drafts", safe=True).items():
            drafts[name] = _draft_ref(r, name, ref, f"{field}.drafts.{name}")
    if "drafts_dir" in d:
        # Extra drafts (say, the full τ_kd grid from `suite distill --full-grid`), if built.
        extra_dir = _local(r, d["drafts_dir"], f"{field}.drafts_dir")
        extra = _bundle_drafts(r, extra_dir, f"{field}.drafts_dir")
        drafts.update({k: v for k, v in extra.items() if k not in drafts})
    _same_kind(r, target, drafts, field, d)
    where = f"{field}.bundle" if "bundle" in d else f"{field}.target"
    _family_architecture(r, family, target, where, d.get("bundle", d.get("target")))
    return FamilyModels(family, tokenizer, target, drafts)


# The paper's families, by their models' architecture: results of a family name its models.
FAMILY_MODEL_TYPES = {"llama": "llama", "t5": "t5"}


def _family_architecture(r: Reader, family: str, target: ModelRef, field: str, value) -> None:
    """A family named as one of the paper's has a local target of its architecture: its
    records, claims and figures say which family they are of. (A Hub target's config is not
    read here: a profile is read without the network.)"""
    want = FAMILY_MODEL_TYPES.get(family)
    if want is None or target.path is None:
        return
    have = read_config(target.path / "config.json").get("model_type")
    if have is not None and have != want:  # none stated: the model does not load, said there
        message = f"the {family} family's models are model_type '{want}'; this target's is {have!r}"
        raise r.error(field, value, message)


def _encoder_decoder(ref: ModelRef) -> bool | None:
    """Whether a local model's config.json declares an encoder-decoder (None for a Hub model)."""
    if ref.path is None:
        return None
    return read_config(ref.path / "config.json").get("is_encoder_decoder") is True


def _same_kind(r: Reader, target: ModelRef, drafts: dict, field: str, d: dict) -> None:
    """Every local draft is the kind of model its local target is (decoder-only or
    encoder-decoder): speculation needs one kind, refused here naming the draft's field."""
    kind = _encoder_decoder(target)
    if kind is None:
        return
    for name, ref in drafts.items():
        theirs = _encoder_decoder(ref)
        if theirs is not None and theirs != kind:
            kinds = ["encoder-decoder" if k else "decoder-only" for k in (kind, theirs)]
            message = f"the target is {kinds[0]}, this draft {kinds[1]}: pair one kind of model"
            where = f"{field}.drafts.{name}.path" if name in d.get("drafts", {}) else field
            raise r.error(where, str(ref.path), message)


def _within_positions(r: Reader, family: FamilyModels, sizes: dict[str, EngineSizes]) -> None:
    """Each engine's max_new_tokens below a local target's max_position_embeddings: a run
    that generates past the positions the target was built for is refused when it is read."""
    if family.target.path is None:
        return  # a Hub target: its positions are the prompts' limit when it is loaded
    positions = read_config(family.target.path / "config.json").get("max_position_embeddings")
    if not isinstance(positions, int) or isinstance(positions, bool) or positions <= 0:
        return
    for engine, size in sizes.items():
        if size.max_new_tokens >= positions:
            message = (
                f"at least the {family.family} target's max_position_embeddings ({positions:,}); "
                "a prompt and its answer must fit its positions"
            )
            raise r.error(f"sizes.{engine}.max_new_tokens", size.max_new_tokens, message)


def _sizes(r: Reader, raw: Any) -> dict[str, EngineSizes]:
    d = r.mapping(raw, "sizes", set(ENGINES), set())
    out = {}
    for engine in ENGINES:
        field = f"sizes.{engine}"
        optional = {"batch_size", "n_boot"} if engine == "analytic" else {"batch_size"}
        e = r.mapping(d[engine], field, {"prompts", "seeds", "max_new_tokens"}, optional)
        out[engine] = EngineSizes(
            prompts=r.positive_int(e["prompts"], f"{field}.prompts"),
            seeds=r.positive_int(e["seeds"], f"{field}.seeds", MAX_SEEDS),
            max_new_tokens=r.positive_int(
                e["max_new_tokens"], f"{field}.max_new_tokens", MAX_NEW_TOKENS
            ),
            batch_size=r.positive_int(e.get("batch_size", 16), f"{field}.batch_size", MAX_BATCH),
            n_boot=r.positive_int(e.get("n_boot", DEFAULT_N_BOOT), f"{field}.n_boot", MAX_N_BOOT),
        )
    analytic = out["analytic"]
    if analytic.n_boot * analytic.prompts > MAX_BOOTSTRAP_DRAWS:  # each record's is recomputed
        message = (
            f"n_boot × prompts = {analytic.n_boot * analytic.prompts:,}: an interval draws at most"
            f" {MAX_BOOTSTRAP_DRAWS:,} prompts"
        )
        raise r.error("sizes.analytic.n_boot", analytic.n_boot, message)
    return out


def load_profile_file(path: str | Path) -> Profile:
    path = Path(path)
    r, d, name = read_named(
        path,
        "profile",
        {"name", "description", "models", "sizes"},
        {"device", "dtype", "max_draft_parameters"},
    )
    models = r.named(d["models"], "models", safe=True)
    if not models:
        raise r.error("models", models, "name at least one model family")
    families = {fam: _family(r, fam, spec) for fam, spec in models.items()}
    sizes = _sizes(r, d["sizes"])
    for family in families.values():
        _within_positions(r, family, sizes)
    return Profile(
        name=name,
        description=r.string(d["description"], "description"),
        device=r.choice(d.get("device", "cpu"), "device", DEVICES),
        dtype=r.choice(d.get("dtype", "float32"), "dtype", DTYPES),
        models=families,
        sizes=sizes,
        path=path,
        max_draft_parameters=(
            r.positive_int(d["max_draft_parameters"], "max_draft_parameters", 10**12)
            if d.get("max_draft_parameters") is not None
            else None
        ),
    )


def profile_names(folder: Path = PROFILES_DIR) -> list[str]:
    return spec_names(folder)


def load_profile(name: str, folder: Path = PROFILES_DIR) -> Profile:
    """A profile by name (``tasks/profiles/<name>.yaml``) or by path to a YAML file."""
    return load_profile_file(spec_file(name, folder, "profile"))
