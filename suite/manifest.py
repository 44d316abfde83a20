"""Building ``reference/MANIFEST.json``: every artifact's hashes and training facts, each draft's
α̂ measured by the runner's analytic cells under the ``manifest`` profile, and c.

The runner's results store (``results/manifest/<family>`` by default) is the cache: an
interrupted build resumes there, and a rebuild finds the cells it measured before. A draft whose
weights and config, and whose target's, are unchanged since the last manifest, under the same
protocol, keeps its measurements (carry-over), so a fresh checkout does not measure the bundle
again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from suite.bundle import (
    MANIFEST,
    MAX_PARAMETERS,
    MODEL_FILES,
    artifact_files,
    compact,
    evaluate_target,
    greedy_quality_pair,
    load_manifest,
    write_manifest,
)
from suite.cards import card_field_problem, model_card
from suite.errors import SpecError
from suite.io import write_text_atomic
from suite.paths import bundle_dir
from suite.profiles import BASE_DRAFT, EngineSizes, Profile, bundle_family
from suite.reader import SAFE_NAME
from suite.strict import read_config
from suite.studies import Cell, Grid, Plan, StudySpec

TRAINING_DATASETS = ("alpaca", "gsm8k")
# Bootstrap resamples behind each stored ci95 (the manifest profile's ``n_boot``; a run's
# profiles take 1000 unless they say otherwise).
MANIFEST_N_BOOT = 200
# α̂ does not depend on K; the cells' key names one (a run's studies use 4).
MANIFEST_NUM_DRAFT_TOKENS = 4


def _datasets(entry: dict) -> list[str]:
    """The datasets an artifact was trained on: a KD draft's one, else the recipe's training set."""
    if entry.get("dataset"):
        return [entry["dataset"]]
    return list(entry.get("datasets") or TRAINING_DATASETS)


def build_manifest(
    root: Path | None = None,
    *,
    cells: Path,
    decode_temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    prompts: int = 48,
    max_new_tokens: int = 64,
    seed: int = 0,
    fp16_tolerance: float = 0.005,
    evaluation_prompts: int = 100,
    progress: bool = False,
) -> dict:
    """Hash every artifact, record its training facts and, for drafts, α̂ at each τ_dec.

    Each draft is measured at the grid's τ_dec and at every τ_kd of its family's drafts that the
    grid lacks, by analytic cells of the runner (:func:`manifest_plan`) whose results store,
    ``cells/<family>``, is the cache: an interrupted build resumes there. Measurements of
    artifacts whose weights and config (and target) are unchanged since the last manifest, under
    the same protocol and at all these temperatures, are carried over.
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
    same = previous.get("acceptance_protocol") == protocol
    old = _carried(previous, root / MANIFEST) if same else {}
    artifacts = _read_artifacts(root)
    _check_models(root, artifacts)
    by_family: dict[str, list[str]] = {}
    for name in artifacts:
        by_family.setdefault(name.split("/")[0], []).append(name)
    for family, names in by_family.items():
        if f"{family}/target" in artifacts:
            family_artifacts = {n: artifacts[n] for n in names}
            measure = Measure(protocol, Path(cells) / family, progress, fp16_tolerance)
            _measure_family(root, family, family_artifacts, old, measure, evaluation_prompts)
    for name, entry in artifacts.items():
        if entry["kind"] != "tokenizer":  # every model folder gets its card, then its hashes
            write_text_atomic(root / entry["path"] / "README.md", model_card(name, entry))
        entry["files"] = artifact_files(root / entry["path"])
    manifest = {"acceptance_protocol": protocol, "artifacts": artifacts}
    write_manifest(manifest, root)
    return manifest


def _storage(value) -> bool:
    """``{"dtype": ..., "fp16_heldout": {dataset: nats}, ...}``: a dtype and finite numbers."""
    from suite.cards import _losses

    return (
        isinstance(value, dict)
        and value.get("dtype") in ("float16", "float32", "bfloat16")
        and all(k == "dtype" or _losses(v, 0) or _losses(v, 1) for k, v in value.items())
    )


# What a manifest build carries over besides the fields bundle-tables reads (a target's
# evaluation among them, checked whole), each as it is used
MAX_COST_RATIO = 100.0  # as a record's (suite.record_read)
_CARRIED = {
    "cost_ratio": (
        lambda v: (
            isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= MAX_COST_RATIO
        ),
        f"a cost ratio: a number in (0, {MAX_COST_RATIO:g}]",
    ),
    "storage": (_storage, "a storage record: its dtype and finite held-out losses"),
}  # fmt: skip


def _carried(previous: dict, path: Path) -> dict:
    """The last manifest's artifacts, whose measurements a build carries over where weights and
    protocol are unchanged: each checked first as its readers read it (the tables' fields as
    ``bundle-tables`` does, a cost ratio, a storage record, an evaluation), so a forged manifest
    is refused naming the field, never copied into the new one."""
    import reprlib

    from suite.bundle_tables import check_table_fields

    check_table_fields(previous, path)
    for name, entry in previous["artifacts"].items():
        for key, (ok, rule) in _CARRIED.items():
            if key in entry and not ok(entry[key]):
                raise SpecError(path, f"artifacts.{name}.{key}", reprlib.repr(entry[key]), rule)
    return previous["artifacts"]


@dataclass(frozen=True)
class Measure:
    """How one family is measured: the protocol, the runner's results folder, fp16 tolerance."""

    protocol: dict
    cells: Path
    progress: bool
    fp16_tolerance: float


def _read_artifacts(root: Path) -> dict[str, dict]:
    """Every bundled folder with a ``training.json``, by ``family/folder``, with its facts."""
    artifacts: dict[str, dict] = {}
    from suite.bundle import ARTIFACT_NAME, ARTIFACT_NAME_RULE
    from suite.bundle_tables import check_table_fields

    for info_path in sorted(root.glob("*/*/training.json")):
        folder = info_path.parent
        for linked in (folder.parent, folder):  # the glob follows links: a bundle holds its own
            if linked.is_symlink():
                message = "a bundle folder that is a symbolic link; a bundle holds its own files"
                raise SpecError(linked, None, None, message)
        name = f"{folder.parent.name}/{folder.name}"
        if not ARTIFACT_NAME.fullmatch(name):  # as every reader of the manifest requires
            raise SpecError(folder, "artifact", name, ARTIFACT_NAME_RULE)
        info = _read_training(info_path)
        for role in ("tokenizer", "target"):  # a family's own folders, as its readers find them
            if (info["artifact"] == role) != (folder.name == role):
                message = f"a family's {role} is its folder '{role}', and that folder its {role}"
                raise SpecError(info_path, "artifact", info["artifact"], message)
        kind = info["artifact"] if info["artifact"] in ("tokenizer", "target") else "draft"
        artifacts[name] = {"path": name, "kind": kind, **info}
        # the facts the tables print, as bundle-tables reads them from the manifest written
        check_table_fields({"artifacts": {name: artifacts[name]}}, info_path)
    return artifacts


def _check_models(root: Path, artifacts: dict[str, dict]) -> None:
    """What ``verify`` checks of the bundle, before anything is written: each family holds a
    tokenizer and a target, and each model folder loads (safetensors weights) with the
    parameters its ``training.json`` states."""
    from suite.models import load_model

    for family in sorted({name.split("/")[0] for name in artifacts}):
        kinds = {e["kind"] for n, e in artifacts.items() if n.split("/")[0] == family}
        for kind in ("tokenizer", "target"):
            if kind not in kinds:
                message = f"no {kind} (a folder whose training.json says so) in this family"
                raise SpecError(root / family, kind, family, message)
    for name, entry in sorted(artifacts.items()):
        if entry["kind"] == "tokenizer":
            continue
        folder = root / entry["path"]
        try:
            model = load_model(folder)
        except SpecError:
            raise
        except Exception as err:  # transformers raises many types for a folder it cannot load
            raise SpecError(folder, "model", name, f"does not load: {err}") from None
        count, stated = sum(p.numel() for p in model.parameters()), entry.get("parameters")
        if count != stated:
            message = f"the weights hold {count:,} parameters"
            raise SpecError(folder / "training.json", "parameters", stated, message)


_OWN_KEYS = ("path", "kind", "files", "storage", "evaluation", "acceptance", "cost_ratio")


def _read_training(path: Path) -> dict:
    """A bundled folder's ``training.json``: strict JSON, at most 16 MiB, a regular file (not a
    link or FIFO), an object whose fields the manifest reads are typed."""
    info = read_config(path, nofollow=True)

    def fail(field: str, value, message: str) -> SpecError:
        return SpecError(path, field, value, message)

    artifact = info.get("artifact")
    if not isinstance(artifact, str) or not SAFE_NAME.fullmatch(artifact):
        raise fail("artifact", artifact, "expected a name such as tokenizer, target or draft")
    for key in _OWN_KEYS:  # the manifest's own fields: a training record cannot set them
        if key in info:
            raise fail(key, info[key], "a field the manifest sets; not allowed in training.json")
    parameters = info.get("parameters")
    if artifact != "tokenizer" and not (
        isinstance(parameters, int)
        and not isinstance(parameters, bool)
        and 0 < parameters <= MAX_PARAMETERS
    ):
        message = f"expected a whole number from 1 to {MAX_PARAMETERS:,}"
        raise fail("parameters", parameters, message)
    datasets = info.get("datasets")
    if datasets is not None and not (
        isinstance(datasets, list) and all(isinstance(d, str) for d in datasets)
    ):
        raise fail("datasets", datasets, "expected a list of dataset names")
    found = card_field_problem(info)
    if found:
        raise fail(*found)
    tau = info.get("kd_temperature")
    if tau is not None and not (
        isinstance(tau, int | float) and not isinstance(tau, bool) and 0 <= tau <= 100
    ):
        raise fail("kd_temperature", tau, "expected a number from 0 to 100")
    return info


def _unchanged(old: dict, name: str, artifacts: dict) -> bool:
    """The same weights and config as in the last manifest: its α̂ and c still hold."""
    before, now = old.get(name, {}).get("files", {}), artifacts[name]["files"]
    return bool(before) and all(before.get(f) == now.get(f) for f in MODEL_FILES)


def _measure_family(root, family, artifacts, old, measure: Measure, eval_prompts) -> None:
    """Fill one family's entries in place: storage, hashes, the target's evaluation, α̂ and c."""
    from suite.models import load_model, load_tokenizer

    tokenizer = load_tokenizer(root / family / "tokenizer")
    for name, entry in artifacts.items():
        if entry["kind"] != "tokenizer":
            kept = old.get(name, {}).get("storage")
            folder = root / entry["path"]
            storage = compact(folder, tokenizer, _datasets(entry), 100, measure.fp16_tolerance)
            same = kept and storage.keys() == {"dtype"} and kept["dtype"] == storage["dtype"]
            entry["storage"] = kept if same else storage
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
    temperatures = _temperatures(measure.protocol["decode_temperatures"], artifacts)
    keys = {f"{tau:.1f}" for tau in temperatures}
    todo = []
    for n, entry in artifacts.items():
        if entry["kind"] != "draft":
            continue
        entry["parameter_ratio"] = artifacts[target_name]["parameters"] / entry["parameters"]
        acc = old.get(n, {}).get("acceptance", {})
        measured = all(keys <= set(acc.get(d, {})) for d in _datasets(entry))
        measured = measured and "cost_ratio" in old.get(n, {})  # both, or both measured again
        if target_same and _unchanged(old, n, artifacts) and measured:
            entry["acceptance"], entry["cost_ratio"] = old[n]["acceptance"], old[n]["cost_ratio"]
        else:
            todo.append(n)
    if todo:
        _measure_acceptance(root, family, todo, artifacts, temperatures, measure)
    from suite.acceptance import measure_cost_ratio

    for n in todo:  # c: each draft timed against its target
        draft = load_model(root / artifacts[n]["path"])
        artifacts[n]["cost_ratio"] = measure_cost_ratio(target, draft).cost_ratio


def _temperatures(grid, artifacts: dict) -> list[float]:
    """The grid, plus each KD temperature of the family's drafts that the grid lacks (T5's
    τ_kd 0.5): every draft is measured at its own temperature."""
    own = {
        float(e["kd_temperature"])
        for e in artifacts.values()
        if e["kind"] == "draft" and e.get("kd_temperature") is not None
    }
    return sorted(set(grid) | own)


def _label(name: str) -> str:
    """A bundled draft's name in a profile: ``family/draft`` is the base draft."""
    folder = name.split("/", 1)[1]
    return BASE_DRAFT if folder == "draft" else folder


def _manifest_profile(root: Path, family: str, protocol: dict) -> Profile:
    """The profile ``manifest``: the bundle's family at the protocol's sizes, 200 resamples."""
    sizes = EngineSizes(
        prompts=protocol["prompts"],
        seeds=1,
        max_new_tokens=protocol["max_new_tokens"],
        n_boot=MANIFEST_N_BOOT,
    )
    return Profile(
        name="manifest",
        description="The bundle manifest's acceptance protocol",
        device="cpu",
        dtype="float32",
        models={family: bundle_family(root / family, family, root / MANIFEST)},
        sizes={"analytic": sizes, "empirical": sizes},
        path=root / MANIFEST,
    )


def manifest_plan(
    root: Path, family: str, datasets: dict[str, list[str]], temperatures, protocol: dict
) -> Plan:
    """The runner's analytic cells of the manifest's protocol: each draft (``family/folder`` ->
    its datasets) at each τ_dec, on the profile ``manifest`` over the bundle's family, whose
    intervals take ``MANIFEST_N_BOOT`` resamples."""
    where = root / MANIFEST
    profile = _manifest_profile(root, family, protocol)
    models = profile.models[family]
    cells = [
        Cell(
            engine="analytic",
            family=family,
            dataset=dataset,
            split=protocol["split"],
            draft=_label(name),
            decode_temperature=tau,
            num_draft_tokens=MANIFEST_NUM_DRAFT_TOKENS,
            seed=protocol["seed"],
            prompts=protocol["prompts"],
            max_new_tokens=protocol["max_new_tokens"],
            draft_facts=models.drafts[_label(name)].facts,
        )
        for dataset in sorted({d for ds in datasets.values() for d in ds})
        for tau in temperatures
        for name, own in datasets.items()
        if dataset in own
    ]
    grid = Grid(
        datasets=tuple((d, d) for d in sorted({c.dataset for c in cells})),
        drafts=(),
        decode_temperatures=tuple(temperatures),
        num_draft_tokens=(MANIFEST_NUM_DRAFT_TOKENS,),
    )
    study = StudySpec(
        name="manifest",
        title="The bundle's acceptance measurements",
        description="Each draft's α̂ at each τ_dec on its own datasets (reference/MANIFEST.json).",
        claims=(),
        family=family,
        engines=("analytic",),
        grid=grid,
        empirical={},
        profiles={},
        split=protocol["split"],
        path=where,
    )
    return Plan(profile, (study,), tuple(cells), {study.name: tuple(c.key for c in cells)})


def _measure_acceptance(root, family, names, artifacts, temperatures, measure: Measure) -> None:
    """α̂ with its 95% interval and token count at each temperature on each draft's datasets,
    read from the runner's records of :func:`manifest_plan`."""
    from suite.runner import run_plan
    from suite.store import ResultsStore

    datasets = {n: _datasets(artifacts[n]) for n in names}
    plan = manifest_plan(root, family, datasets, temperatures, measure.protocol)
    run_plan(plan, measure.cells, progress=measure.progress)
    records = ResultsStore(measure.cells).load()
    names_by_label = {_label(n): n for n in names}
    for cell in plan.cells:
        result = records[cell.key].result
        low, high = result.analytic.confidence_interval
        by_tau = artifacts[names_by_label[cell.draft]].setdefault("acceptance", {})
        by_tau.setdefault(cell.dataset, {})[f"{cell.decode_temperature:.1f}"] = {
            "alpha": result.acceptance_rate,
            "ci95": [low, high],
            "tokens": result.analytic.tokens,
        }
