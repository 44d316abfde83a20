"""The bundle in ``reference/``: every artifact listed in MANIFEST.json with its files' sha256.

``python -m suite verify`` recomputes every hash and loads every model and tokenizer, so a
corrupted, missing or unlisted file is caught before any result is computed from it. A family
folder holds decoder-only (llama) or encoder-decoder (t5) models; ``load_model`` tells which.
"""

from __future__ import annotations

import hashlib
import json
import reprlib
from pathlib import Path

from suite.cards import model_card
from suite.errors import SpecError
from suite.io import write_json_atomic, write_text_atomic
from suite.paths import bundle_dir
from suite.strict import read_json

MANIFEST = "MANIFEST.json"
REFERENCE_DIR = bundle_dir()  # the bundle when this module was imported
TRAINING_DATASETS = ("alpaca", "gsm8k")
# Bootstrap resamples behind each stored ci95: the runner's cells take the engine's interval at
# 1000 (suite.cells.N_BOOT), the manifest's carried-over intervals were measured at 200
# (docs/reference.md, "The manifest and the runner").
MANIFEST_N_BOOT = 200


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_files(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}


def load_manifest(root: Path | None = None) -> dict:
    """The bundle's MANIFEST.json (``root`` defaults to the bundle, ``$SUITE_BUNDLE``)."""
    root = bundle_dir() if root is None else root
    path = root / MANIFEST
    if not root.is_dir():
        raise SpecError(
            root,
            "bundle",
            str(root),
            "no bundle folder: pass --bundle DIR or set SUITE_BUNDLE "
            "to a bundle (a checkout's reference/ folder)",
        )
    if not path.is_file():
        raise SpecError(
            path, None, None, "no bundle manifest; build it with `python -m suite manifest`"
        )
    manifest = read_json(path, "bundle manifest", MAX_MANIFEST_BYTES, nofollow=True)
    _check_manifest(manifest, path)
    return manifest


MAX_MANIFEST_BYTES = 64 << 20
_KINDS = ("target", "draft", "tokenizer")
_HEX = frozenset("0123456789abcdef")


def _check_manifest(manifest, path: Path) -> None:
    """What the suite reads of a manifest, typed: ``artifacts`` maps a name to its ``kind``, a
    ``path`` that stays inside the bundle (relative, no ``..``, hidden or empty segment) and
    ``files`` (file name to sha256); a bundle from ``--bundle`` is checked before use."""
    arts = manifest.get("artifacts") if isinstance(manifest, dict) else None
    if not isinstance(arts, dict):
        raise SpecError(path, "artifacts", reprlib.repr(arts), "expected a mapping of artifacts")
    for name, entry in arts.items():
        field = f"artifacts.{name}"
        if not isinstance(entry, dict) or entry.get("kind") not in _KINDS:
            raise SpecError(path, field, reprlib.repr(entry), f"expected a mapping, kind {_KINDS}")
        rel = entry.get("path")
        segments = rel.split("/") if isinstance(rel, str) else [""]
        if any(not s or s.startswith(".") or "\\" in s for s in segments):
            raise SpecError(path, f"{field}.path", reprlib.repr(rel), "must stay inside the bundle")
        files = entry.get("files")
        if not isinstance(files, dict) or not all(
            isinstance(f, str)
            and "/" not in f
            and not f.startswith(".")
            and isinstance(d, str)
            and len(d) == 64
            and set(d) <= _HEX
            for f, d in files.items()
        ):
            raise SpecError(path, f"{field}.files", reprlib.repr(files), "file names to sha256")


def write_manifest(manifest: dict, root: Path | None = None) -> Path:
    path = (bundle_dir() if root is None else root) / MANIFEST
    write_json_atomic(path, manifest)
    return path


MODEL_FILES = ("model.safetensors", "config.json")


def artifact_path(name: str, root: Path | None = None) -> Path:
    """The folder of a bundled artifact by its manifest name (e.g. ``llama/target``)."""
    root = bundle_dir() if root is None else root
    manifest = load_manifest(root)
    if name not in manifest["artifacts"]:
        known = ", ".join(sorted(manifest["artifacts"]))
        raise SpecError(root / MANIFEST, "artifact", name, f"not in the bundle; known: {known}")
    return root / manifest["artifacts"][name]["path"]


def verify(root: Path | None = None, *, load: bool = True) -> list[str]:
    """Problems found (empty when the bundle is intact): hash mismatches, missing or extra files."""
    from suite.models import load_model, load_tokenizer

    root = bundle_dir() if root is None else root
    manifest = load_manifest(root)
    problems = []
    for name, entry in sorted(manifest["artifacts"].items()):
        folder = root / entry["path"]
        if not folder.is_dir():
            problems.append(f"{name}: folder {folder} is missing")
            continue
        actual = artifact_files(folder)
        for fname, digest in entry["files"].items():
            if fname not in actual:
                problems.append(f"{name}: file {fname} is missing")
            elif actual[fname] != digest:
                problems.append(f"{name}: {fname} sha256 {actual[fname][:12]} != {digest[:12]}")
        for fname in sorted(set(actual) - set(entry["files"])):
            problems.append(f"{name}: file {fname} is not listed in the manifest")
        if load and not problems:
            if entry["kind"] == "tokenizer":
                load_tokenizer(folder)
            else:
                model = load_model(folder)
                count = sum(p.numel() for p in model.parameters())
                if count != entry["parameters"]:
                    problems.append(
                        f"{name}: {count} parameters, manifest says {entry['parameters']}"
                    )
    return problems


def compact(folder: Path, tokenizer, datasets: list[str], limit: int, tolerance: float) -> dict:
    """Store the weights in fp16 when that moves held-out loss by less than ``tolerance`` nats."""
    import torch
    from safetensors import safe_open

    from suite.distill.pretrain import heldout_loss
    from suite.models import load_model

    with safe_open(str(folder / "model.safetensors"), "pt") as fh:
        stored = fh.get_tensor(next(iter(fh.keys()))).dtype
    if stored != torch.float32 or (folder / ".fp32").exists():
        if stored == torch.float16:
            compute_in_float32(folder)
        return {"dtype": str(stored).removeprefix("torch.")}
    model = load_model(folder)
    before = heldout_loss(model, tokenizer, datasets, limit)
    half = load_model(folder).to(torch.float16).float()
    after = heldout_loss(half, tokenizer, datasets, limit)
    shift = max(abs(after[k] - before[k]) for k in before)
    info = {"fp32_heldout": before, "fp16_heldout": after, "max_shift_nats": shift}
    if shift < tolerance:
        load_model(folder).to(torch.float16).save_pretrained(str(folder))
        compute_in_float32(folder)
        info["dtype"] = "float16"
    else:
        (folder / ".fp32").touch()
        info["dtype"] = "float32"
    return info


def compute_in_float32(folder: Path) -> None:
    """Weights stored in float16 but config ``dtype`` float32: a plain ``from_pretrained`` on a
    CPU then computes in float32 (float16 there is several times slower, and greedy output can
    differ), while the files stay half the size."""
    path = folder / "config.json"
    config = json.loads(path.read_text())
    if config.get("dtype") != "float32":
        write_json_atomic(path, config | {"dtype": "float32"})


def evaluate_target(target, tokenizer, *, prompts: int = 100, max_new_tokens: int = 256) -> dict:
    """Greedy GSM8K test accuracy (exact match on the final number) and a few greedy samples."""
    from suite.acceptance import sample_continuations
    from suite.data import extract_answer, load_examples
    from suite.specs import DEFAULT_STOP, load_task

    spec = load_task("gsm8k")
    examples = load_examples(spec, "test", limit=prompts)
    ids = [tokenizer(ex.prompt, add_special_tokens=False).input_ids for ex in examples]
    out = sample_continuations(
        target,
        ids,
        temperature=0.0,
        max_new_tokens=max_new_tokens,
        seed=0,
        eos_token_id=tokenizer.eos_token_id,
    )
    texts = [tokenizer.decode(t, skip_special_tokens=True) for t in out.tokens]
    texts = [min((t.split(s)[0] for s in DEFAULT_STOP), key=len) for t in texts]
    correct = [extract_answer(spec, t) == ex.answer for t, ex in zip(texts, examples, strict=True)]
    samples = []
    for task in ("gsm8k", "alpaca"):
        for ex in load_examples(task, "test", limit=2):
            ids = tokenizer(ex.prompt, add_special_tokens=False).input_ids
            cont = sample_continuations(
                target,
                [ids],
                temperature=0.0,
                max_new_tokens=96,
                seed=0,
                eos_token_id=tokenizer.eos_token_id,
            )
            text = tokenizer.decode(cont.tokens[0], skip_special_tokens=True)
            samples.append({"task": task, "instruction": ex.instruction, "greedy": text})
    return {
        "gsm8k_test_accuracy": {
            "correct": sum(correct),
            "prompts": len(correct),
            "accuracy": sum(correct) / len(correct),
            "decoding": f"greedy, {max_new_tokens} new tokens, answer = last number",
        },
        "greedy_samples": samples,
    }


def greedy_quality_pair(target, draft, tokenizer, datasets: list[str], prompts: int = 48) -> dict:
    """Held-out greedy quality (token F1 with the reference, GSM8K accuracy) of the target and
    its base draft on the same prompts: how an aligned target is judged better than its draft
    (held-out loss on the references is not: alignment moves a model away from them)."""
    from suite.distill.align import greedy_quality

    return {
        "prompts_per_dataset": prompts,
        "target": greedy_quality(target, tokenizer, datasets, prompts, 128),
        "base_draft": greedy_quality(draft, tokenizer, datasets, prompts, 128),
    }


def _datasets(entry: dict) -> list[str]:
    """The datasets an artifact was trained on: a KD draft's one, else the recipe's training set."""
    if entry.get("dataset"):
        return [entry["dataset"]]
    return list(entry.get("datasets") or TRAINING_DATASETS)


def build_manifest(
    root: Path | None = None,
    *,
    decode_temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    prompts: int = 48,
    max_new_tokens: int = 64,
    seed: int = 0,
    fp16_tolerance: float = 0.005,
    evaluation_prompts: int = 100,
) -> dict:
    """Hash every artifact, record its training facts and, for drafts, α̂ at each τ_dec.

    Each draft is measured at the grid's τ_dec and at every τ_kd of its family's drafts that the
    grid lacks. Measurements of artifacts whose weights and config (and target) are unchanged
    since the last manifest, under the same protocol and at all these temperatures, are carried
    over.
    """
    root = bundle_dir() if root is None else root
    protocol = {
        "engine": "analytic (suite.acceptance)",
        "split": "test",
        "prompts": prompts,
        "max_new_tokens": max_new_tokens,
        "seed": seed,
        "decode_temperatures": list(decode_temperatures),
    }
    previous = load_manifest(root) if (root / MANIFEST).is_file() else {}
    old = previous.get("artifacts", {}) if previous.get("acceptance_protocol") == protocol else {}
    artifacts = _read_artifacts(root)
    by_family: dict[str, list[str]] = {}
    for name in artifacts:
        by_family.setdefault(name.split("/")[0], []).append(name)
    for family, names in by_family.items():
        if f"{family}/target" in artifacts:
            family_artifacts = {n: artifacts[n] for n in names}
            _measure_family(
                root, family, family_artifacts, old, protocol, fp16_tolerance, evaluation_prompts
            )
    for name, entry in artifacts.items():
        if entry["kind"] != "tokenizer":  # every model folder gets its card, then its hashes
            write_text_atomic(root / entry["path"] / "README.md", model_card(name, entry))
        entry["files"] = artifact_files(root / entry["path"])
    manifest = {"acceptance_protocol": protocol, "artifacts": artifacts}
    write_manifest(manifest, root)
    return manifest


def _read_artifacts(root: Path) -> dict[str, dict]:
    """Every bundled folder with a ``training.json``, by ``family/folder``, with its facts."""
    artifacts: dict[str, dict] = {}
    for info_path in sorted(root.glob("*/*/training.json")):
        folder = info_path.parent
        info = json.loads(info_path.read_text())
        name = f"{folder.parent.name}/{folder.name}"
        kind = info["artifact"] if info["artifact"] in ("tokenizer", "target") else "draft"
        artifacts[name] = {"path": name, "kind": kind, **info}
    return artifacts


def _unchanged(old: dict, name: str, artifacts: dict) -> bool:
    """The same weights and config as in the last manifest: its α̂ and c still hold."""
    before, now = old.get(name, {}).get("files", {}), artifacts[name]["files"]
    return bool(before) and all(before.get(f) == now.get(f) for f in MODEL_FILES)


def _measure_family(root, family, artifacts, old, protocol, fp16_tolerance, eval_prompts) -> None:
    """Fill one family's entries in place: storage, hashes, the target's evaluation, α̂ and c."""
    from suite.models import load_model, load_tokenizer

    tokenizer = load_tokenizer(root / family / "tokenizer")
    for name, entry in artifacts.items():
        if entry["kind"] != "tokenizer":
            kept = old.get(name, {}).get("storage")
            folder = root / entry["path"]
            storage = compact(folder, tokenizer, _datasets(entry), 100, fp16_tolerance)
            entry["storage"] = kept if kept and storage.keys() == {"dtype"} else storage
        entry["files"] = artifact_files(root / entry["path"])
    target_name = f"{family}/target"
    target_same = _unchanged(old, target_name, artifacts)
    target = load_model(root / family / "target")
    if target_same and "evaluation" in old[target_name]:
        artifacts[target_name]["evaluation"] = old[target_name]["evaluation"]
    else:
        evaluation = evaluate_target(target, tokenizer, prompts=eval_prompts)
        base = root / family / "draft"
        if (base / "training.json").is_file():
            evaluation["greedy_quality"] = greedy_quality_pair(
                target, load_model(base), tokenizer, _datasets(artifacts[target_name])
            )
        artifacts[target_name]["evaluation"] = evaluation
    temperatures = _temperatures(protocol["decode_temperatures"], artifacts)
    keys = {f"{tau:.1f}" for tau in temperatures}
    drafts = {}
    for n, entry in artifacts.items():
        if entry["kind"] != "draft":
            continue
        entry["parameter_ratio"] = artifacts[target_name]["parameters"] / entry["parameters"]
        acc = old.get(n, {}).get("acceptance", {})
        measured = all(keys <= set(acc.get(d, {})) for d in _datasets(entry))
        if target_same and _unchanged(old, n, artifacts) and measured:
            entry["acceptance"], entry["cost_ratio"] = old[n]["acceptance"], old[n]["cost_ratio"]
        else:
            drafts[n] = load_model(root / entry["path"])
    _measure_acceptance(target, drafts, artifacts, tokenizer, temperatures, protocol)


def _temperatures(grid, artifacts: dict) -> list[float]:
    """The grid, plus each KD temperature of the family's drafts that the grid lacks (T5's
    τ_kd 0.5): every draft is measured at its own temperature."""
    own = {
        float(e["kd_temperature"])
        for e in artifacts.values()
        if e["kind"] == "draft" and e.get("kd_temperature") is not None
    }
    return sorted(set(grid) | own)


def _measure_acceptance(target, drafts, artifacts, tokenizer, temperatures, protocol) -> None:
    """α̂ with its 95% interval at each temperature on each draft's datasets, then c."""
    from suite.acceptance import analytic_acceptance, measure_cost_ratio
    from suite.data import load_examples
    from suite.prompts import prompts_ids

    for dataset in sorted({d for n in drafts for d in _datasets(artifacts[n])}):
        # The runner's prompts: the bundle's tokenizers add no special tokens, so these are the
        # ids the stored α̂ were measured on.
        ids = prompts_ids(tokenizer, load_examples(dataset, "test", limit=protocol["prompts"]))
        chosen = {n: m for n, m in drafts.items() if dataset in _datasets(artifacts[n])}
        for tau in temperatures:
            results = analytic_acceptance(
                target,
                chosen,
                ids,
                temperature=tau,
                max_new_tokens=protocol["max_new_tokens"],
                seed=protocol["seed"],
                eos_token_id=tokenizer.eos_token_id,
                n_boot=MANIFEST_N_BOOT,
            )
            for n, res in results.items():
                ci = res.confidence_interval
                by_tau = artifacts[n].setdefault("acceptance", {}).setdefault(dataset, {})
                by_tau[f"{tau:.1f}"] = {
                    "alpha": res.acceptance_rate,
                    "ci95": [ci.low, ci.high],
                    "tokens": res.tokens,
                }
    for n, model in drafts.items():
        artifacts[n]["cost_ratio"] = measure_cost_ratio(target, model).cost_ratio
