"""Each claim's simulated study: its drafts, grids and expected α under the null and the effect.

``effect=False`` is the null at its boundary (the claim false, nothing against it either);
``effect=True`` plants the paper's effect. Both families (Llama and T5) are simulated alike,
with their own prompts and checkpoints. The planted sizes, in α (γ moves with α):

1. α falls by 0.15 per unit τ_dec for every draft (null: flat);
2. a diagonal advantage: α drops 0.1 per unit |τ_kd − τ_dec| (null: no τ_kd effect);
3. online above offline by 0.02 + 0.03 τ_dec (null: equal);
4. KD drafts fall 0.1 per unit τ against the base draft's 0.2 (null: both 0.2);
5. γ falls to τ_dec 1.25 then rises 0.2 per unit τ (null: falls to 1, then a plateau);
6. the recipe's α 0.07 above the single-temperature drafts' (about +12% in γ; null: equal);
7. GSM8K's α 0.05 above Alpaca's, its tokens 0.4 characters shorter (null: equal);
8. online 0.04 below offline at τ_dec 0 and the highest τ_kd (null: equal).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suite.calibration.synth import Draft, Sizes, kd_drafts, table

FAMILIES = ("llama", "t5")


def claim1(rng, sizes: Sizes, family: str, effect: bool) -> pd.DataFrame:
    def mean(d: Draft, tau: float) -> float:
        return 0.7 - 0.15 * tau if effect else 0.6

    drafts = kd_drafts(sizes, base=True)
    return table(rng, family, "gsm8k", drafts, sizes.dec_grid, mean, sizes.prompts)


def claim2(rng, sizes: Sizes, family: str, effect: bool) -> pd.DataFrame:
    def mean(d: Draft, tau: float) -> float:
        return 0.65 - 0.1 * tau - (0.1 * abs(d.kd_temperature - tau) if effect else 0.0)

    return table(rng, family, "gsm8k", kd_drafts(sizes), sizes.kd_grid, mean, sizes.prompts)


def claim3(rng, sizes: Sizes, family: str, effect: bool) -> pd.DataFrame:
    def mean(d: Draft, tau: float) -> float:
        gain = 0.02 + 0.03 * tau if effect and d.method == "online" else 0.0
        return 0.6 - 0.1 * tau + gain

    return table(rng, family, "gsm8k", kd_drafts(sizes), sizes.dec_grid, mean, sizes.prompts)


def claim4(rng, sizes: Sizes, family: str, effect: bool) -> pd.DataFrame:
    def mean(d: Draft, tau: float) -> float:
        if d.method == "base":
            return 0.7 - 0.2 * tau
        return 0.72 - (0.1 if effect else 0.2) * tau

    drafts = kd_drafts(sizes, base=True)
    return table(rng, family, "gsm8k", drafts, sizes.dec_grid, mean, sizes.prompts)


def claim5(rng, sizes: Sizes, family: str, effect: bool) -> pd.DataFrame:
    def mean(d: Draft, tau: float) -> float:
        if effect:
            return 0.7 - 0.2 * min(tau, 1.25) + 0.2 * max(tau - 1.25, 0.0)
        return 0.7 - 0.2 * min(tau, 1.0)

    drafts = [Draft("base"), *[Draft("offline", 1.0, seed=s) for s in range(sizes.seeds)]]
    frames = [
        table(rng, family, dataset, drafts, sizes.ood_grid, mean, sizes.prompts)
        for dataset in ("asdiv", "svamp")
    ]
    return pd.concat(frames, ignore_index=True)


def claim6(rng, sizes: Sizes, family: str, effect: bool) -> pd.DataFrame:
    def mean(d: Draft, tau: float) -> float:
        return 0.5 + (0.07 if effect and d.recipe else 0.0)

    drafts = kd_drafts(sizes, methods=("offline",))
    drafts += [Draft("offline", None, recipe=True, seed=s) for s in range(sizes.seeds)]
    high = tuple(t for t in sizes.dec_grid if t >= 0.8) or sizes.dec_grid[-1:]
    return table(rng, family, "gsm8k", drafts, high, mean, sizes.prompts)


def claim7(rng, sizes: Sizes, family: str, effect: bool) -> pd.DataFrame:
    def easy(d: Draft, tau: float) -> float:
        return 0.65 if effect else 0.6

    def hard(d: Draft, tau: float) -> float:
        return 0.6

    gsm = table(rng, family, "gsm8k", [Draft("base")], (0.0,), easy, sizes.prompts,
                token_chars=2.6 if effect else 3.0)  # fmt: skip
    alpaca = table(rng, family, "alpaca", [Draft("base")], (0.0,), hard, sizes.prompts)
    return pd.concat([gsm, alpaca], ignore_index=True)


def claim8(rng, sizes: Sizes, family: str, effect: bool) -> pd.DataFrame:
    high = max(sizes.kd_grid)

    def mean(d: Draft, tau: float) -> float:
        worse = effect and d.method == "online" and tau == 0.0 and d.kd_temperature == high
        return 0.6 - 0.1 * tau - (0.04 if worse else 0.0)

    return table(rng, family, "gsm8k", kd_drafts(sizes), (0.0, 1.0), mean, sizes.prompts)


SCENARIOS = {
    1: claim1, 2: claim2, 3: claim3, 4: claim4, 5: claim5, 6: claim6, 7: claim7, 8: claim8,
}  # fmt: skip


def simulate(number: int, sizes: Sizes, effect: bool, seed: int) -> dict[str, pd.DataFrame]:
    """One simulated results table per family for claim ``number``."""
    rng = np.random.default_rng([number, int(effect), seed])
    return {family: SCENARIOS[number](rng, sizes, family, effect) for family in FAMILIES}
