"""Study specs and profiles: every bundled file validates; bad input names file, field and value."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from suite.errors import SpecError
from suite.profiles import PROFILES_DIR, load_profile, profile_names
from suite.studies import STUDIES_DIR, load_studies, load_study, plan_studies, study_names

REPO = Path(__file__).resolve().parents[1]
CLAIMS = set(range(1, 9))


def _write(folder: Path, name: str, data: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _study(**over) -> dict:
    data = {
        "name": "mini",
        "title": "Mini",
        "description": "A small study for tests.",
        "claims": [1],
        "family": "llama",
        "engines": ["analytic"],
        "grid": {
            "datasets": ["gsm8k"],
            "drafts": ["base"],
            "decode_temperatures": [0.0, 1.0],
            "num_draft_tokens": 4,
        },
    }
    data.update(over)
    return data


def test_every_study_and_profile_validates_and_the_studies_cover_claims_1_to_7():
    assert set(profile_names()) >= {"smoke", "quick", "full", "paper"}
    studies = load_studies(["all"])
    # Every study but the submissions' leaderboard, which tests no claim.
    assert {s.name for s in studies} == set(study_names()) - {"leaderboard"}
    covered = {c for s in studies for c in s.claims}
    assert covered >= set(range(1, 8)) and covered <= CLAIMS
    for name in profile_names():
        profile = load_profile(name)
        assert profile.sizes["analytic"].prompts >= 1


def test_smoke_profile_plans_every_study_whose_drafts_are_bundled():
    profile = load_profile("smoke")
    drafts = set(profile.models["llama"].drafts)
    studies = [
        s for s in load_studies(["all"]) if s.name != "recipe" or any("recipe" in d for d in drafts)
    ]
    plan = plan_studies(studies, profile)
    assert plan.cells and len({c.key for c in plan.cells}) == len(plan.cells)
    for study in studies:
        # A study plans cells exactly when the bundle holds a draft its selectors pick; every
        # Llama study does (the bundle always holds Llama KD drafts).
        expected = _bundle_holds_a_draft_for(study, profile)
        assert bool(plan.study_cells[study.name]) == expected, study.name
        assert expected or study.family != "llama", study.name
    # Cells shared by two studies are planned once and listed by both.
    shared = set(plan.study_cells["alignment"]) & set(plan.study_cells["online_offline"])
    assert shared
    assert all(
        c.prompts == 4 and c.max_new_tokens == 16 for c in plan.cells if c.engine == "analytic"
    )


def test_paper_profile_names_the_papers_models_and_plans_without_network(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    profile = load_profile("paper")
    llama = profile.models["llama"]
    assert llama.target.hub == "meta-llama/Llama-2-13b-chat-hf"
    assert llama.drafts["base"].hub == "JackFram/llama-68m"
    t5 = profile.models["t5"]
    assert (t5.target.hub, t5.drafts["base"].hub) == ("google-t5/t5-3b", "google-t5/t5-small")
    assert profile.device == "auto" and profile.dtype == "bfloat16"
    pinned = [llama.target, llama.drafts["base"], t5.target, t5.drafts["base"]]
    assert all(re.fullmatch(r"[0-9a-f]{40}", ref.revision or "") for ref in pinned)
    study = load_study(_write(tmp_path, "mini", _study(engines=["analytic", "empirical"])))
    plan = plan_studies([study], profile)
    assert {c.engine for c in plan.cells} == {"analytic", "empirical"}
    assert all(c.draft == "base" for c in plan.cells)
    assert (
        llama.drafts["base"].fingerprint()
        == "hub:JackFram/llama-68m@964a5d77df908b69f8d6476fb70e940425b04cb5"
    )


def test_profile_overrides_change_sizes_not_the_study():
    study = load_study(STUDIES_DIR / "degradation.yaml")
    quick, smoke = study.grid_for("quick", "analytic"), study.grid_for("smoke", "analytic")
    assert quick.decode_temperatures == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert smoke.decode_temperatures == (0.0, 1.0)
    assert study.grid_for("full", "analytic").decode_temperatures[1] == 0.1
    # The empirical section narrows the grid; the profile's empirical overrides come last.
    assert study.grid_for("quick", "empirical").decode_temperatures == (0.0, 0.6, 1.0)
    assert [d.spec for d in study.grid_for("smoke", "empirical").drafts] == [
        {"method": "base"},
        {"method": "online", "dataset": "{kd_dataset}", "kd_temperature": 1.0},
    ]


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        (
            {"grid": {**_study()["grid"], "decode_temperatures": [0.0, -0.5]}},
            "grid.decode_temperatures[1]",
            -0.5,
        ),
        (
            {"grid": {**_study()["grid"], "decode_temperatures": [math.nan]}},
            "grid.decode_temperatures[0]",
            None,
        ),
        ({"engines": ["magic"]}, "engines[0]", "magic"),
        ({"name": "other"}, "name", "other"),
        ({"claims": [0]}, "claims", 0),
        ({"surprise": 1}, "surprise", 1),
        ({"grid": {**_study()["grid"], "num_draft_tokens": -2}}, "grid.num_draft_tokens", -2),
    ],
)
def test_bad_study_fields_are_named(tmp_path, change, field, value):
    path = _write(tmp_path, "mini", _study(**change))
    with pytest.raises(SpecError) as err:
        load_study(path)
    assert err.value.field == field
    assert err.value.path == path
    if value is not None:
        assert err.value.value == value
    else:
        assert math.isnan(err.value.value)


def test_unknown_dataset_and_unmatched_draft_are_refused_at_planning(tmp_path):
    profile = load_profile("smoke")
    bad_data = load_study(
        _write(tmp_path, "mini", _study(grid={**_study()["grid"], "datasets": ["nope"]}))
    )
    with pytest.raises(SpecError, match="unknown task") as err:
        plan_studies([bad_data], profile)
    assert err.value.field == "grid.datasets" and err.value.value == "nope"
    bad_draft = load_study(
        _write(tmp_path, "mini", _study(grid={**_study()["grid"], "drafts": ["kd-none-*"]}))
    )
    with pytest.raises(SpecError, match="matches no draft") as err:
        plan_studies([bad_draft], profile)
    assert err.value.field == "grid.drafts[0]" and err.value.value == "kd-none-*"


def test_drafts_a_bundle_lacks_are_left_out_when_the_study_says_skip(tmp_path):
    from tests.models import write_tiny_run

    root = write_tiny_run(tmp_path)
    profile = load_profile(str(root / "tiny.yaml"))
    study = yaml.safe_load((root / "grid.yaml").read_text())
    study["grid"]["drafts"] = [{"method": "base"}, {"method": "online"}]
    study["engines"] = ["analytic"]
    strict = load_study(_write(tmp_path, "strict", {**study, "name": "strict"}))
    with pytest.raises(SpecError, match="matches no draft"):
        plan_studies([strict], profile)
    lenient = {**study, "name": "lenient", "missing_drafts": "skip"}
    plan = plan_studies([load_study(_write(tmp_path, "lenient", lenient))], profile)
    assert {c.draft for c in plan.cells} == {"base"} and len(plan.cells) == 3 * 2
    lenient["grid"] = {**study["grid"], "drafts": [{"method": "online"}]}
    empty = plan_studies([load_study(_write(tmp_path, "lenient", lenient))], profile)
    assert empty.cells == () and empty.study_cells == {"lenient": ()}


def test_unknown_study_and_profile_list_the_known_ones():
    with pytest.raises(SpecError, match=r"known: .*degradation") as err:
        load_studies(["degradaton"])
    assert err.value.value == "degradaton"
    with pytest.raises(SpecError, match=r"known: .*quick") as err:
        load_profile("quik")
    assert err.value.value == "quik"


def test_bad_profile_fields_are_named(tmp_path):
    data = yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())
    data["name"] = "mine"
    data["sizes"]["analytic"]["seeds"] = 0
    path = _write(tmp_path, "mine", data)
    with pytest.raises(SpecError) as err:
        load_profile(str(path))
    assert (err.value.field, err.value.value) == ("sizes.analytic.seeds", 0)
    data["sizes"]["analytic"]["seeds"] = 1
    data["models"]["llama"] = {"target": {"hub": "not a hub id"}}
    with pytest.raises(SpecError) as err:
        load_profile(str(_write(tmp_path, "mine", data)))
    assert (err.value.field, err.value.value) == ("models.llama.target.hub", "not a hub id")


@pytest.mark.parametrize(
    ("field", "value"),
    [("seeds", 10**9), ("prompts", 10**12), ("max_new_tokens", 10**6), ("batch_size", 10**7)],
)
def test_sizes_in_a_profile_are_bounded(tmp_path, field, value):
    data = yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())
    data["name"] = "mine"
    data["sizes"]["analytic"][field] = value
    with pytest.raises(SpecError, match="must be at most") as err:
        load_profile(str(_write(tmp_path, "mine", data)))
    assert (err.value.field, err.value.value) == (f"sizes.analytic.{field}", value)


def test_cli_rejects_bad_input_with_exit_2_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    bad = _write(tmp_path, "mini", _study(grid={**_study()["grid"], "decode_temperatures": [-1.0]}))
    for args in (
        ["nope"],
        [str(bad)],
        ["degradation", "--profile", "nope"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "suite", "run", *args, "--out", str(out), "--quiet"],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: ") and "field" in proc.stderr
        assert not out.exists()


def test_the_quick_profile_runs_the_t5_family_beside_llama():
    profile = load_profile("quick")
    studies = load_studies(["all"])
    plan = plan_studies(studies, profile)
    by_study = {name: {k.split("/")[1] for k in keys} for name, keys in plan.study_cells.items()}
    for name in ("degradation_t5", "alignment_t5", "online_offline_t5"):
        held = _bundle_holds_a_draft_for(load_study(STUDIES_DIR / f"{name}.yaml"), profile)
        assert by_study[name] == ({"t5"} if held else set()), name
        twin = load_study(STUDIES_DIR / f"{name}.yaml")
        llama_twin = load_study(STUDIES_DIR / f"{name.removesuffix('_t5')}.yaml")
        assert twin.claims == llama_twin.claims  # the same claims, the other family
    assert by_study["degradation"] == {"llama"}
    # Every draft the bundle holds is planned, by its facts: the base draft and each KD draft.
    for family in ("t5", "llama"):
        planned = {c.draft for c in plan.cells if c.family == family}
        bundled = {n for n, ref in profile.models[family].drafts.items() if n != "base"}
        kd = {n for n in bundled if profile.models[family].drafts[n].facts.method != "other"}
        assert "base" in planned and kd <= planned, family


def _bundle_holds_a_draft_for(study, profile) -> bool:
    """Whether any draft selector of ``study`` (any engine, any dataset) picks a bundled draft."""
    drafts = profile.models[study.family].drafts
    for engine in study.engines:
        grid = study.grid_for(profile.name, engine)
        for _, kd_dataset in grid.datasets:
            for selector in grid.drafts:
                if any(selector.matches(n, ref.facts, kd_dataset) for n, ref in drafts.items()):
                    return True
    return False
