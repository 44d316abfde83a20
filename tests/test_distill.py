"""KD drafts: the divergences, offline SeqKD data and training, online KD, resume, and the grid."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from suite.acceptance import analytic_acceptance
from suite.cli import main
from suite.distill import offline, recipes
from suite.distill.divergence import DIVERGENCES, divergence, per_position
from suite.distill.loop import TrainConfig, train
from suite.distill.offline import (
    KDData,
    KDRequest,
    ResponseBatches,
    collate,
    compose_kd_data,
    generate_kd_data,
    response_ce,
    response_ce_loss,
)
from suite.distill.online import OnlineKDLoss, PromptBatches
from suite.errors import SpecError
from tests.models import tiny_llama

VOCAB = 16
EOS = 1
RECIPE = Path(__file__).resolve().parents[1] / "reference" / "recipes" / "kd-llama.yaml"


@pytest.fixture(autouse=True)
def _checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))


class Killed(Exception):
    """A run stopped from outside (a kill) at a chosen point."""


def _prompts(count: int, seed: int) -> list[list[int]]:
    """Random prompts over tokens 2..V-1 (0 is padding, 1 is EOS)."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 6, (count,), generator=gen).tolist()
    return [torch.randint(2, VOCAB, (n,), generator=gen).tolist() for n in lengths]


def _target():
    return tiny_llama(VOCAB, hidden=32, layers=2, seed=0, sharpness=10.0)  # peaked: far from q


def _draft():
    return tiny_llama(VOCAB, hidden=16, layers=1, seed=1).train()


def _config(max_steps: int, **kw) -> TrainConfig:
    base = dict(lr=1e-2, min_lr=1e-3, warmup_steps=2, batch_size=8, checkpoint_every_s=1e9)
    return TrainConfig(max_steps=max_steps, **(base | kw))


def _logits(seed: int, shape=(3, 4, VOCAB), scale: float = 2.0) -> torch.Tensor:
    return scale * torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# --- divergences -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DIVERGENCES)
@pytest.mark.parametrize("tau", [0.3, 1.0, 2.0])
def test_divergence_is_zero_for_identical_and_positive_for_different_distributions(name, tau):
    a, b = _logits(0), _logits(1)
    assert per_position(name, a, a, tau).abs().max() < 1e-6
    assert per_position(name, a, b, tau).min() > 1e-3


def test_forward_kl_matches_a_hand_computation_over_masked_positions():
    target = torch.tensor([[[1.0, 0.0, -1.0], [0.0, 0.0, 0.0]]])
    draft = torch.tensor([[[0.0, 0.5, 0.0], [3.0, 3.0, 3.0]]])
    tau = 0.5
    p = [math.exp(x / tau) for x in (1.0, 0.0, -1.0)]
    q = [math.exp(x / tau) for x in (0.0, 0.5, 0.0)]
    p = [x / sum(p) for x in p]
    q = [x / sum(q) for x in q]
    by_hand = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    mask = torch.tensor([[True, False]])  # the second position is not a response position
    assert divergence("forward_kl", target, draft, mask, tau).item() == pytest.approx(
        by_hand, rel=1e-5
    )
    assert by_hand == pytest.approx(0.9931, abs=1e-4)  # 0.8668 ln 4.090 + ...


def test_forward_kl_at_tau_0_is_cross_entropy_to_the_target_argmax():
    target, draft = _logits(2), _logits(3)
    ce = F.cross_entropy(draft.reshape(-1, VOCAB), target.argmax(-1).reshape(-1))
    assert divergence("forward_kl", target, draft, None, 0.0).item() == pytest.approx(
        ce.item(), rel=1e-5
    )
    # Reverse KL to a one-hot p is infinite: at τ_kd = 0 it falls back to the same cross-entropy.
    assert divergence("reverse_kl", target, draft, None, 0.0).item() == pytest.approx(ce.item())
    # Zero only when the draft (at τ = 1) puts all its mass on the target's argmax.
    peaked = 100.0 * F.one_hot(target.argmax(-1), VOCAB).float()
    assert divergence("forward_kl", target, peaked, None, 0.0).item() < 1e-6


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0])
def test_total_variation_and_jsd_are_bounded(tau):
    # Disjoint supports reach the bounds: TV = 1 and JSD = log 2.
    far_a = torch.tensor([[60.0, 60.0, -60.0, -60.0]])
    far_b = torch.tensor([[-60.0, -60.0, 60.0, 60.0]])
    assert per_position("total_variation", far_a, far_b, 1.0).item() == pytest.approx(1.0)
    assert per_position("jsd", far_a, far_b, 1.0).item() == pytest.approx(math.log(2), rel=1e-5)
    a, b = _logits(4, (64, 8, VOCAB), scale=8.0), _logits(5, (64, 8, VOCAB), scale=8.0)
    tv, js = per_position("total_variation", a, b, tau), per_position("jsd", a, b, tau)
    assert tv.min() >= 0 and tv.max() <= 1 + 1e-6
    assert js.min() >= -1e-6 and js.max() <= math.log(2) + 1e-6


@pytest.mark.parametrize("name", DIVERGENCES)
@pytest.mark.parametrize("tau", [0.0, 0.7])
def test_gradients_flow_to_the_draft_for_every_divergence(name, tau):
    target = _logits(6)
    draft = _logits(7).requires_grad_(True)
    mask = torch.ones(target.shape[:-1], dtype=torch.bool)
    divergence(name, target, draft, mask, tau).backward()
    assert torch.isfinite(draft.grad).all()
    assert draft.grad.abs().sum() > 1e-4


# --- offline KD --------------------------------------------------------------------------------


def _generate(target, prompts, cache_root, *, seed=0, tau=1.0, chunk_size=4):
    request = KDRequest(
        target_sha="tiny",
        dataset="toy",
        kd_temperature=tau,
        samples_per_prompt=2,
        max_new_tokens=6,
        seed=seed,
        eos_token_id=EOS,
        chunk_size=chunk_size,
    )
    return generate_kd_data(target, prompts, request, batch_size=8, cache_root=cache_root)


def test_offline_data_is_deterministic_given_the_seed_and_read_from_the_cache(
    tmp_path, monkeypatch
):
    target, prompts = _target(), _prompts(10, seed=1)
    first = _generate(target, prompts, tmp_path / "a")
    again = _generate(target, prompts, tmp_path / "b")  # a fresh cache: generated again
    assert first.responses == again.responses
    assert len(first) == 20 and first.prompt_index[:10] == tuple(range(10))
    assert _generate(target, prompts, tmp_path / "c", seed=1).responses != first.responses
    assert len(_generate(target, prompts, tmp_path / "d", tau=0.0)) == 10  # greedy: one sample

    def refuse(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(offline, "sample_continuations", refuse)
    assert _generate(target, prompts, tmp_path / "a") == first


def test_offline_generation_killed_mid_way_resumes_with_the_same_tokens(tmp_path, monkeypatch):
    target, prompts = _target(), _prompts(10, seed=2)
    whole = _generate(target, prompts, tmp_path / "whole")
    real, calls = offline.sample_continuations, []

    def dies_on_third_part(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(offline, "sample_continuations", dies_on_third_part)
    with pytest.raises(Killed):
        _generate(target, prompts, tmp_path / "killed")
    assert len(list((tmp_path / "killed").glob("*/part-*.json"))) == 2
    monkeypatch.setattr(
        offline, "sample_continuations", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    calls.clear()
    assert _generate(target, prompts, tmp_path / "killed") == whole
    assert len(calls) == 4  # 2 samples x 3 chunks, 2 parts already on disk


def test_collate_marks_only_response_positions():
    batch = collate([([5, 6, 7], [8, 1]), ([5], [9, 9, 1])], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 1], [5, 9, 9, 1, 0]]
    assert batch["loss_mask"].tolist() == [[False, False, True, True], [True, True, True, False]]


def test_recipe_data_draws_one_temperature_per_sequence_with_a_seed():
    prompts = ((2, 3),)
    sets = {
        t: KDData(prompts, (0,) * 40, tuple((int(10 * t),) for _ in range(40)), (t,) * 40)
        for t in (0.6, 0.8, 1.0)
    }
    mix = compose_kd_data(sets, seed=0)
    assert len(mix) == 40 and set(mix.temperatures) == {0.6, 0.8, 1.0}
    assert all(r == (int(10 * t),) for r, t in zip(mix.responses, mix.temperatures, strict=True))
    assert compose_kd_data(sets, seed=0) == mix
    assert compose_kd_data(sets, seed=1) != mix


def test_offline_kd_lowers_the_draft_cross_entropy_on_its_data(tmp_path):
    data = _generate(_target(), _prompts(16, seed=3), tmp_path / "kd")
    draft = _draft()
    before = response_ce(draft, data)
    batches = ResponseBatches(data, batch_size=8, seed=0)
    summary = train(draft, _config(40), batches, response_ce_loss, tmp_path / "ckpt")
    after = response_ce(draft, data)
    assert before > 2.6  # about log 16: a random draft
    assert after < before - 0.7, (before, after)  # measured 2.76 -> 1.76
    assert summary["steps"] == 40


# --- online KD ---------------------------------------------------------------------------------


def test_online_batches_are_a_function_of_the_step():
    batches = PromptBatches(_prompts(10, seed=4), 4, seed=0, kd_temperatures=[0.6, 0.8, 1.0])
    assert batches(7) == PromptBatches(_prompts(10, seed=4), 4, 0, [0.6, 0.8, 1.0])(7)
    assert batches(7) != batches(8)
    temps = [t for s in range(10) for t in batches(s).temperatures]
    assert set(temps) == {0.6, 0.8, 1.0}


def _beta(target, draft, prompts, tau) -> float:
    result = analytic_acceptance(
        target,
        {"draft": draft},
        prompts,
        temperature=tau,
        max_new_tokens=8,
        seed=11,
        eos_token_id=EOS,
        n_boot=10,
    )
    return result["draft"].acceptance_rate


def test_online_kd_raises_expected_acceptance_at_the_kd_temperature(tmp_path):
    target, draft, tau = _target(), _draft(), 1.0
    heldout = _prompts(24, seed=5)
    before = _beta(target, draft.eval(), heldout, tau)
    batches = PromptBatches(_prompts(32, seed=6), 8, seed=0, kd_temperatures=[tau])
    loss_fn = OnlineKDLoss(target, max_new_tokens=8, eos_token_id=EOS)
    with torch.no_grad():
        first = float(loss_fn(draft, batches(0)))
    summary = train(draft, _config(40), batches, loss_fn, tmp_path / "ckpt")
    after = _beta(target, draft, heldout, tau)
    assert 0.5 < before < 0.75, before
    assert after > before + 0.2, (before, after)  # measured 0.62 -> 0.88
    assert summary["train_loss"] < 0.5 * first, (first, summary["train_loss"])


# --- resume ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["offline", "online"])
def test_killed_run_resumes_to_the_same_weights(tmp_path, method):
    target = _target()
    if method == "offline":
        batches = ResponseBatches(_generate(target, _prompts(8, 7), tmp_path / "kd"), 4, seed=0)
        loss_fn = response_ce_loss
    else:
        batches = PromptBatches(_prompts(8, 7), 4, seed=0, kd_temperatures=[0.6, 1.0])
        loss_fn = OnlineKDLoss(target, divergence="jsd", max_new_tokens=5, eos_token_id=EOS)
    whole = _draft()
    train(whole, _config(10, batch_size=4), batches, loss_fn, tmp_path / "whole")

    def dies_at_step_6(step):
        if step == 6:
            raise Killed
        return batches(step)

    cfg = _config(10, batch_size=4, checkpoint_every_s=0.0)  # checkpoint every step
    with pytest.raises(Killed):
        train(_draft(), cfg, dies_at_step_6, loss_fn, tmp_path / "killed")
    resumed = _draft()  # fresh weights: everything comes from the checkpoint
    summary = train(resumed, cfg, batches, loss_fn, tmp_path / "killed")
    assert summary["steps"] == 10
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


# --- the grid and the command ------------------------------------------------------------------


def test_grid_has_28_configurations_times_3_seeds_and_the_full_grid_11_temperatures():
    recipe = recipes.load_kd_recipe(RECIPE)
    grid = recipes.kd_grid(recipe)
    names = [d.name for d in grid]
    assert len(names) == len(set(names)) == 3 * (2 * 2 * 6 + 2 * 2)
    assert {
        "kd-offline-gsm8k-t0.4-s0",
        "kd-online-alpaca-t1.0-s2",
        "kd-offline-gsm8k-recipe-s1",
    } <= set(names)
    assert {d.seed for d in grid} == {0, 1, 2}
    assert all(d.name.endswith(f"-s{d.seed}") for d in grid)
    # The pilot (seed 0, τ_kd 0 and 1, both methods and datasets) comes first in the queue.
    pilot = grid[:8]
    assert {(d.seed, d.kd_temperature) for d in pilot} == {(0, 0.0), (0, 1.0)}
    assert {(d.method, d.dataset) for d in pilot} == {
        (m, ds) for m in ("offline", "online") for ds in ("alpaca", "gsm8k")
    }
    full = recipes.kd_grid(recipe, full_grid=True)
    grid_temps = {d.kd_temperature for d in full if not d.is_recipe}
    assert len(grid_temps) == 11 and len(full) == 3 * (2 * 2 * 11 + 2 * 2)
    recipe_draft = next(d for d in full if d.name == "kd-online-alpaca-recipe-s0")
    assert recipe_draft.kd_temperatures == (0.6, 0.8, 1.0)


def test_a_recipe_without_seeds_keeps_one_draft_per_configuration(tmp_path):
    raw = yaml.safe_load(RECIPE.read_text())
    raw.pop("seeds")
    path = tmp_path / "one-seed.yaml"
    path.write_text(yaml.safe_dump(raw))
    grid = recipes.kd_grid(recipes.load_kd_recipe(path))
    assert len(grid) == 28 and "kd-online-gsm8k-t0.0" in {d.name for d in grid}
    assert {d.seed for d in grid} == {raw["seed"]}


@pytest.mark.parametrize("seeds", [[], [0, 0], [-1], ["a"], 3])
def test_bad_seeds_are_refused_naming_the_field(tmp_path, seeds):
    raw = yaml.safe_load(RECIPE.read_text()) | {"seeds": seeds}
    path = tmp_path / "bad-seeds.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError) as err:
        recipes.load_kd_recipe(path)
    assert err.value.field == "seeds"


def test_a_draft_claimed_by_a_live_worker_is_skipped_and_a_dead_ones_lock_is_taken(tmp_path):
    import os
    import socket

    lock = tmp_path / "locks" / "kd-x.lock"
    with recipes.claim(lock) as mine:
        assert mine and lock.read_text() == f"{socket.gethostname()} {os.getpid()}"
        with recipes.claim(lock) as other:
            assert not other  # a second worker (here: this live process) is refused
    assert not lock.exists()
    lock.write_text(f"{socket.gethostname()} 999999999")  # a worker that died
    with recipes.claim(lock) as mine:
        assert mine
    lock.write_text("another-host 1")  # unknown liveness: left alone
    with recipes.claim(lock) as mine:
        assert not mine


def test_bad_recipe_names_the_file_the_field_and_the_value(tmp_path):
    raw = yaml.safe_load(RECIPE.read_text()) | {"divergence": "kl"}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError) as err:
        recipes.load_kd_recipe(path)
    assert err.value.field == "divergence" and err.value.value == "kl"
    with pytest.raises(ValueError, match=r"kd-offline-gsm8k-t0\.3-s0"):
        recipes.select_drafts(
            recipes.kd_grid(recipes.load_kd_recipe(RECIPE)), ["kd-offline-gsm8k-t0.3-s0"]
        )


def _tiny_artifacts(out: Path) -> None:
    """A 32-symbol character tokenizer, a tiny target and a tiny base draft saved like the real."""
    from tokenizers import Tokenizer, models, trainers
    from transformers import PreTrainedTokenizerFast

    from suite.distill.tokenizer import EOS as EOS_TOKEN
    from suite.distill.tokenizer import PAD

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer = trainers.BpeTrainer(
        vocab_size=32, special_tokens=[EOS_TOKEN, PAD, "<unk>"], limit_alphabet=29
    )
    tok.train_from_iterator(
        ["the answer is 42 and 7 times 6 ### Instruction: Response: " * 3], trainer
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=PAD, unk_token="<unk>"
    )
    fast.save_pretrained(str(out / "tokenizer"))
    for role, hidden, seed in (("target", 32, 0), ("draft", 16, 1)):
        model = tiny_llama(len(fast), hidden=hidden, layers=1, seed=seed, sharpness=2.0)
        model.config.eos_token_id, model.config.pad_token_id = fast.eos_token_id, fast.pad_token_id
        model.config.max_position_embeddings = 1024
        model.save_pretrained(str(out / role), safe_serialization=True)


def _tiny_recipe(tmp_path: Path, seeds: list[int]) -> Path:
    """The KD recipe on GSM8K with tiny prompt pools, KD sets and two training steps."""
    raw = yaml.safe_load(RECIPE.read_text())
    raw |= {"datasets": ["gsm8k"], "eval_examples": 2, "eval_every": 0, "seeds": seeds}
    raw["prompts"] = {"per_dataset": 4, "max_prompt_tokens": 600, "max_new_tokens": 4}
    raw["offline"] = {"samples_per_prompt": 2, "batch_size": 4, "chunk_size": 4}
    raw["train"] |= {"max_steps": 2, "batch_size": 2, "warmup_steps": 1}
    path = tmp_path / "kd-tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_distill_command_builds_drafts_once_and_lists_them(tmp_path, capsys):
    out = tmp_path / "llama"
    _tiny_artifacts(out)
    path = _tiny_recipe(tmp_path, [0, 3])
    names = ["kd-offline-gsm8k-t0.6-s0", "kd-online-gsm8k-recipe-s0", "kd-offline-gsm8k-t0.6-s3"]
    args = ["distill", "--recipe", str(path), "--out", str(out), "--threads", "1"]
    assert main([*args, "--only", *names]) == 0
    for name, seed in zip(names, (0, 0, 3), strict=True):
        info = json.loads((out / name / "training.json").read_text())
        assert (out / name / "model.safetensors").exists()
        assert info["steps"] == 2 and info["seed"] == seed
        assert set(info["heldout_loss"]) == {"gsm8k"}
        assert len(info["data_sha256"]) == 64 and info["wall_seconds"] > 0
    # Another seed samples other KD data for the same configuration.
    sha = [json.loads((out / n / "training.json").read_text())["data_sha256"] for n in names]
    assert sha[0] != sha[2]
    online = json.loads((out / names[1] / "training.json").read_text())
    assert online["method"] == "online" and online["kd_temperature"] is None
    assert online["data_centric_recipe"] == recipes.RECIPE_LABEL
    assert online["divergence"] == "forward_kl" and online["kd_temperatures"] == [0.6, 0.8, 1.0]
    stamp = (out / names[0] / "training.json").stat().st_mtime_ns
    assert main([*args, "--only", names[0]]) == 0  # already built: skipped
    assert (out / names[0] / "training.json").stat().st_mtime_ns == stamp
    capsys.readouterr()
    assert main([*args, "--list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == 2 * 14
    assert sum(line.split()[1] == "done" for line in listing) == 3
    assert main([*args, "--only", "kd-online-gsm8k-t0.3-s0"]) == 2  # not in the default grid


def test_distill_in_bfloat16_keeps_float32_drafts_and_records_device_and_dtype(tmp_path):
    from safetensors.torch import load_file

    from suite.io import weights_sha256
    from suite.models import load_tokenizer

    out = tmp_path / "llama"
    _tiny_artifacts(out)
    names = ["kd-offline-gsm8k-t0.6-s0", "kd-online-gsm8k-t1.0-s0"]
    args = ["distill", "--recipe", str(_tiny_recipe(tmp_path, [0])), "--out", str(out)]
    assert main([*args, "--threads", "1", "--dtype", "bfloat16", "--only", *names]) == 0
    base = load_file(str(out / "draft" / "model.safetensors"))
    for name in names:
        info = json.loads((out / name / "training.json").read_text())
        assert (info["device"], info["dtype"], info["steps"]) == ("cpu", "bfloat16", 2)
        assert math.isfinite(info["train_loss"]) and math.isfinite(info["heldout_loss"]["gsm8k"])
        trained = load_file(str(out / name / "model.safetensors"))
        assert {t.dtype for t in trained.values()} == {torch.float32}
        assert any(not torch.equal(trained[k], base[k]) for k in base), name
    # The bfloat16 target's KD set is cached under a key of its own: it samples other tokens.
    (folder,) = (tmp_path / "checkpoints" / "kd-data").iterdir()
    cached = json.loads((folder / "data.json").read_text())
    eos = load_tokenizer(out / "tokenizer").eos_token_id
    request = KDRequest(weights_sha256(out / "target"), "gsm8k", 0.6, 2, 4, 0, eos, chunk_size=4)
    assert cached["key"] == request.key(cached["prompts"], "cpu/bfloat16")
    assert cached["key"] != request.key(cached["prompts"])


def test_the_default_kd_cache_key_is_unchanged_and_other_precisions_get_their_own():
    request = KDRequest("sha", "gsm8k", 0.4, 3, 8, 1, 2, chunk_size=4)
    prompts = [(5, 6, 7), (8, 9)]
    fields = {
        "target_sha": "sha",
        "dataset": "gsm8k",
        "kd_temperature": 0.4,
        "seed": 1,
        "num_prompts": 2,
        "prompts_sha": offline.tokens_sha256(prompts),
        "samples": 3,
        "max_new_tokens": 8,
        "chunk_size": 4,
        "eos_token_id": 2,
    }
    before = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    assert request.key(prompts) == request.key(prompts, "cpu/float32") == before
    others = {request.key(prompts, p) for p in ("cpu/bfloat16", "cuda/bfloat16", "cuda/float32")}
    assert len(others) == 3 and before not in others
    assert KDRequest("sha", "gsm8k", 0.0, 3, 8, 1, 2).samples == 1  # greedy: one answer


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--dtype", "float8"), ("--dtype", "fp16"), ("--device", "tpu"), ("--device", "cuda:99")],
)
def test_bad_device_or_dtype_is_refused_with_status_2_naming_the_flag(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["distill", "--list", flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}:" in err and value in err


def test_kd_prompts_go_through_the_chat_template_where_the_tokenizer_has_one():
    from suite.models import load_tokenizer

    tok = load_tokenizer(RECIPE.parents[1] / "llama" / "tokenizer")
    plain = recipes.prompt_pool(tok, "gsm8k", 2, 10_000, seed=0)
    assert tok.decode(plain[0]).startswith("### Instruction:")
    tok.chat_template = "{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"
    chat = recipes.prompt_pool(tok, "gsm8k", 2, 10_000, seed=0)
    assert tok.decode(chat[0]).startswith("[INST]") and len(chat) == 2
    assert tok.decode(chat[0]).endswith("[/INST]")
