"""Drafts described by facts: read from training.json, a profile or a submission, selected by
studies through their facts whatever their folder is called, grouped by configuration and seed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from suite.drafts import DraftFacts, facts_from_name, read_training_facts
from suite.errors import SpecError
from suite.profiles import load_profile, load_profile_file
from suite.records import CellResult, PromptResult, ResultRecord, Timing
from suite.studies import load_study, plan_studies
from suite.tables import prompt_rows, seed_means

REPO = Path(__file__).resolve().parents[1]


def _draft(bundle: Path, folder: str, **training) -> Path:
    """A draft as `suite distill` leaves it, as far as planning looks: config and training record.

    No weights: planning reads facts and never loads a model.
    """
    path = bundle / folder
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    if training:
        (path / "training.json").write_text(json.dumps(training))
    return path


def _kd(method="online", dataset="alpaca", tau=0.4, seed=0, **over) -> dict:
    divergence = "forward_kl" if method == "online" else "cross_entropy"
    return {
        "artifact": "ignored",
        "method": method,
        "dataset": dataset,
        "kd_temperature": tau,
        "kd_temperatures": [0.6, 0.8, 1.0] if tau is None else [tau],
        "divergence": divergence,
        "seed": seed,
        "data_centric_recipe": None,
    } | over


def _bundle(root: Path) -> Path:
    bundle = root / "bundle"
    (bundle / "target").mkdir(parents=True)
    (bundle / "target" / "config.json").write_text("{}")  # a profile's model folder holds one
    (bundle / "tokenizer").mkdir()
    _draft(bundle, "draft", artifact="draft", seed=0)
    return bundle


def _profile(root: Path, bundle: Path, **family) -> Path:
    path = root / "mine.yaml"
    sizes = {"prompts": 2, "seeds": 1, "max_new_tokens": 4}
    profile = {
        "name": "mine",
        "description": "a bundle in a temporary folder",
        "models": {"llama": {"bundle": str(bundle), **family}},
        "sizes": {"analytic": sizes, "empirical": dict(sizes)},  # no YAML alias
    }
    path.write_text(yaml.safe_dump(profile))
    return path


def _study(root: Path, drafts: list, datasets=("alpaca",)) -> Path:
    path = root / "pick.yaml"
    study = {
        "name": "pick",
        "title": "Pick",
        "description": "Drafts chosen by their facts.",
        "claims": [1],
        "family": "llama",
        "engines": ["analytic"],
        "grid": {
            "datasets": list(datasets),
            "drafts": drafts,
            "decode_temperatures": [0.0],
            "num_draft_tokens": 4,
        },
    }
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def _drafts(root: Path, profile: Path, drafts: list, datasets=("alpaca",)) -> list[str]:
    plan = plan_studies([load_study(_study(root, drafts, datasets))], load_profile_file(profile))
    return [c.draft for c in plan.cells]


def test_a_draft_added_as_one_folder_with_its_training_json_is_selected_by_its_facts(tmp_path):
    bundle = _bundle(tmp_path)
    # A name that says nothing: the facts are in training.json only.
    _draft(bundle, "zebra-7", **_kd(divergence="reverse_kl", seed=3))
    _draft(bundle, "kd-online-alpaca-t0.4", **_kd(method="offline", dataset="gsm8k", tau=1.0))
    profile = _profile(tmp_path, bundle)
    online = {"method": "online", "dataset": "{kd_dataset}", "kd_temperature": "any"}
    assert _drafts(tmp_path, profile, [online]) == ["zebra-7"]
    assert _drafts(tmp_path, profile, [{"method": "base"}, online]) == ["base", "zebra-7"]
    assert _drafts(tmp_path, profile, [{"divergence": "reverse_kl", "seed": 3}]) == ["zebra-7"]
    # The folder called kd-online-alpaca-t0.4 is an offline GSM8K draft at τ_kd 1, by its facts.
    offline = {"method": "offline", "dataset": "{kd_dataset}", "kd_temperature": 1.0}
    assert _drafts(tmp_path, profile, [offline], ("gsm8k",)) == ["kd-online-alpaca-t0.4"]
    plan = plan_studies(
        [load_study(_study(tmp_path, [online]))], load_profile_file(profile)
    )  # the cell carries the facts into its record
    (cell,) = plan.cells
    assert cell.draft_facts == DraftFacts(
        method="online",
        dataset="alpaca",
        kd_temperature=0.4,
        kd_temperatures=(0.4,),
        divergence="reverse_kl",
        seed=3,
    )
    assert cell.to_dict()["draft_facts"]["divergence"] == "reverse_kl"
    assert cell.draft_facts.configuration(cell.draft) == "kd-online-alpaca-t0.4-reverse_kl"


def test_three_training_seeds_are_selected_by_facts_and_share_one_configuration(tmp_path):
    bundle = _bundle(tmp_path)
    for seed in (0, 1, 2):
        _draft(bundle, f"kd-online-alpaca-t0.4-s{seed}", **_kd(seed=seed))
    _draft(bundle, "kd-online-alpaca-t0.6", **_kd(tau=0.6))  # the current bundle's naming
    _draft(bundle, "kd-online-alpaca-recipe", **_kd(tau=None, data_centric_recipe="ours"))
    profile = _profile(tmp_path, bundle)
    at = {"method": "online", "dataset": "alpaca"}
    seeds = [f"kd-online-alpaca-t0.4-s{s}" for s in (0, 1, 2)]
    assert _drafts(tmp_path, profile, [at | {"kd_temperature": 0.4}]) == seeds
    assert _drafts(tmp_path, profile, [at | {"kd_temperature": 0.4, "seed": "all"}]) == seeds
    assert _drafts(tmp_path, profile, [at | {"kd_temperature": 0.4, "seed": 1}]) == seeds[1:2]
    assert _drafts(tmp_path, profile, [at | {"seed": [0, 2], "kd_temperature": 0.4}]) == [
        seeds[0],
        seeds[2],
    ]
    assert _drafts(tmp_path, profile, [at | {"kd_temperature": "any"}]) == [
        *seeds,
        "kd-online-alpaca-t0.6",
    ]
    assert _drafts(tmp_path, profile, [at | {"kd_temperature": None}]) == [
        "kd-online-alpaca-recipe"
    ]
    assert _drafts(tmp_path, profile, [at | {"recipe": True}]) == ["kd-online-alpaca-recipe"]

    # The table: one training seed per draft, one configuration label for the three seeds.
    plan = plan_studies(
        [load_study(_study(tmp_path, [at | {"kd_temperature": "any"}]))], load_profile_file(profile)
    )
    records = [_record(cell, alphas=[0.5 + 0.1 * i, 0.6]) for i, cell in enumerate(plan.cells)]
    rows = prompt_rows(records)
    per_draft = rows.drop_duplicates("draft").set_index("draft")
    assert per_draft["training_seed"].tolist() == [0, 1, 2, 0]
    assert per_draft["draft_config"].tolist() == ["kd-online-alpaca-t0.4"] * 3 + [
        "kd-online-alpaca-t0.6"
    ]
    assert per_draft["kd_temperature"].tolist() == [0.4, 0.4, 0.4, 0.6]
    # Seeds stay separate units through seed_means (it averages decoding seeds only).
    means = seed_means(rows)
    by_config = means[means["draft_config"] == "kd-online-alpaca-t0.4"]
    assert len(by_config) == 3 * 2 and sorted(set(by_config["training_seed"])) == [0, 1, 2]
    first = by_config.groupby("training_seed")["alpha"].mean().round(6).tolist()
    assert first == [0.55, 0.6, 0.65]


def _record(cell, alphas) -> ResultRecord:
    prompts = tuple(PromptResult(f"p{i}", a, 1.0 + a, 8, 3.0) for i, a in enumerate(alphas))
    result = CellResult(sum(alphas) / len(alphas), math.nan, (), prompts)
    return ResultRecord(cell, result, None, Timing("2026-01-01T00:00:00+00:00", cost_ratio=0.25))


def test_the_bundles_drafts_carry_the_facts_of_their_training_json():
    llama = load_profile("smoke").models["llama"].drafts
    kd = {n: ref for n, ref in llama.items() if ref.facts.method in ("offline", "online")}
    assert kd, "the bundle holds KD drafts"
    for name, ref in kd.items():  # whichever drafts the bundle holds, read from their facts
        stated = json.loads((ref.path / "training.json").read_text())
        facts = ref.facts
        assert (facts.method, facts.dataset, facts.seed, facts.divergence, facts.origin) == (
            stated["method"], stated["dataset"], stated["seed"], stated["divergence"], "bundle",
        ), name  # fmt: skip
        if stated.get("data_centric_recipe"):
            assert (facts.kd_temperature, facts.recipe) == (None, True), name
            assert facts.kd_temperatures == tuple(stated["kd_temperatures"]), name
        else:
            assert (facts.kd_temperature, facts.recipe) == (stated["kd_temperature"], False), name
    assert llama["base"].facts.method == "base"
    # Every bundled draft's facts agree with what its name used to be read as.
    for name, ref in llama.items():
        named = facts_from_name(name)
        assert (ref.facts.method, ref.facts.dataset, ref.facts.kd_temperature) == (
            named.method, named.dataset, named.kd_temperature,
        ), name  # fmt: skip
        # The configuration is the name without its training seed: seeds of one configuration
        # share it.
        seed = f"-s{ref.facts.seed}" if ref.facts.is_kd else ""
        assert ref.facts.configuration(name) + seed == name, name


def test_a_profile_states_a_drafts_facts_beside_its_location(tmp_path):
    bundle = _bundle(tmp_path)
    folder = _draft(bundle.parent, "elsewhere/mine")
    stated = {"method": "offline", "dataset": "alpaca", "kd_temperature": 0.2, "seed": 4}
    extra = {"path": str(folder), "facts": stated}
    profile = _profile(tmp_path, bundle)
    data = yaml.safe_load(profile.read_text())
    data["models"]["llama"] = {
        "target": {"path": str(bundle / "target")},
        "drafts": {"base": {"hub": "owner/base"}, "mine": extra},
    }
    profile.write_text(yaml.safe_dump(data))
    drafts = load_profile_file(profile).models["llama"].drafts
    assert drafts["base"].facts.method == "base"  # the draft called base is the base draft
    assert (drafts["mine"].facts.kd_temperature, drafts["mine"].facts.seed) == (0.2, 4)
    assert drafts["mine"].facts.source == "profile"
    data["models"]["llama"]["drafts"]["mine"]["facts"] = {"method": "offline", "kd_temperature": -1}
    profile.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as err:
        load_profile_file(profile)
    assert (err.value.field, err.value.value) == (
        "models.llama.drafts.mine.facts.kd_temperature",
        -1,
    )


@pytest.mark.parametrize(
    ("selector", "field", "value"),
    [
        ({"colour": "red"}, "grid.drafts[0].colour", "red"),
        ({"kd_temperature": "hot"}, "grid.drafts[0].kd_temperature", "hot"),
        ({"kd_temperature": -0.5}, "grid.drafts[0].kd_temperature", -0.5),
        ({"seed": 1.5}, "grid.drafts[0].seed", 1.5),
        ({"recipe": "yes"}, "grid.drafts[0].recipe", "yes"),
        ({"name": "any"}, "grid.drafts[0].name", "any"),
        ({}, "grid.drafts[0]", {}),
    ],
)
def test_a_bad_selector_is_refused_naming_file_field_and_value(tmp_path, selector, field, value):
    path = _study(tmp_path, [selector])
    with pytest.raises(SpecError) as err:
        load_study(path)
    assert (err.value.path, err.value.field, err.value.value) == (path, field, value)


def test_a_selector_that_matches_nothing_is_named_with_the_facts_it_asked_for(tmp_path):
    profile = _profile(tmp_path, _bundle(tmp_path))
    wanted = {"method": "online", "kd_temperature": 0.3}
    with pytest.raises(SpecError, match="matches no draft") as err:
        _drafts(tmp_path, profile, [wanted])
    assert (err.value.field, err.value.value) == ("grid.drafts[0]", wanted)


def test_a_bad_training_json_is_refused_naming_the_file_field_and_value(tmp_path):
    folder = _draft(tmp_path, "kd-x", **_kd(seed="zero"))
    with pytest.raises(SpecError) as err:
        read_training_facts(folder)
    assert (Path(err.value.path).name, err.value.field, err.value.value) == (
        "training.json", "seed", "zero",
    )  # fmt: skip
    # A draft folder without a training record is of unknown making: only a name selects it.
    bare = _draft(tmp_path, "kd-online-alpaca-t0.4")
    assert (read_training_facts(bare).method, read_training_facts(bare).source) == ("other", "none")


def test_configuration_labels_come_from_facts_not_names():
    online = DraftFacts("online", "gsm8k", 0.25, (0.25,), "forward_kl", seed=2)
    assert online.configuration("whatever-s2") == "kd-online-gsm8k-t0.25"
    recipe = DraftFacts("offline", "alpaca", None, (0.6, 0.8), "cross_entropy", recipe=True)
    assert recipe.configuration("r") == "kd-offline-alpaca-recipe"
    assert DraftFacts("base", seed=1).configuration("draft-s1") == "base"
    submitted = DraftFacts("online", "gsm8k", 0.4, origin="submission")
    assert submitted.configuration("sub-mine") == "sub-mine"
    assert DraftFacts("other").configuration("mystery") == "mystery"


def test_a_negative_zero_kd_temperature_is_the_configuration_of_zero():
    """τ_kd -0.0 named its own configuration (kd-online-gsm8k-t-0.0), apart from 0.0's seeds."""
    from suite.drafts import facts_from_mapping

    def fail(field, value, message):
        return ValueError(field, value, message)

    stated = [{"method": "online", "dataset": "gsm8k", "kd_temperature": tau, "seed": seed}
              for tau, seed in ((0.0, 0), (-0.0, 1))]  # fmt: skip
    facts = [facts_from_mapping(d, fail) for d in stated]
    assert facts[0].configuration("da") == facts[1].configuration("db")
    assert str(facts[1].kd_temperature) == "0.0"
