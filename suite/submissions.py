"""Submissions: a draft model a researcher brings, checked before anything is run or written.

``submissions/<name>/submission.yaml`` names the model (a ``save_pretrained`` folder inside the
submission folder, or a Hub id at a pinned commit), the family it drafts for, how it was trained
(the draft's facts: method, τ_kd, and optionally the KD dataset, divergence and training seed)
and its license. :func:`validate` refuses what the suite could not load safely (pickles, remote
code, paths or symlinks leaving the folder) or not compare fairly (another vocabulary, a model too
large for the profile), with a :class:`SpecError` naming the file, the field and the value. The
checks of the model folder's files (links, pickles, weights against the config) are in
:mod:`suite.submission_files`.

``python -m suite submissions make-example`` builds the example submission's weights from the
bundled base draft (weights stay out of git); ``check FOLDER`` validates without running.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from suite.drafts import SUBMISSION, SUBMISSION_METHODS, DraftFacts, facts_from_mapping
from suite.drafts import SUBMISSION_PREFIX as DRAFT_PREFIX
from suite.errors import SpecError, control_character
from suite.models import GENERATION_CONFIG, PICKLE_SUFFIXES
from suite.paths import REPO_ROOT, portable_path, resolve
from suite.profiles import _HUB_ID, ModelRef, Profile, check_chat_templates
from suite.record_read import MAX_TEXT_CHARS as MAX_LOCATION_CHARS
from suite.safetensors_files import weight_shapes
from suite.specs import Reader, read_yaml
from suite.strict import read_config
from suite.submission_files import (
    check_finite,
    check_shard_indexes,
    check_weights_match_config,
    loaded_weights,
    model_config,
    model_files,
    remote_code_field,
    remote_code_message,
)
from suite.submission_json import check_submission_json
from suite.tokenizer_files import (
    TOKENIZER_JSON,
    check_special_tokens,
    check_tokenizer_file,
    check_tokenizer_vocabulary,
)
from suite.tokenizer_ids import LIST_IDS, SPECIAL_IDS, same_special_ids, special_id_problem

SUBMISSION_FILE = "submission.yaml"
MAX_SUBMISSION_BYTES = 64 << 10  # a few hundred bytes in practice; YAML parses at ~40 KiB/s
SUBMISSIONS_DIR = REPO_ROOT / "submissions"
EXAMPLE = "example-base-copy"
METHODS = SUBMISSION_METHODS
NAME = re.compile(r"^[a-z0-9_-]+$")
MAX_RECORD_NAME_CHARS = 128  # a record's draft name (suite.record_read), which is sub-<name>
MAX_NAME_CHARS = MAX_RECORD_NAME_CHARS - len(DRAFT_PREFIX)
MAX_PATH_CHARS = 1_024  # model.path as written: a few segments in practice
MAX_SEGMENT_BYTES = 255  # a file name on every common file system
SHA = re.compile(r"^[0-9a-f]{40}$")
VOCAB_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
HUB_CACHE = Path(
    os.environ.get("SUITE_SUBMISSION_CACHE", "~/.cache/suite/submissions")
).expanduser()


@dataclass(frozen=True)
class Training:
    """How the draft was made: its facts, as the submission states them, and its data in words."""

    facts: DraftFacts
    data: str

    @property
    def method(self) -> str:
        return self.facts.method

    @property
    def kd_temperature(self) -> float | None:
        return self.facts.kd_temperature


@dataclass(frozen=True)
class Submission:
    name: str
    authors: tuple[str, ...]
    target: str
    training: Training
    license: str
    description: str | None
    folder: Path  # the submission folder, resolved
    model_path: Path | None  # resolved, inside ``folder``
    hub: str | None
    revision: str | None
    model_text: str | None = None  # model.path as written, for messages

    @property
    def path(self) -> Path:
        return self.folder / SUBMISSION_FILE

    @property
    def draft(self) -> str:
        return f"{DRAFT_PREFIX}{self.name}"

    @property
    def model_field(self) -> str:
        return "model.path" if self.model_path is not None else "model.hub"

    def to_dict(self) -> dict:
        """What the report shows about the submission (all of it user-written text)."""
        return {
            "name": self.name,
            "draft": self.draft,
            "authors": list(self.authors),
            "target": self.target,
            "model": str(self.model_path.relative_to(self.folder))
            if self.model_path is not None
            else f"{self.hub}@{self.revision}",
            "training": {
                "method": self.training.method,
                "kd_temperature": self.training.kd_temperature,
                "kd_temperatures": list(self.training.facts.kd_temperatures),
                "recipe": self.training.facts.recipe,
                "data": self.training.data,
                "dataset": self.training.facts.dataset,
                "divergence": self.training.facts.divergence,
                "seed": self.training.facts.seed,
            },
            "license": self.license,
            "description": self.description,
        }


@dataclass(frozen=True)
class Checked:
    """A submission that passed :func:`validate`: the local folder to load and its size."""

    submission: Submission
    model: ModelRef
    parameters: int


def _inside(r: Reader, folder: Path, value: Any, field: str) -> Path:
    """A relative path that stays in the submission folder, symlinks resolved; bounded, and
    written with '/' (a backslash is refused, not read as another separator)."""
    text = r.string(value, field)
    if len(text) > MAX_PATH_CHARS:
        message = f"{len(text):,} characters; a path is at most {MAX_PATH_CHARS:,}"
        raise r.error(field, text, message)
    if "\\" in text:
        raise r.error(field, text, "a backslash is refused: separate folders with '/'")
    posix = PurePosixPath(text)
    for part in posix.parts:
        size = len(part.encode("utf-8", "surrogateescape"))
        if size > MAX_SEGMENT_BYTES:
            message = f"a name of {size:,} bytes in the path; each is at most {MAX_SEGMENT_BYTES}"
            raise r.error(field, text, message)
    if posix.is_absolute() or re.match(r"^[A-Za-z]:(/|$)", text):  # a drive, not "v:1"
        raise r.error(field, text, "must be relative to the submission folder, not absolute")
    if ".." in posix.parts:
        raise r.error(field, text, "must not leave the submission folder ('..')")
    resolved = resolve(folder / posix, field)
    if not resolved.is_relative_to(folder):
        raise r.error(field, text, f"leaves the submission folder through a symlink: {resolved}")
    if resolved == folder:
        raise r.error(field, text, "must name a folder inside the submission folder, not itself")
    return resolved


def _training(r: Reader, raw: Any) -> Training:
    """The draft's facts as stated: studies and tables read them, never the draft's name."""
    optional = {"dataset", "kd_temperatures", "divergence", "seed", "recipe"}
    d = r.mapping(raw, "training", {"method", "kd_temperature", "data"}, optional)
    r.choice(d["method"], "training.method", METHODS)
    stated = {k: v for k, v in d.items() if k != "data"}
    facts = facts_from_mapping(
        stated, r.error, "training.", origin=SUBMISSION, source="submission.yaml"
    )
    return Training(facts=facts, data=r.string(d["data"], "training.data"))


def load_submission(folder: str | Path) -> Submission:
    """``<folder>/submission.yaml``, every field checked; nothing is loaded or fetched."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SpecError(folder, None, None, "no such submission folder")
    folder = resolve(folder, "submission")
    path = folder / SUBMISSION_FILE
    raw = read_yaml(path, "submission", MAX_SUBMISSION_BYTES, nofollow=True)
    r = Reader(path)
    remote = remote_code_field(raw)
    if remote:
        field, value = remote
        raise r.error(field, value, remote_code_message(field))
    d = r.mapping(
        raw, "", {"name", "authors", "model", "target", "training", "license"}, {"description"}
    )
    name = r.string(d["name"], "name")
    if len(name) > MAX_NAME_CHARS:
        message = (
            f"{len(name):,} characters; at most {MAX_NAME_CHARS} (its draft, "
            f"'{DRAFT_PREFIX}<name>', is named in records by at most {MAX_RECORD_NAME_CHARS})"
        )
        raise r.error("name", name, message)
    if not NAME.fullmatch(name):
        raise r.error("name", name, "use lower-case letters, digits, '-' and '_' only")
    if name != folder.name:
        raise r.error("name", name, f"must match the folder name '{folder.name}'")
    model = r.mapping(d["model"], "model", set(), {"path", "hub", "revision"})
    if ("path" in model) == ("hub" in model):
        raise r.error("model", model, "give exactly one of 'path' (a folder) or 'hub' (a Hub id)")
    model_path = hub = revision = None
    if "path" in model:
        if "revision" in model:
            raise r.error("model.revision", model["revision"], "a revision goes with 'hub' only")
        model_path = _inside(r, folder, model["path"], "model.path")
        if "@" in str(model_path.relative_to(folder)):  # links resolved: as submit writes it
            message = "'@' is refused in a model folder's path: a Hub model is written id@commit"
            raise r.error("model.path", model["path"], message)
        if SHA.fullmatch(model_path.name):  # a Hub model's fetched folder is named so
            message = "a model folder named like a commit (40 hex digits) is refused: rename it"
            raise r.error("model.path", model["path"], message)
    else:
        hub = r.string(model["hub"], "model.hub")
        if not _HUB_ID.fullmatch(hub):
            raise r.error("model.hub", hub, "expected a Hub id like 'owner/name'")
        revision = model.get("revision")
        if not isinstance(revision, str) or not SHA.fullmatch(revision):
            raise r.error("model.revision", revision, "pin the model: a 40-hex commit sha")
    description = d.get("description")
    submission = Submission(
        name=name,
        authors=r.strings(d["authors"], "authors"),
        target=r.string(d["target"], "target"),
        training=_training(r, d["training"]),
        license=r.string(d["license"], "license"),
        description=None if description is None else r.string(description, "description"),
        folder=folder,
        model_path=model_path,
        hub=hub,
        revision=revision,
        model_text=model["path"] if model_path is not None else None,
    )
    # what submit will write of it, as a report reads it back (a license of two lines, say)
    check_submission_json(r.path, submission.to_dict())
    return submission


def _tokenizer(location: str, revision: str | None, where: Path):
    from suite.models import load_tokenizer

    try:
        return load_tokenizer(location, revision=revision)
    except SpecError:
        raise
    except Exception as err:  # transformers raises OSError, ValueError, and more
        raise SpecError(where, "tokenizer", location, f"cannot load the tokenizer: {err}") from None


def _same_vocabulary(folder: Path, config: dict, family, target: str) -> None:
    """Same tokens with the same ids and the same special tokens as the target's tokenizer."""
    shipped = [n for n in VOCAB_FILES if (folder / n).is_file()]
    if not shipped:
        message = f"ship the tokenizer files ({', '.join(VOCAB_FILES)}) beside the weights"
        raise SpecError(folder, "tokenizer", str(folder.name), message)
    where = folder / shipped[0]
    check_special_tokens(folder)  # each at most MAX_SPECIAL_TOKEN_CHARS, before any load
    check_chat_templates(folder)  # as a profile naming the folder would read them
    if (folder / TOKENIZER_JSON).is_file():  # its regexes, read from the file before any load
        check_tokenizer_file(folder / TOKENIZER_JSON)
    vocab_size = config["vocab_size"]  # the target's (checked first)
    # every id below the target's logits, added_tokens.json's too, named by file and token
    check_tokenizer_vocabulary(folder, vocab_size)
    theirs = _tokenizer(str(folder), None, where)
    highest = max(theirs.get_vocab().values(), default=-1)
    if highest >= vocab_size:  # what transformers built: its effective vocabulary
        token = theirs.convert_ids_to_tokens(highest)
        message = f"the loaded tokenizer gives it id {highest}, past the target's vocab_size"
        raise SpecError(folder, "tokenizer", token, message)
    ours = _tokenizer(family.tokenizer.location, family.tokenizer.revision, where)
    tv, ov = theirs.get_vocab(), ours.get_vocab()
    if tv != ov:
        token = min(set(tv) ^ set(ov) or {t for t in tv if tv[t] != ov[t]})
        value = {token: tv.get(token)}
        message = f"vocabulary differs from the '{target}' tokenizer's (there: {ov.get(token)})"
        raise SpecError(where, "vocabulary", value, message)
    special = folder / "tokenizer_config.json"
    for attr in ("eos_token_id", "bos_token_id", "pad_token_id"):
        if getattr(theirs, attr) != getattr(ours, attr):
            message = f"the '{target}' tokenizer's is {getattr(ours, attr)!r}"
            raise SpecError(
                special if special.is_file() else where, attr, getattr(theirs, attr), message
            )


def _built_config(folder: Path, config: dict):
    """The config as transformers builds it (its defaults filled in: a Llama config stating no
    ``eos_token_id`` has 2), or the JSON as read where it cannot be built (refused later)."""
    from types import SimpleNamespace

    from suite.models import load_config

    try:
        return load_config(folder)
    except Exception:
        return SimpleNamespace(**{k: v for k, v in config.items() if isinstance(k, str)})


def _same_vocab_size(folder: Path, config: dict, family, target: str) -> None:
    """The logits' width is the target's (checked before any model is built)."""
    from transformers import AutoConfig

    ref = family.target
    try:
        want = AutoConfig.from_pretrained(ref.location, revision=ref.revision)
    except Exception as err:
        message = f"cannot read the target's config: {err}"
        raise SpecError(ref.location, "config.json", ref.location, message) from None
    if config.get("vocab_size") != want.vocab_size:
        message = f"the '{target}' target's vocab_size is {want.vocab_size}"
        raise SpecError(folder / "config.json", "vocab_size", config.get("vocab_size"), message)
    _same_special_ids(folder / "config.json", config, _built_config(folder, config), want, target)
    generation = folder / GENERATION_CONFIG  # read as transformers reads it by model_config
    if generation.is_file():
        data = read_config(generation, nofollow=True)
        _same_special_ids(generation, data, None, want, target)


def _same_special_ids(path: Path, stated: dict, built, want, target: str) -> None:
    """The special ids of a config (``built``: as transformers fills it in) or generation config
    against the target's, as the decoder pairs them (:mod:`suite.tokenizer_ids`): an eos list
    holds the target's id, and only ids below its vocab_size."""
    for key in SPECIAL_IDS:
        problem = special_id_problem(key, stated.get(key), want.vocab_size)
        if problem:
            raise SpecError(path, *problem)
        mine = stated.get(key) if built is None else getattr(built, key, stated.get(key))
        theirs = getattr(want, key, None)
        if not same_special_ids(key, theirs, mine):
            message = f"the '{target}' target's is {theirs!r}: speculation needs the same ids"
            if key in LIST_IDS:
                message += " (a list of ids must hold it)"
            raise SpecError(path, key, mine, message)


def _model_type(family) -> str:
    """The ``model_type`` of the family's target: a submitted draft must share it."""
    from transformers import AutoConfig

    ref = family.target
    try:
        return AutoConfig.from_pretrained(ref.location, revision=ref.revision).model_type
    except Exception as err:
        message = f"cannot read the target's config: {err}"
        raise SpecError(ref.location, "config.json", ref.location, message) from None


def _enough_positions(folder: Path, config: dict, family, target: str) -> None:
    """The draft reads every position the target does (each prompt and its continuation): a
    draft stating fewer ``max_position_embeddings`` than the target's is refused."""
    from transformers import AutoConfig

    ref = family.target
    theirs = getattr(
        AutoConfig.from_pretrained(ref.location, revision=ref.revision),
        "max_position_embeddings",
        None,
    )
    mine = config.get("max_position_embeddings")
    if _whole(theirs) and _whole(mine) and mine < theirs:
        message = f"the '{target}' target's is {theirs:,}: the draft reads every position it does"
        raise SpecError(folder / "config.json", "max_position_embeddings", mine, message)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _decoder_only(sub: Submission, family) -> None:
    """Submissions are causal-LM drafts: a family whose local target is an encoder-decoder (the
    bundled t5) takes none, said of the submission's ``target``, before its files are read."""
    from suite.strict import read_config

    target = family.target.path
    config = read_config(target / "config.json") if target is not None else {}
    if config.get("is_encoder_decoder") is True:
        message = (
            "this family's models are encoder-decoder; submissions are causal-LM drafts, for a "
            "decoder-only family"
        )
        raise SpecError(sub.path, "target", sub.target, message)


def _fetch_hub(sub: Submission) -> Path:
    """The pinned Hub revision as plain files in a local folder (no pickles are downloaded)."""
    from huggingface_hub import HfApi, snapshot_download

    try:
        listed = HfApi().list_repo_files(sub.hub, revision=sub.revision)
        pickles = [f for f in listed if PurePosixPath(f).suffix.lower() in PICKLE_SUFFIXES]
        if pickles:
            message = "pickle weights are refused (they can run code); publish safetensors"
            raise SpecError(sub.path, "model.hub", f"{sub.hub}/{pickles[0]}", message)
        local = HUB_CACHE / sub.name / sub.revision
        patterns = ["*.json", "*.safetensors", "*.model", "*.txt"]
        snapshot_download(sub.hub, revision=sub.revision, local_dir=local, allow_patterns=patterns)
    except SpecError:
        raise
    except Exception as err:  # network, authentication, unknown revision
        raise SpecError(sub.path, "model.hub", sub.hub, f"cannot fetch the model: {err}") from None
    return local


def _family(sub: Submission, profile: Profile):
    """The profile's family the submission drafts for, which takes a submission of this name."""
    if sub.target not in profile.models:
        known = ", ".join(sorted(profile.models))
        message = f"profile '{profile.name}' has no such model family; known: {known}"
        raise SpecError(sub.path, "target", sub.target, message)
    family = profile.models[sub.target]
    _decoder_only(sub, family)
    if sub.draft in family.drafts:
        message = f"profile '{profile.name}' already has a draft named '{sub.draft}'"
        raise SpecError(sub.path, "name", sub.name, message)
    return family


def _check_folder(sub: Submission, profile: Profile, family, folder: Path, root: Path) -> int:
    """The model folder's files against the profile (links within ``root``): its parameters."""
    files = model_files(folder, root, sub.model_field)
    weights = [p for p in files if p.suffix == ".safetensors"]
    if not weights:
        raise SpecError(folder, sub.model_field, str(folder), "no .safetensors weights here")
    config = model_config(folder, files)
    check_shard_indexes(folder, files, sub.model_field)
    weights = loaded_weights(folder, files, sub.model_field)  # exactly what the run will load
    _same_vocab_size(folder, config, family, sub.target)
    # the config is checked against the weights before transformers reads any file (a
    # tokenizer load reads config.json too)
    shapes = weight_shapes(weights, sub.model_field)
    parameters = check_weights_match_config(folder, config, shapes, _model_type(family))
    _enough_positions(folder, config, family, sub.target)
    _same_vocabulary(folder, config, family, sub.target)
    limit = profile.max_draft_parameters
    if limit is not None and parameters > limit:
        message = (
            f"{parameters:,} parameters; profile '{profile.name}' allows "
            f"at most {limit:,} (max_draft_parameters)"
        )
        raise SpecError(weights[0], "parameters", parameters, message)
    check_finite(weights, sub.model_field, profile.dtype)
    return parameters


def _is_dir(sub: Submission, folder: Path) -> bool:
    written = sub.model_text if sub.model_text is not None else str(folder)
    try:
        return folder.is_dir()
    except OSError as err:  # a path the file system cannot take (too long, say)
        message = f"cannot be read: {err.strerror or type(err).__name__}"
        raise SpecError(sub.path, sub.model_field, written, message) from None


def validate(sub: Submission, profile: Profile) -> Checked:
    """Every check that needs the model's files and the profile; loads no weights."""
    family = _family(sub, profile)
    folder = sub.model_path if sub.model_path is not None else _fetch_hub(sub)
    root = sub.folder if sub.model_path is not None else resolve(folder, sub.model_field)
    if not _is_dir(sub, folder):
        hint = "a save_pretrained folder with safetensors weights"
        if sub.name == EXAMPLE:
            hint = "build it first: python -m suite submissions make-example"
        written = sub.model_text if sub.model_text is not None else str(folder)
        raise SpecError(sub.path, sub.model_field, written, f"no model folder; {hint}")
    shown = portable_path(folder)
    c = control_character(shown, allowed="")
    if c is not None:  # a record names the folder: one line of plain text
        message = f"a model folder's path holding U+{ord(c):04X}; records hold plain text"
        raise SpecError(sub.path, sub.model_field, shown, message)
    if len(shown) > MAX_LOCATION_CHARS:  # a record names the folder: the reader's bound
        message = (
            f"a model folder's path of {len(shown):,} characters; records hold at most "
            f"{MAX_LOCATION_CHARS:,}"
        )
        raise SpecError(sub.path, sub.model_field, shown, message)
    parameters = _check_folder(sub, profile, family, folder, root)
    return Checked(sub, ModelRef(sub.draft, path=folder, facts=sub.training.facts), parameters)


_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _open_walked(path: Path, flags: int, field: str) -> int:
    """A descriptor on ``path`` (absolute and resolved when it was checked) reached one
    component at a time from ``/`` without following any link: a folder swapped for a link
    after the check (the model folder, or any folder above or in it) is refused, not read."""
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    parts = path.parts[1:]
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = os.open(part, flags if last else _DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            message = "a symbolic link appeared where submit read the checked model; refused"
        else:
            message = f"cannot be read: {err.strerror or type(err).__name__}"
        raise SpecError(path, field, path.name, message) from None
    return fd


def _copy_files(folder: Path, files: list[Path], into: Path, field: str) -> None:
    """``files`` (under ``folder``) copied into the new folder ``into``, each reached from ``/``
    without following a link (:func:`_open_walked`) and read as the regular file it is when
    opened."""
    into.mkdir(mode=0o700)
    for path in files:
        target = into / path.relative_to(folder)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_NONBLOCK: a FIFO swapped in after the check is opened, not waited on
        fd = _open_walked(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, field)
        with os.fdopen(fd, "rb") as src:
            if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
                raise SpecError(path, field, path.name, "not a regular file; refused")
            with open(target, "xb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def staged(checked: Checked, profile: Profile, into: Path, fingerprint: str) -> Checked:
    """The checked model folder copied into ``into`` (a new, private folder: the caller removes
    it) and checked again there: ``submit`` hashes, loads and scores the copy, so files changed
    in the submission after (or while) they were checked are never run under the checked
    sha256. A copy whose fingerprint is not ``fingerprint`` (the one checked against the results
    folder) is refused: the submission changed while submit read it."""
    sub = checked.submission
    source = checked.model.path
    root = sub.folder if sub.model_path is not None else resolve(source, sub.model_field)
    files = model_files(source, root, sub.model_field)
    _copy_files(source, files, into, sub.model_field)
    copy = replace(checked.model, path=into, shown=source)  # records name the submission's
    if copy.fingerprint() != fingerprint:
        written = sub.model_text if sub.model_text is not None else str(source)
        message = "the model's files changed while submit read them; run submit again"
        raise SpecError(sub.path, sub.model_field, written, message)
    parameters = _check_folder(sub, profile, _family(sub, profile), into, into)
    return Checked(sub, copy, parameters)
