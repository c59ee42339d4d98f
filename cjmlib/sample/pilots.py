"""The sample's pilot data: the A/B pilot of the payment redesign and the store pilot panel.

:func:`write_ab_pilot` writes one row per customer unit (variant from
:func:`cjmlib.pilots.design.assign_variants`, outcomes and pre-period covariates) and returns
the planted population effects per metric; :func:`write_store_panel` writes a weekly
store panel in which a few stores get the new checkout from the launch week.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cjmlib.pilots.design import assign_variants
from cjmlib.sample.catalogue import (
    AB_BASKET_MEAN,
    AB_CHECKOUT_CENSOR_S,
    AB_CHECKOUT_MEAN_S,
    AB_CONTACT_RATE,
    AB_CONVERSION,
    AB_CSAT_PROBS,
    AB_NPS_GROUPS,
    AB_SALT,
    STORE_EFFECT,
)

if TYPE_CHECKING:
    from cjmlib.sample.generator import SampleGenerator


def write_ab_pilot(gen: SampleGenerator, people: pd.DataFrame, name: str) -> dict[str, Any]:
    """A/B pilot of the payment redesign on registered customers."""
    rng = gen.rng
    reg = people[people["kind"] == "registered"]
    n = int(min(10_000, round(0.6 * len(reg))))
    units = reg.sample(n, random_state=int(rng.integers(1e9)))
    variant = assign_variants(units["crm_id"], salt=AB_SALT,
                              split={"control": 0.5, "treatment": 0.5}).to_numpy()
    t = variant == "treatment"
    propensity = rng.beta(3.0, 7.0, n)  # mean 0.30
    converted = rng.random(n) < propensity + np.where(
        t, AB_CONVERSION["treatment"] - AB_CONVERSION["control"], 0.0)
    pre_orders = rng.binomial(3, propensity)
    activity = rng.gamma(2.0, 0.5, n)  # mean 1
    sessions = 1 + rng.poisson(3.0 * activity)
    pre_sessions = 1 + rng.poisson(3.0 * activity)
    basket = rng.gamma(4.0, AB_BASKET_MEAN / 4.0, n)
    revenue = np.round(np.where(converted, basket, 0.0), 2)
    pre_revenue = np.round(pre_orders * rng.gamma(4.0, AB_BASKET_MEAN / 4.0, n), 2)
    rate = np.where(t, AB_CONTACT_RATE["treatment"], AB_CONTACT_RATE["control"])
    contacts = rng.poisson(rate * sessions)
    pre_contacts = rng.poisson(AB_CONTACT_RATE["control"] * pre_sessions)
    responded = rng.random(n) < 0.45
    csat = np.array([rng.choice(5, p=AB_CSAT_PROBS[v]) + 1 for v in variant], dtype=float)
    csat[~responded] = np.nan
    nps = np.empty(n)
    det_w = np.array([0.05, 0.05, 0.05, 0.10, 0.15, 0.25, 0.35])
    for i, v in enumerate(variant):
        grp = rng.choice(3, p=AB_NPS_GROUPS[v])
        nps[i] = (rng.choice(7, p=det_w) if grp == 0 else
                  7 + rng.integers(0, 2) if grp == 1 else 9 + rng.integers(0, 2))
    nps[~responded] = np.nan
    mean = np.where(t, AB_CHECKOUT_MEAN_S["treatment"], AB_CHECKOUT_MEAN_S["control"])
    time_full = rng.exponential(mean)
    completed = time_full < AB_CHECKOUT_CENSOR_S
    checkout_time = np.round(np.minimum(time_full, AB_CHECKOUT_CENSOR_S), 1)
    df = pd.DataFrame({
        "unit_id": units["crm_id"].to_numpy(), "variant": variant,
        "converted": converted.astype(int), "revenue": revenue, "sessions": sessions,
        "support_contacts": contacts, "csat": csat, "nps": nps,
        "checkout_time_s": checkout_time, "checkout_completed": completed.astype(int),
        "pre_converted": (pre_orders > 0).astype(int), "pre_orders": pre_orders,
        "pre_revenue": pre_revenue, "pre_sessions": pre_sessions,
        "pre_support_contacts": pre_contacts,
        "tier": units["tier"].to_numpy(), "region": units["region"].to_numpy(),
        "country": units["country"].to_numpy(),
    })
    (gen.out / name).parent.mkdir(parents=True, exist_ok=True)
    gen.save(name, df.to_csv, gen.out / name, index=False)

    def mean_csat(v):
        return float(np.dot(np.arange(1, 6), AB_CSAT_PROBS[v]))

    def top2(v):
        return float(sum(AB_CSAT_PROBS[v][3:]))

    def nps_value(v):
        d, _, p = AB_NPS_GROUPS[v]
        return 100.0 * (p - d)

    def rmst(v):
        mu = AB_CHECKOUT_MEAN_S[v]
        return mu * (1 - math.exp(-AB_CHECKOUT_CENSOR_S / mu))

    def entry(fn, unit=None):
        c, tr = fn("control"), fn("treatment")
        e = {"control": round(c, 6), "treatment": round(tr, 6),
             "difference": round(tr - c, 6)}
        if unit:
            e["unit"] = unit
        return e

    return {
        "experiment": "payment page redesign", "salt": AB_SALT,
        "planned_split": {"control": 0.5, "treatment": 0.5},
        "n_units": int(n), "file": name,
        "conversion": entry(lambda v: AB_CONVERSION[v], "proportion of customers"),
        "csat_mean": entry(mean_csat, "mean of 1-5 among respondents"),
        "csat_top2box": entry(top2, "share of 4-5 among respondents"),
        "nps": entry(nps_value, "NPS on -100..100 among respondents"),
        "revenue_per_customer": entry(lambda v: AB_CONVERSION[v] * AB_BASKET_MEAN, "GBP"),
        "support_contacts_per_session": entry(lambda v: AB_CONTACT_RATE[v], "ratio of sums"),
        "checkout_rmst_s": entry(rmst, f"restricted mean to {AB_CHECKOUT_CENSOR_S:.0f} s"),
        "checkout_hazard_ratio": round(AB_CHECKOUT_MEAN_S["control"]
                                       / AB_CHECKOUT_MEAN_S["treatment"], 6),
    }


def write_store_panel(gen: SampleGenerator, name: str) -> dict[str, Any]:
    """Weekly store panel; a few pilot stores get the new checkout from the launch week."""
    rng = gen.rng
    stores = [f"S{k:02d}" for k in range(1, 41)]
    treated = sorted(rng.choice(stores, size=4, replace=False).tolist())
    launch = gen.weeks * 2 // 3
    weeks = pd.date_range(gen.start.tz_convert(None).normalize(), periods=gen.weeks,
                          freq="7D")
    store_fe = dict(zip(stores, rng.normal(0, 15, len(stores)), strict=True))
    foot_fe = dict(zip(stores, rng.normal(0, 300, len(stores)), strict=True))
    season = 5 * np.sin(np.arange(gen.weeks) / gen.weeks * 2 * np.pi)
    rows = []
    for s in stores:
        noise = 0.0
        for w in range(gen.weeks):
            noise = 0.5 * noise + rng.normal(0, 3.0)
            is_t, post = int(s in treated), int(w >= launch)
            sales = 100 + store_fe[s] + season[w] + noise + STORE_EFFECT["sales"] * is_t * post
            foot = 2000 + foot_fe[s] + 40 * season[w] + rng.normal(0, 60)
            rows.append((s, weeks[w].strftime("%Y-%m-%d"), is_t, post, round(sales, 2),
                         int(round(foot))))
    df = pd.DataFrame(rows, columns=["unit", "period", "treated", "post", "sales",
                                     "footfall"])
    gen.save(name, df.to_csv, gen.out / name, index=False)
    return {"metric": "sales", "effect": STORE_EFFECT["sales"],
            "effects": STORE_EFFECT, "unit": "thousand GBP per store-week",
            "treated_units": treated, "n_control_units": len(stores) - len(treated),
            "launch_period": weeks[launch].strftime("%Y-%m-%d"), "file": name}
