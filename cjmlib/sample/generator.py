"""Seeded generator of realistic raw multi-channel customer data, with planted ground truth.

The files look like what real systems export, not like clean tables: web analytics and app
events with different id schemes and time formats, a CRM with e-mails and phones typed
inconsistently, a contact-centre log in local time with day-first dates, e-mail campaign
events as JSON lines, post-interaction surveys in English (UTF-8 with BOM) and Chinese
(GB18030, Chinese headers), a relationship survey, a market benchmark survey, social posts,
interview transcripts, an A/B pilot on customers and a store pilot panel.

What the generator plants is written to ``ground_truth.json`` beside the data (see
:func:`make_sample`); ``ground_truth/`` holds the clean, stitched truth tables (persons and
their events) so that collection, journeys and personas can be checked against them.

Identity design: every person's records are linkable by construction (each web cookie is
logged in at least once, contact-centre rows carry a phone or an account number, survey rows
an e-mail or an account number, matched social handles carry an e-mail), *provided* e-mails
and phones are normalised and the CRM's placeholder values (``noemail@example.com``,
``00000000000``) are not treated as identifiers. A correct stitching therefore yields exactly
``n_customers`` customers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.pilots.design import assign_variants

# --------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------

STAGES = ("awareness", "consideration", "purchase", "service", "loyalty")

#: touchpoint -> stage (the same map ships in configs/journey.yaml)
TOUCHPOINT_STAGE: dict[str, str] = {
    "email_sent": "awareness",
    "email_open": "awareness",
    "email_click": "awareness",
    "search_landing": "awareness",
    "home_page": "consideration",
    "product_page": "consideration",
    "product_compare": "consideration",
    "reviews": "consideration",
    "cart": "purchase",
    "delivery_options": "purchase",
    "payment": "purchase",
    "order_confirmation": "purchase",
    "store_purchase": "purchase",
    "help_center": "service",
    "chat": "service",
    "support_call": "service",
    "order_tracking": "service",
    "returns": "service",
    "loyalty_rewards": "loyalty",
}

#: States of the journey chain (email_sent/email_open come from campaigns, not journeys).
STATES = [
    "search_landing", "email_click", "home_page", "product_page", "product_compare", "reviews",
    "cart", "delivery_options", "payment", "order_confirmation", "store_purchase",
    "help_center", "chat", "support_call", "order_tracking", "returns", "loyalty_rewards",
]
END = len(STATES)
_S = {name: i for i, name in enumerate(STATES)}
CONVERSION_TOUCHPOINTS = ("order_confirmation", "store_purchase")

PAIN_POINT = "payment"
LOOP = ("cart", "delivery_options")
CHURN_SWITCH = ("web", "call_center")
KEY_DRIVER = "support_call"

# Raw event names per touchpoint, as the web analytics tool and the app SDK call them.
WEB_EVENT = {
    "search_landing": "landing", "home_page": "page_view_home", "product_page": "view_item",
    "product_compare": "compare_items", "reviews": "view_reviews", "cart": "view_cart",
    "delivery_options": "checkout_delivery", "payment": "checkout_payment",
    "order_confirmation": "purchase", "help_center": "help_article",
    "order_tracking": "track_order", "returns": "start_return", "loyalty_rewards": "rewards_page",
}
APP_EVENT = {
    "home_page": "screen_home", "product_page": "view_item", "product_compare": "compare_items",
    "reviews": "view_reviews", "cart": "view_cart", "delivery_options": "delivery_step",
    "payment": "payment_step", "order_confirmation": "purchase", "help_center": "help_screen",
    "order_tracking": "track_order", "returns": "start_return",
    "loyalty_rewards": "rewards_screen",
}
WEB_PATH = {
    "search_landing": "/", "home_page": "/", "product_page": "/p/{}", "product_compare": "/compare",
    "reviews": "/p/{}/reviews", "cart": "/basket", "delivery_options": "/checkout/delivery",
    "payment": "/checkout/payment", "order_confirmation": "/checkout/thank-you",
    "help_center": "/help/{}", "order_tracking": "/account/orders", "returns": "/account/returns",
    "loyalty_rewards": "/rewards",
}
# Survey front-ends label touchpoints their own way (mapped back in configs/sources.yaml).
SURVEY_LABEL_EN = {
    "search_landing": "Search", "home_page": "Homepage", "product_page": "Product page",
    "product_compare": "Product comparison", "reviews": "Reviews", "cart": "Basket",
    "delivery_options": "Checkout - Delivery", "payment": "Checkout - Payment",
    "order_confirmation": "Order confirmation", "store_purchase": "In store",
    "help_center": "Help centre", "chat": "Live chat", "support_call": "Customer service call",
    "order_tracking": "Order tracking", "returns": "Returns", "loyalty_rewards": "Rewards",
}
SURVEY_LABEL_ZH = {
    "search_landing": "搜索", "home_page": "首页", "product_page": "商品页",
    "product_compare": "商品对比", "reviews": "评价", "cart": "购物车",
    "delivery_options": "结算-配送", "payment": "结算-支付", "order_confirmation": "订单确认",
    "store_purchase": "门店", "help_center": "帮助中心", "chat": "在线客服",
    "support_call": "客服电话", "order_tracking": "订单跟踪", "returns": "退货",
    "loyalty_rewards": "会员积分",
}
# Median dwell time in seconds per touchpoint (lognormal, sigma 0.6).
DWELL_MEDIAN_S = {
    "search_landing": 20, "email_click": 3, "home_page": 25, "product_page": 60,
    "product_compare": 90, "reviews": 75, "cart": 40, "delivery_options": 45, "payment": 150,
    "order_confirmation": 10, "store_purchase": 600, "help_center": 80, "chat": 420,
    "support_call": 540, "order_tracking": 30, "returns": 120, "loyalty_rewards": 40,
}
# Mean latent satisfaction (1-5 scale) per touchpoint in post-interaction surveys.
CSAT_LATENT = {
    "search_landing": 3.9, "home_page": 4.0, "product_page": 4.1, "product_compare": 3.8,
    "reviews": 4.0, "cart": 3.9, "delivery_options": 3.5, "payment": 2.2,
    "order_confirmation": 4.3, "store_purchase": 4.2, "help_center": 3.6, "chat": 3.8,
    "support_call": 3.7, "order_tracking": 3.9, "returns": 3.4, "loyalty_rewards": 4.1,
}

# --------------------------------------------------------------------------------------------
# Journey chains: base transition probabilities and persona overrides (rows are renormalised).
# --------------------------------------------------------------------------------------------

_BASE_START = {"search_landing": 0.30, "home_page": 0.40, "product_page": 0.13,
               "store_purchase": 0.10, "order_tracking": 0.05, "help_center": 0.02}
_BASE = {
    "search_landing": {"product_page": 0.60, "home_page": 0.20, "END": 0.20},
    "email_click": {"product_page": 0.55, "home_page": 0.30, "END": 0.15},
    "home_page": {"product_page": 0.55, "help_center": 0.08, "order_tracking": 0.07,
                  "loyalty_rewards": 0.05, "END": 0.25},
    "product_page": {"product_page": 0.10, "product_compare": 0.12, "reviews": 0.13,
                     "cart": 0.38, "help_center": 0.02, "END": 0.25},
    "product_compare": {"product_page": 0.35, "cart": 0.35, "END": 0.30},
    "reviews": {"product_page": 0.30, "cart": 0.40, "END": 0.30},
    "cart": {"delivery_options": 0.73, "product_page": 0.07, "END": 0.20},
    # the planted loop: delivery costs appear late, customers go back to the basket
    "delivery_options": {"payment": 0.52, "cart": 0.33, "END": 0.15},
    # the planted pain point: payment fails or confuses, many leave
    "payment": {"order_confirmation": 0.42, "help_center": 0.10, "END": 0.48},
    "order_confirmation": {"END": 1.0},
    "store_purchase": {"END": 1.0},
    "help_center": {"support_call": 0.30, "chat": 0.15, "payment": 0.10, "END": 0.45},
    "chat": {"payment": 0.20, "END": 0.80},
    "support_call": {"payment": 0.15, "order_tracking": 0.10, "END": 0.75},
    "order_tracking": {"help_center": 0.25, "returns": 0.10, "END": 0.65},
    "returns": {"help_center": 0.20, "END": 0.80},
    "loyalty_rewards": {"product_page": 0.40, "END": 0.60},
}


@dataclass(frozen=True)
class Persona:
    """A planted customer type: how often they come, where they go, what they spend."""

    name: str
    share: float  # share of registered customers
    journeys_mean: float  # organic journeys per person over the window
    app_share: float  # share of their digital journeys in the app (if they have the app)
    has_app: float  # probability of having the app
    email_open: float
    email_click: float  # click probability given an open
    basket_mean: float  # mean order value, GBP
    satisfaction_shift: float  # added to latent satisfaction
    start: dict[str, float]
    overrides: dict[str, dict[str, float]]
    tier_probs: tuple[float, float, float]  # Bronze, Silver, Gold


PERSONAS: tuple[Persona, ...] = (
    Persona("deal_seeker", 0.30, 5.0, 0.25, 0.35, 0.45, 0.30, 35.0, 0.0,
            {"search_landing": 0.40, "home_page": 0.30, "product_page": 0.20,
             "store_purchase": 0.05, "order_tracking": 0.05},
            {"product_page": {"product_page": 0.12, "product_compare": 0.25, "reviews": 0.18,
                              "cart": 0.22, "END": 0.23},
             "cart": {"delivery_options": 0.65, "product_page": 0.05, "END": 0.30}},
            (0.6, 0.3, 0.1)),
    Persona("loyal_regular", 0.25, 7.0, 0.75, 0.85, 0.35, 0.20, 90.0, 0.5,
            {"home_page": 0.55, "product_page": 0.20, "store_purchase": 0.15,
             "loyalty_rewards": 0.07, "order_tracking": 0.03},
            {"home_page": {"product_page": 0.60, "loyalty_rewards": 0.15, "order_tracking": 0.05,
                           "END": 0.20},
             "product_page": {"product_page": 0.08, "product_compare": 0.04, "reviews": 0.05,
                              "cart": 0.63, "END": 0.20},
             "payment": {"order_confirmation": 0.60, "help_center": 0.07, "END": 0.33}},
            (0.1, 0.3, 0.6)),
    Persona("service_dependent", 0.20, 4.0, 0.20, 0.30, 0.20, 0.15, 50.0, -0.6,
            {"help_center": 0.35, "order_tracking": 0.25, "home_page": 0.20,
             "search_landing": 0.10, "product_page": 0.05, "store_purchase": 0.05},
            {"help_center": {"support_call": 0.50, "chat": 0.20, "payment": 0.05, "END": 0.25},
             "order_tracking": {"help_center": 0.50, "returns": 0.25, "END": 0.25},
             "home_page": {"product_page": 0.30, "help_center": 0.40, "order_tracking": 0.10,
                           "END": 0.20}},
            (0.4, 0.4, 0.2)),
    Persona("casual_browser", 0.25, 2.0, 0.05, 0.05, 0.10, 0.10, 40.0, 0.1,
            {"search_landing": 0.55, "home_page": 0.35, "product_page": 0.10},
            {"product_page": {"product_page": 0.15, "product_compare": 0.05, "reviews": 0.10,
                              "cart": 0.15, "END": 0.55},
             "cart": {"delivery_options": 0.58, "END": 0.42}},
            (0.8, 0.15, 0.05)),
)
# Anonymous visitors never log in; they cannot check out without an account.
_ANONYMOUS = Persona("anonymous", 0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                     {"search_landing": 0.60, "home_page": 0.30, "product_page": 0.10},
                     {"home_page": {"product_page": 0.60, "help_center": 0.05, "END": 0.35},
                      "product_page": {"product_page": 0.15, "reviews": 0.10, "cart": 0.10,
                                       "END": 0.65},
                      "help_center": {"product_page": 0.20, "END": 0.80},
                      "cart": {"END": 1.0}},
                     (1.0, 0.0, 0.0))

# Planted parameters of the A/B pilot (payment-page redesign) and the store pilot.
AB_CONVERSION = {"control": 0.30, "treatment": 0.34}
AB_CSAT_PROBS = {"control": (0.10, 0.15, 0.25, 0.30, 0.20),
                 "treatment": (0.06, 0.10, 0.22, 0.34, 0.28)}
AB_NPS_GROUPS = {"control": (0.30, 0.40, 0.30), "treatment": (0.24, 0.40, 0.36)}  # det/pas/pro
AB_CONTACT_RATE = {"control": 0.08, "treatment": 0.06}  # support contacts per session
AB_CHECKOUT_MEAN_S = {"control": 300.0, "treatment": 240.0}  # exponential: hazard ratio 1.25
AB_CHECKOUT_CENSOR_S = 900.0
AB_BASKET_MEAN = 60.0
AB_SALT = "payment-redesign-2026"
STORE_EFFECT = {"sales": 6.0, "footfall": 0.0}
PLACEHOLDER_EMAIL = "noemail@example.com"
PLACEHOLDER_PHONE = "00000000000"
APP_SHIFT_WEEK = 20  # app release 5.2.0 breaks payment from this week (0-based)
APP_SHIFT_PAYMENT = {"order_confirmation": 0.27, "help_center": 0.10, "END": 0.63}

_FIRST_EN = ["Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Noah",
             "Emily", "Leo", "Sophia", "Oscar", "Grace", "Arthur", "Lily", "Henry", "Freya",
             "Charlie", "Ella", "Thomas", "Chloe", "James", "Ruby", "William", "Evie"]
_LAST_EN = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
            "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
            "Hall", "Wood", "Jackson", "Clarke"]
_LAST_ZH = [("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
            ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou")]
_FIRST_ZH = [("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"),
             ("磊", "lei"), ("洋", "yang"), ("艳", "yan"), ("勇", "yong"), ("军", "jun"),
             ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming")]
_DOMAINS = ["gmail.com", "outlook.com", "yahoo.co.uk", "btinternet.com", "icloud.com"]
_DOMAINS_CN = ["qq.com", "163.com", "126.com", "sina.com"]
_REGIONS_GB = ["London", "South East", "North West", "Midlands", "Scotland"]
_REGIONS_CN = ["Shanghai", "Beijing", "Shenzhen"]

# Comment templates: (touchpoint or "*", polarity) -> texts. Polarity from the CSAT score.
_COMMENTS_EN = {
    ("payment", "neg"): ["Payment failed twice before it went through",
                         "The card payment page kept timing out",
                         "My card was declined at checkout for no reason",
                         "Payment page is confusing and slow",
                         "3D Secure verification failed again, very frustrating",
                         "Could not pay with my card, had to give up"],
    ("payment", "pos"): ["Paying was quick and easy", "Smooth payment, no problems"],
    ("delivery_options", "neg"): ["Delivery costs only shown at the very end",
                                  "Had to go back to the basket to change delivery",
                                  "Delivery options are confusing"],
    ("support_call", "neg"): ["Waited forty minutes on hold",
                              "Had to explain my problem three times",
                              "The call centre could not fix my issue"],
    ("support_call", "pos"): ["The agent solved my problem quickly",
                              "Very helpful and friendly support staff"],
    ("returns", "neg"): ["Returning an item was a hassle", "Refund took far too long"],
    ("*", "neg"): ["The website was slow", "Hard to find what I was looking for",
                   "Not happy with the experience", "Too many steps, annoying"],
    ("*", "neu"): ["It was okay", "Nothing special", "Average experience"],
    ("*", "pos"): ["Great experience overall", "Easy to find what I needed",
                   "Fast and friendly service", "Love the new app", "Really good, thank you"],
}
_COMMENTS_ZH = {
    ("payment", "neg"): ["支付失败了两次", "付款页面一直超时", "银行卡支付总是被拒绝",
                         "支付页面很卡，体验很差", "收不到验证码，无法付款"],
    ("payment", "pos"): ["付款很顺利", "支付很方便"],
    ("delivery_options", "neg"): ["运费到最后才显示", "配送选项不清楚"],
    ("support_call", "neg"): ["客服电话等了很久", "问题说了三遍也没解决"],
    ("support_call", "pos"): ["客服很耐心，问题解决了", "客服态度很好"],
    ("returns", "neg"): ["退货太麻烦了", "退款太慢"],
    ("*", "neg"): ["网站太慢了", "找不到想要的商品", "体验很差，不满意"],
    ("*", "neu"): ["还可以", "一般般"],
    ("*", "pos"): ["整体体验很好", "很方便，会再来", "服务很好", "非常满意"],
}
_COMMENTS_ES = {"neg": ["El pago falló dos veces", "Muy mala experiencia"],
                "neu": ["Normal, nada especial"],
                "pos": ["Muy buen servicio", "Todo perfecto"]}


def _progress_noop(message: str) -> None:
    """Default progress callback: say nothing."""


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def make_sample(
    out_dir: str | Path,
    *,
    n_customers: int = 20_000,
    seed: int = 42,
    start: str = "2026-01-05",
    weeks: int = 26,
    truth_tables: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write a raw multi-channel sample into ``out_dir`` and return its ground truth.

    ``n_customers`` is the number of real people (registered customers, anonymous web
    visitors and people seen only on social media); a correct identity stitching finds
    exactly this many customers. The same ``seed`` gives byte-identical files.

    The returned dict (also written to ``ground_truth.json``) holds, among others:
    ``n_customers``, ``pain_point_touchpoint``, ``loop`` (two touchpoints), ``churn_switch``
    (``from``/``to`` channel and the planted churn probabilities), ``ab_lift`` (per metric:
    control, treatment and difference of the population values), ``store_effect``,
    ``key_driver``, ``personas``, ``dirty_rows`` (per file and reason),
    ``duplicates`` and ``files``.
    """
    check_scalar(n_customers, "n_customers", typ=int, ge=50)
    check_scalar(seed, "seed", typ=int, ge=0)
    check_scalar(weeks, "weeks", typ=int, ge=8)
    say = progress or _progress_noop
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = _Generator(n_customers=n_customers, seed=seed, start=pd.Timestamp(start, tz="UTC"),
                     weeks=weeks, out=out, say=say)
    truth = gen.run(truth_tables=truth_tables)
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    say(f"wrote ground_truth.json ({truth['n_customers']} customers, "
        f"{truth['n_events']} clean events)")
    return truth


# --------------------------------------------------------------------------------------------
# Implementation
# --------------------------------------------------------------------------------------------


class _Generator:
    def __init__(self, *, n_customers: int, seed: int, start: pd.Timestamp, weeks: int,
                 out: Path, say: Callable[[str], None]) -> None:
        self.n = n_customers
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.start = start
        self.weeks = weeks
        self.end = start + pd.Timedelta(weeks=weeks)
        self.out = out
        self.say = say
        self.dirty: dict[str, dict[str, int]] = {}
        self.duplicates: dict[str, Any] = {}

    # ---- people -------------------------------------------------------------------------

    def people(self) -> pd.DataFrame:
        rng, n = self.rng, self.n
        n_social_only = max(1, round(0.04 * n))
        n_anon = max(1, round(0.18 * n))
        n_reg = n - n_social_only - n_anon
        kind = np.array(["registered"] * n_reg + ["anonymous"] * n_anon
                        + ["social_only"] * n_social_only)
        p = pd.DataFrame({"person_id": [f"P{i:07d}" for i in range(n)], "kind": kind})
        shares = np.array([x.share for x in PERSONAS])
        persona = np.where(kind == "registered",
                           np.asarray([x.name for x in PERSONAS])[
                               rng.choice(len(PERSONAS), size=n, p=shares / shares.sum())],
                           np.where(kind == "anonymous", "anonymous", "social_only"))
        p["persona"] = persona
        reg = kind == "registered"
        # CRM ids are not in person order: exports never are.
        crm_numbers = 100_000 + rng.choice(40 * n, size=n, replace=False)
        p["crm_id"] = np.where(reg, [f"C{x:07d}" for x in crm_numbers], None)
        country = np.where(rng.random(n) < 0.2, "CN", "GB")
        p["country"] = country
        p["region"] = np.where(
            country == "CN",
            np.asarray(_REGIONS_CN)[rng.integers(0, len(_REGIONS_CN), n)],
            np.asarray(_REGIONS_GB)[rng.integers(0, len(_REGIONS_GB), n)])
        # names and contact details
        first, last, email_local = [], [], []
        fe, le_ = rng.integers(0, len(_FIRST_EN), n), rng.integers(0, len(_LAST_EN), n)
        fz, lz = rng.integers(0, len(_FIRST_ZH), n), rng.integers(0, len(_LAST_ZH), n)
        for i in range(n):
            if country[i] == "CN":
                first.append(_FIRST_ZH[fz[i]][0])
                last.append(_LAST_ZH[lz[i]][0])
                email_local.append(f"{_LAST_ZH[lz[i]][1]}{_FIRST_ZH[fz[i]][1]}{i}")
            else:
                first.append(_FIRST_EN[fe[i]])
                last.append(_LAST_EN[le_[i]])
                email_local.append(f"{_FIRST_EN[fe[i]].lower()}.{_LAST_EN[le_[i]].lower()}{i}")
        p["first_name"], p["last_name"] = first, last
        dom = np.where(country == "CN",
                       np.asarray(_DOMAINS_CN)[rng.integers(0, len(_DOMAINS_CN), n)],
                       np.asarray(_DOMAINS)[rng.integers(0, len(_DOMAINS), n)])
        u = rng.random(n)
        email = np.array([f"{a}@{d}" for a, d in zip(email_local, dom, strict=True)], dtype=object)
        email[~reg | (u < 0.04)] = None  # 4% of registered customers gave no e-mail
        junk = reg & (u >= 0.04) & (u < 0.05)  # 1% typed the CRM placeholder
        email[junk] = PLACEHOLDER_EMAIL
        p["email"] = email
        p["email_placeholder"] = junk
        # phones: unique mobile numbers in E.164
        numbers = 10**8 + rng.choice(9 * 10**8, size=n, replace=False)
        e164 = np.where(country == "CN",
                        [f"+86138{x % 10**8:08d}" for x in numbers],
                        [f"+447{x:09d}" for x in numbers])
        v = rng.random(n)
        phone = e164.astype(object)
        phone[~reg | (v < 0.12)] = None
        pjunk = reg & (v >= 0.12) & (v < 0.13)
        phone[pjunk] = PLACEHOLDER_PHONE
        p["phone_e164"] = phone
        p["phone_placeholder"] = pjunk
        personas = {x.name: x for x in (*PERSONAS, _ANONYMOUS)}
        has_app = np.array([rng.random() < personas[x].has_app if x in personas else False
                            for x in persona])
        p["device_id"] = np.where(has_app & reg,
                                  [f"dev-{x:012x}" for x in rng.integers(0, 2**48, n)], None)
        p["n_cookies"] = np.where(reg, 1 + rng.binomial(2, 0.3, n), np.where(kind == "anonymous",
                                                                            1, 0))
        tiers = np.array(["Bronze", "Silver", "Gold"])
        p["tier"] = [tiers[rng.choice(3, p=personas[x].tier_probs)] if x in personas else None
                     for x in persona]
        p.loc[~reg, "tier"] = None
        handle = rng.random(n) < 0.10
        p["social_handle"] = np.where(handle & reg | (kind == "social_only"),
                                      [f"@{a.split('.')[0][:10]}_{i}" for i, a in
                                       enumerate(email_local)], None)
        p["opt_in"] = reg & (rng.random(n) < 0.75) & (p["email"].notna()) & ~junk
        joined_days = rng.integers(30, 6 * 365, n)
        p["date_joined"] = (self.start - pd.to_timedelta(joined_days, unit="D")).normalize()
        return p

    # ---- journeys -----------------------------------------------------------------------

    def _chain(self, persona: Persona, shifted: bool) -> tuple[np.ndarray, np.ndarray]:
        size = END + 1
        mat = np.zeros((size, size))
        rows = {**_BASE, **persona.overrides}
        if shifted:
            rows = {**rows, "payment": APP_SHIFT_PAYMENT}
        for state, nxt in rows.items():
            for target, prob in nxt.items():
                mat[_S[state], END if target == "END" else _S[target]] = prob
        mat[END, END] = 1.0
        mat /= mat.sum(axis=1, keepdims=True)
        start = np.zeros(size)
        for state, prob in persona.start.items():
            start[_S[state]] = prob
        return mat, start / start.sum()

    def journeys(self, people: pd.DataFrame, email_clicks: pd.DataFrame) -> pd.DataFrame:
        """One row per journey: person, start time, device, chain, first state."""
        rng = self.rng
        personas = {x.name: x for x in (*PERSONAS, _ANONYMOUS)}
        active = people[people["kind"] != "social_only"]
        means = active["persona"].map(lambda x: personas[x].journeys_mean).to_numpy()
        counts = rng.poisson(means)
        counts = np.maximum(counts, 1)  # everyone in the data has at least one journey
        person = np.repeat(active["person_id"].to_numpy(), counts)
        span = (self.end - self.start).total_seconds()
        # evening-heavy time of day
        day = rng.integers(0, self.weeks * 7, person.size)
        hour = np.clip(rng.normal(17, 4, person.size), 0, 23.99)
        start = self.start + pd.to_timedelta(day * 86400 + hour * 3600, unit="s")
        j = pd.DataFrame({"person_id": person, "start": start, "entry": None})
        if len(email_clicks):
            j = pd.concat([j, pd.DataFrame({"person_id": email_clicks["person_id"],
                                            "start": email_clicks["time"],
                                            "entry": "email_click"})], ignore_index=True)
        j = j[j["start"] < self.start + pd.Timedelta(seconds=span)]
        info = people.set_index("person_id")
        j["persona"] = info.loc[j["person_id"], "persona"].to_numpy()
        has_app = info.loc[j["person_id"], "device_id"].notna().to_numpy()
        app_share = j["persona"].map(lambda x: personas[x].app_share).to_numpy()
        j["device"] = np.where(has_app & (rng.random(len(j)) < app_share), "app", "web")
        j = j.sort_values(["start", "person_id"], kind="stable").reset_index(drop=True)
        j["journey_id"] = np.arange(len(j))
        return j

    def walk(self, j: pd.DataFrame) -> pd.DataFrame:
        """Simulate every journey at once through its persona's Markov chain."""
        rng = self.rng
        names = [x.name for x in (*PERSONAS, _ANONYMOUS)]
        chains, starts = [], []
        for persona in (*PERSONAS, _ANONYMOUS):
            for shifted in (False, True):
                m, s = self._chain(persona, shifted)
                chains.append(m)
                starts.append(s)
        P = np.stack(chains)
        S0 = np.stack(starts)
        shift_time = self.start + pd.Timedelta(weeks=APP_SHIFT_WEEK)
        shifted = ((j["device"] == "app") & (j["start"] >= shift_time)).to_numpy()
        chain = np.array([names.index(x) for x in j["persona"]]) * 2 + shifted
        n = len(j)
        first = (S0[chain].cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1)
        first = np.where(j["entry"].to_numpy() == "email_click", _S["email_click"], first)
        max_steps = 40
        states = np.full((n, max_steps), -1, dtype=np.int16)
        states[:, 0] = first
        cur = first.copy()
        alive = np.ones(n, dtype=bool)
        for step in range(1, max_steps):
            idx = np.flatnonzero(alive)
            if idx.size == 0:
                break
            cum = P[chain[idx], cur[idx]].cumsum(axis=1)
            nxt = np.minimum((rng.random(idx.size)[:, None] > cum).sum(axis=1), END)
            cont = nxt != END
            states[idx[cont], step] = nxt[cont]
            cur[idx] = nxt
            alive[idx[~cont]] = False
        jj, step = np.nonzero(states >= 0)
        ev = pd.DataFrame({"journey_id": jj, "step": step,
                           "touchpoint": np.asarray(STATES)[states[jj, step]]})
        ev = ev.merge(j[["journey_id", "person_id", "start", "device", "persona"]],
                      on="journey_id", how="left")
        # search landings come from a browser; in the app the same visit opens the home screen
        app = ev["device"] == "app"
        ev.loc[app & (ev["touchpoint"] == "search_landing"), "touchpoint"] = "home_page"
        channel = ev["device"].to_numpy().astype(object)
        tp = ev["touchpoint"].to_numpy()
        channel[tp == "support_call"] = "call_center"
        channel[tp == "chat"] = "chat"
        channel[tp == "email_click"] = "email"
        channel[tp == "store_purchase"] = "store"
        ev["channel"] = channel
        # times: dwell, think time, and long gaps around contact-centre contacts
        med = ev["touchpoint"].map(DWELL_MEDIAN_S).to_numpy(dtype=float)
        dwell = np.round(med * np.exp(rng.normal(0, 0.6, len(ev))), 1)
        payment_app_shift = (ev["touchpoint"] == "payment") & app & (ev["start"] >= shift_time)
        dwell[payment_app_shift.to_numpy()] *= 1.4
        prev_channel = pd.Series(channel).groupby(ev["journey_id"]).shift(1)
        contact = np.isin(channel, ["call_center", "chat"])
        back = prev_channel.isin(["call_center", "chat"]).to_numpy() & ~contact
        gap = rng.exponential(8.0, len(ev))
        gap = np.where(contact, rng.exponential(20 * 60, len(ev)), gap)
        gap = np.where(back, rng.exponential(30 * 60, len(ev)), gap)
        gap[ev["step"].to_numpy() == 0] = 0.0
        prev_dwell = pd.Series(dwell).groupby(ev["journey_id"]).shift(1).fillna(0).to_numpy()
        offset = pd.Series(prev_dwell + gap).groupby(ev["journey_id"]).cumsum().to_numpy()
        ev["event_time"] = (ev["start"] + pd.to_timedelta(np.round(offset, 3), unit="s")
                            ).dt.floor("ms")
        ev["duration_s"] = np.where(np.isin(tp, ["email_click"]), np.nan, dwell)
        personas = {x.name: x for x in (*PERSONAS, _ANONYMOUS)}
        basket = ev["persona"].map(lambda x: personas[x].basket_mean).to_numpy(dtype=float)
        conv = np.isin(tp, CONVERSION_TOUCHPOINTS)
        value = np.round(rng.gamma(3.0, basket / 3.0), 2)
        ev["value"] = np.where(conv, value, np.nan)
        return ev

    # ---- email campaigns ----------------------------------------------------------------

    def campaigns(self, people: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng = self.rng
        personas = {x.name: x for x in PERSONAS}
        subs = people[people["opt_in"]]
        rows = []
        for c in range(self.weeks // 2):
            send = self.start + pd.Timedelta(days=14 * c + 1, hours=9)
            k = len(subs)
            sent = send + pd.to_timedelta(rng.integers(0, 3600, k), unit="s")
            p_open = subs["persona"].map(lambda x: personas[x].email_open).to_numpy()
            p_click = subs["persona"].map(lambda x: personas[x].email_click).to_numpy()
            opened = rng.random(k) < p_open
            clicked = opened & (rng.random(k) < p_click)
            open_t = sent + pd.to_timedelta(rng.exponential(6 * 3600, k), unit="s")
            click_t = open_t + pd.to_timedelta(rng.exponential(60, k) + 2, unit="s")
            camp = f"CMP-{send:%Y%m%d}"
            base = {"person_id": subs["person_id"].to_numpy(), "campaign": camp}
            rows.append(pd.DataFrame({**base, "event": "send", "time": sent}))
            rows.append(pd.DataFrame({**base, "event": "open", "time": open_t})[opened])
            rows.append(pd.DataFrame({**base, "event": "click", "time": click_t})[clicked])
        em = pd.concat(rows, ignore_index=True)
        em["time"] = em["time"].dt.floor("s")
        em = em[em["time"] < self.end].reset_index(drop=True)
        clicks = em[em["event"] == "click"][["person_id", "time", "campaign"]]
        return em, clicks

    # ---- churn --------------------------------------------------------------------------

    def churn(self, j: pd.DataFrame, ev: pd.DataFrame, people: pd.DataFrame
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
        """Customers may churn after a journey; web->call-centre journeys raise the hazard."""
        rng = self.rng
        called = ev.loc[ev["touchpoint"] == "support_call", "journey_id"].unique()
        j = j.copy()
        j["switch"] = (j["device"] == "web") & j["journey_id"].isin(called)
        reg = set(people.loc[people["kind"] == "registered", "person_id"])
        j["registered"] = j["person_id"].isin(reg)
        hazard = np.where(j["switch"], _CHURN_HAZARD_SWITCH, _CHURN_HAZARD_OTHER)
        j["churn_here"] = j["registered"] & (rng.random(len(j)) < hazard)
        j = j.sort_values(["person_id", "start", "journey_id"]).reset_index(drop=True)
        # first churning journey per person; journeys after it never happen
        first_churn = j[j["churn_here"]].groupby("person_id")["start"].min()
        cutoff = j["person_id"].map(first_churn)
        keep = cutoff.isna() | (j["start"] <= cutoff)
        j = j[keep].reset_index(drop=True)
        ev = ev[ev["journey_id"].isin(j["journey_id"])].reset_index(drop=True)
        last_time = ev.groupby("journey_id")["event_time"].max()
        churn_journey = j[j["churn_here"] & j["person_id"].map(first_churn).eq(j["start"])]
        churn_journey = churn_journey.drop_duplicates("person_id")
        churn_date = (churn_journey.set_index("person_id")["journey_id"].map(last_time)
                      + pd.Timedelta(days=1)).dt.normalize()
        return j, ev, churn_date

    # ---- main ---------------------------------------------------------------------------

    def run(self, *, truth_tables: bool) -> dict[str, Any]:
        say, rng = self.say, self.rng
        people = self.people()
        say(f"people: {len(people)}")
        emails, clicks = self.campaigns(people)
        j = self.journeys(people, clicks)
        ev = self.walk(j)
        say(f"journeys: {len(j)}, journey events: {len(ev)}")
        j, ev, churn_date = self.churn(j, ev, people)
        people["churn_date"] = people["person_id"].map(churn_date)
        # an e-mail click whose journey was cut by churn never happened
        kept_clicks = ev[ev["touchpoint"] == "email_click"][["person_id", "event_time"]]
        click_key = set(zip(kept_clicks["person_id"], kept_clicks["event_time"].dt.floor("s"),
                            strict=True))
        is_click = emails["event"] == "click"
        emails = emails[~is_click | pd.Series(list(zip(emails["person_id"], emails["time"],
                                                       strict=True)),
                                              index=emails.index).isin(click_key)]
        ev = ev.sort_values(["person_id", "event_time", "journey_id", "step"],
                            kind="stable").reset_index(drop=True)
        ev["order_id"] = None
        conv = ev["touchpoint"].isin(CONVERSION_TOUCHPOINTS).to_numpy()
        ev.loc[conv, "order_id"] = [f"O{k:08d}" for k in
                                    10**7 + rng.choice(9 * 10**7, conv.sum(), replace=False)]
        files: dict[str, str] = {}
        writers = [
            ("crm_customers.csv", self.write_crm_customers),
            ("crm_orders.csv", self.write_orders),
            ("web_clickstream.csv", self.write_web),
            ("app_events.csv", self.write_app),
            ("contact_center.csv", self.write_contacts),
        ]
        for name, fn in writers:
            files[name] = fn(people, ev, name)
            say(f"wrote {name}")
        files["email_events.jsonl"] = self.write_email(people, emails, "email_events.jsonl")
        survey_truth = self.write_surveys(people, ev)
        files.update(survey_truth.pop("files"))
        driver_truth = self.write_relationship_survey(people, "relationship_survey.csv")
        files["relationship_survey.csv"] = "relationship survey (wide, one row per respondent)"
        bench_truth = self.write_benchmark("market_benchmark.csv")
        files["market_benchmark.csv"] = "market survey with a brand column (ours vs competitors)"
        files["social_posts.jsonl"] = self.write_social(people, "social_posts.jsonl")
        files["interviews/"] = self.write_interviews(people)
        say("wrote surveys, social posts and interviews")
        ab_truth = self.write_ab_pilot(people, "pilot/ab_units.csv")
        files["pilot/ab_units.csv"] = "A/B pilot of the payment redesign, one row per customer"
        store_truth = self.write_store_panel("pilot/store_panel.csv")
        files["pilot/store_panel.csv"] = "store pilot panel, one row per store and week"
        say("wrote pilot data")

        events_truth = self.truth_events(ev, emails)
        reg = people["kind"] == "registered"
        switchers = set(j.loc[j["switch"], "person_id"])
        churned = people["churn_date"].notna()
        is_switch = people["person_id"].isin(switchers)
        loops = self.count_loops(ev)
        pay = ev[ev["touchpoint"] == "payment"]
        nxt = ev.groupby("journey_id")["touchpoint"].shift(-1)
        pay_exit = nxt.loc[pay.index].isna().mean()
        truth: dict[str, Any] = {
            "generator": "cjmlib.sample.generator.make_sample",
            "seed": self.seed,
            "window": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "n_customers": int(self.n),
            "n_registered": int(reg.sum()),
            "n_anonymous": int((people["kind"] == "anonymous").sum()),
            "n_social_only": int((people["kind"] == "social_only").sum()),
            "n_events": int(len(events_truth)),
            "n_journeys": int(len(j)),
            "touchpoints": TOUCHPOINT_STAGE,
            "conversion_touchpoints": list(CONVERSION_TOUCHPOINTS),
            "pain_point_touchpoint": PAIN_POINT,
            "pain_point": {
                "touchpoint": PAIN_POINT,
                "exit_probability": _BASE["payment"]["END"],
                "realised_exit_share": round(float(pay_exit), 4),
                "csat_latent_mean": CSAT_LATENT[PAIN_POINT],
                "next_lowest_csat_latent": sorted(CSAT_LATENT.values())[1],
                "themes": ["payment failed", "card declined", "timing out", "支付失败"],
            },
            "loop": list(LOOP),
            "loop_detail": {"back_probability": _BASE["delivery_options"]["cart"],
                            "journeys_with_loop": int(loops)},
            "churn_switch": {
                "from": CHURN_SWITCH[0], "to": CHURN_SWITCH[1],
                "hazard_per_journey_switch": _CHURN_HAZARD_SWITCH,
                "hazard_per_journey_other": _CHURN_HAZARD_OTHER,
                "customers_switching": int((is_switch & reg).sum()),
                "churn_rate_switching": round(float(churned[is_switch & reg].mean()), 4),
                "churn_rate_not_switching": round(float(churned[~is_switch & reg].mean()), 4),
                "churn_column": "status (crm_customers.csv): 'churned'",
            },
            "key_driver": driver_truth,
            "personas": {
                "names": [x.name for x in PERSONAS],
                "shares": {x.name: x.share for x in PERSONAS},
                "counts": people.loc[reg, "persona"].value_counts().sort_index().to_dict(),
                "labels_file": "ground_truth/persons.csv (crm_id, persona)",
            },
            "ab_lift": ab_truth,
            "store_effect": store_truth,
            "benchmark": bench_truth,
            "kpi_shift": {
                "touchpoint": PAIN_POINT, "channel": "app", "metric": "exit_rate",
                "start": (self.start + pd.Timedelta(weeks=APP_SHIFT_WEEK)).isoformat(),
                "app_version": "5.2.0",
                "exit_probability_before": _BASE["payment"]["END"],
                "exit_probability_after": APP_SHIFT_PAYMENT["END"],
            },
            "identity": {
                "placeholder_identifiers": [PLACEHOLDER_EMAIL, PLACEHOLDER_PHONE],
                "customers_with_placeholder_email": int(people["email_placeholder"].sum()),
                "customers_with_placeholder_phone": int(people["phone_placeholder"].sum()),
                "note": "e-mails differ in case and spaces between sources, phones in format; "
                        "normalise both and ignore the placeholders to stitch exactly "
                        "n_customers customers",
            },
            **survey_truth,
            "dirty_rows": self.dirty,
            "duplicates": self.duplicates,
            "files": files,
        }
        if truth_tables:
            gt = self.out / "ground_truth"
            gt.mkdir(exist_ok=True)
            cols = ["person_id", "kind", "persona", "crm_id", "country", "region", "tier",
                    "churn_date"]
            people[cols].assign(switched=people["person_id"].isin(switchers)).to_csv(
                gt / "persons.csv", index=False)
            events_truth.to_parquet(gt / "events.parquet", index=False)
        return truth

    # ---- helpers for writers ------------------------------------------------------------

    def count_loops(self, ev: pd.DataFrame) -> int:
        tp = ev["touchpoint"]
        g = ev.groupby("journey_id")["touchpoint"]
        a, b = g.shift(1), g.shift(2)
        hit = (b == LOOP[0]) & (a == LOOP[1]) & (tp == LOOP[0])
        return int(ev.loc[hit, "journey_id"].nunique())

    def truth_events(self, ev: pd.DataFrame, emails: pd.DataFrame) -> pd.DataFrame:
        em = emails[emails["event"] != "click"].copy()
        em = pd.DataFrame({
            "person_id": em["person_id"], "event_time": em["time"], "channel": "email",
            "touchpoint": em["event"].map({"send": "email_sent", "open": "email_open"}),
            "duration_s": np.nan, "value": np.nan, "journey_id": -1})
        cols = ["person_id", "event_time", "channel", "touchpoint", "duration_s", "value",
                "journey_id"]
        out = pd.concat([ev[cols], em[cols]], ignore_index=True)
        out["stage"] = out["touchpoint"].map(TOUCHPOINT_STAGE)
        out["event_time"] = out["event_time"].astype("datetime64[us, UTC]")
        return out.sort_values(["person_id", "event_time", "touchpoint"],
                               kind="stable").reset_index(drop=True)

    def _cookies(self, people: pd.DataFrame, ev: pd.DataFrame) -> pd.Series:
        """Cookie per web event: a person's journeys spread over their cookies."""
        info = people.set_index("person_id")
        n_cookies = ev["person_id"].map(info["n_cookies"]).fillna(1).astype(int).to_numpy()
        k = (ev["journey_id"].to_numpy() * 7919) % np.maximum(n_cookies, 1)
        pid_num = ev["person_id"].str[1:].astype(int).to_numpy()
        return pd.Series([f"GA1.2.{(p * 104729 + c * 7) % 10**9:09d}.{1600000000 + p}"
                          for p, c in zip(pid_num, k, strict=True)], index=ev.index)

    def _mark_dirty(self, file: str, reason: str, count: int) -> None:
        if count:
            self.dirty.setdefault(file, {})[reason] = int(count)

    def _inject(self, df: pd.DataFrame, file: str, corruptions: dict[str, Callable]
                ) -> pd.DataFrame:
        """Append corrupted copies of random clean rows, one problem per row."""
        rng = self.rng
        extra = []
        for reason, fn in corruptions.items():
            k = max(3, round(0.002 * len(df)))
            rows = df.iloc[rng.choice(len(df), size=k, replace=False)].copy()
            extra.append(fn(rows))
            self._mark_dirty(file, reason, k)
        out = pd.concat([df, *extra], ignore_index=True)
        # dirty rows sit where they were exported, not at the end
        return out.iloc[rng.permutation(len(out))].reset_index(drop=True)

    def _exact_duplicates(self, df: pd.DataFrame, file: str, share: float) -> pd.DataFrame:
        k = max(3, round(share * len(df)))
        dup = df.iloc[self.rng.choice(len(df), size=k, replace=False)]
        self.duplicates.setdefault("exact", {})[file] = int(k)
        out = pd.concat([df, dup], ignore_index=True)
        return out.iloc[self.rng.permutation(len(out))].reset_index(drop=True)

    # ---- writers ------------------------------------------------------------------------

    def write_crm_customers(self, people: pd.DataFrame, ev: pd.DataFrame, name: str) -> str:
        rng = self.rng
        c = people[people["kind"] == "registered"].copy()
        email = c["email"].astype(object)
        # CRM agents type e-mails with capitals and stray spaces
        shout = rng.random(len(c)) < 0.3
        email = np.where(shout & email.notna() & (email != PLACEHOLDER_EMAIL),
                         email.str.title(), email)
        email = np.where((rng.random(len(c)) < 0.05) & pd.notna(email),
                         pd.Series(email).astype(str) + " ", email)
        phone = c["phone_e164"].map(_format_phone_crm)
        df = pd.DataFrame({
            "customer_no": c["crm_id"], "first_name": c["first_name"],
            "last_name": c["last_name"], "email": email, "phone": phone,
            "date_joined": c["date_joined"].dt.strftime("%d/%m/%Y"),
            "tier": c["tier"], "region": c["region"], "country": c["country"],
            "status": np.where(c["churn_date"].notna(), "churned", "active"),
            "churn_date": c["churn_date"].dt.strftime("%Y-%m-%d"),
            "marketing_opt_in": np.where(c["opt_in"], "Y", "N"),
        })
        df = df.iloc[rng.permutation(len(df))]
        df.to_csv(self.out / name, index=False)
        return "CRM customer master (e-mails and phones typed by agents, placeholders included)"

    def write_orders(self, people: pd.DataFrame, ev: pd.DataFrame, name: str) -> str:
        rng = self.rng
        o = ev[ev["order_id"].notna()].copy()
        crm = o["person_id"].map(people.set_index("person_id")["crm_id"])
        # the order system stamps the order shortly after the confirmation page
        lag = pd.to_timedelta(rng.integers(5, 90, len(o)), unit="s")
        local = (o["event_time"] + lag).dt.tz_convert("Europe/London")
        df = pd.DataFrame({
            "order_id": o["order_id"], "customer_no": crm,
            "order_ts": local.dt.strftime("%Y-%m-%d %H:%M:%S"),
            "channel": o["channel"],
            "store_id": np.where(o["channel"] == "store",
                                 [f"S{k:02d}" for k in rng.integers(1, 41, len(o))], ""),
            "amount_gbp": o["value"].map(lambda v: f"{v:.2f}"),
            "items": 1 + rng.poisson(1.2, len(o)),
        })
        online = (o["channel"] != "store").sum()
        self.duplicates["near"] = {
            "touchpoint": "order_confirmation", "count": int(online),
            "sources": ["crm_orders.csv", "web_clickstream.csv + app_events.csv"],
            "max_time_difference_s": 90,
            "note": "every online order appears as a 'purchase' event in web/app analytics "
                    "and as an order in the CRM, seconds apart",
        }
        df.sort_values("order_id").to_csv(self.out / name, index=False)
        return "CRM orders (local time Europe/London, amounts in GBP)"

    def write_web(self, people: pd.DataFrame, ev: pd.DataFrame, name: str) -> str:
        rng = self.rng
        w = ev[(ev["channel"] == "web")].copy()
        w["cookie_id"] = self._cookies(people, w)
        crm = w["person_id"].map(people.set_index("person_id")["crm_id"])
        # sessions: a new one after 30 minutes of inactivity (as the analytics tool does)
        gap = w.groupby("person_id")["event_time"].diff().dt.total_seconds()
        new = gap.isna() | (gap > 1800) | (w["cookie_id"] != w["cookie_id"].shift())
        sess_no = new.cumsum()
        # logged in for a whole session with probability 0.55; checkout requires login;
        # the first session of every cookie of a registered customer is logged in, so every
        # cookie can be linked to its customer
        sess_login = pd.Series(rng.random(sess_no.max() + 1) < 0.55)
        logged = sess_no.map(sess_login).to_numpy()
        needs = w["touchpoint"].isin(["payment", "order_confirmation", "order_tracking",
                                      "returns", "loyalty_rewards"])
        sess_needs = needs.groupby(sess_no).transform("any").to_numpy()
        first_sess = sess_no == sess_no.groupby(w["cookie_id"]).transform("min")
        logged = (logged | sess_needs | first_sess.to_numpy()) & crm.notna().to_numpy()
        pid = w["person_id"].str[1:].astype(int).to_numpy()
        prod = (pid * 31 + w["step"].to_numpy() * 17) % 5000
        path = [WEB_PATH[t].format(f"SKU{p:05d}") if "{}" in WEB_PATH[t] else WEB_PATH[t]
                for t, p in zip(w["touchpoint"], prod, strict=True)]
        path = [p.replace("/help/SKU", "/help/article-") for p in path]
        ref = np.where(w["touchpoint"] == "search_landing", "https://www.google.com/", "")
        from_email = w["journey_id"].isin(ev.loc[ev["touchpoint"] == "email_click", "journey_id"])
        ref = np.where(from_email & (w["step"] == 1), "utm_source=newsletter", ref)
        df = pd.DataFrame({
            "event_ts": w["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z",
            "cookie_id": w["cookie_id"],
            "user_id": np.where(logged, crm, ""),
            "session_id": [f"{c[-8:]}.{s}" for c, s in zip(w["cookie_id"], sess_no,
                                                               strict=True)],
            "event_name": w["touchpoint"].map(WEB_EVENT),
            "page_path": path,
            "referrer": ref,
            "dwell_ms": (w["duration_s"] * 1000).round().astype("Int64"),
            "order_id": w["order_id"].fillna(""),
        })

        def bad_time(r):
            r["event_ts"] = rng.choice(["N/A", "31/02/2026 25:00", "2026-13-45T10:00:00Z",
                                        "yesterday"], size=len(r))
            return r

        def no_id(r):
            r["cookie_id"], r["user_id"] = "", ""
            return r

        def negative(r):
            r["dwell_ms"] = -rng.integers(100, 5000, len(r))
            return r

        def unknown(r):
            r["event_name"] = "debug_ping"
            return r

        df = self._exact_duplicates(df, name, 0.003)
        df = self._inject(df, name, {"unparseable_time": bad_time, "missing_id": no_id,
                                     "negative_duration": negative,
                                     "unknown_touchpoint": unknown})
        df.to_csv(self.out / name, index=False)
        return "web analytics export (UTC ISO times, cookie ids, user_id when logged in)"

    def write_app(self, people: pd.DataFrame, ev: pd.DataFrame, name: str) -> str:
        rng = self.rng
        a = ev[ev["channel"] == "app"].copy()
        info = people.set_index("person_id")
        shift = self.start + pd.Timedelta(weeks=APP_SHIFT_WEEK)
        version = np.where(a["event_time"] >= shift, "5.2.0",
                           np.where(a["event_time"] >= self.start + pd.Timedelta(weeks=8),
                                    "5.1.3", "5.0.9"))
        df = pd.DataFrame({
            "device_id": a["person_id"].map(info["device_id"]),
            "user_id": a["person_id"].map(info["crm_id"]),
            "event_name": a["touchpoint"].map(APP_EVENT),
            "event_timestamp": (a["event_time"] - pd.Timestamp(0, tz="UTC"))
            // pd.Timedelta(milliseconds=1),
            "engagement_time_msec": (a["duration_s"] * 1000).round().astype("Int64"),
            "app_version": version,
            "platform": np.where(rng.random(len(a)) < 0.6, "iOS", "Android"),
            "order_id": a["order_id"].fillna(""),
        })

        def no_id(r):
            r["device_id"], r["user_id"] = "", ""
            return r

        def bad_time(r):
            r["event_timestamp"] = "-"
            return r

        df = self._exact_duplicates(df, name, 0.002)
        df = self._inject(df, name, {"missing_id": no_id, "unparseable_time": bad_time})
        df.to_csv(self.out / name, index=False)
        return "app SDK export (epoch milliseconds, device ids, always logged in)"

    def write_contacts(self, people: pd.DataFrame, ev: pd.DataFrame, name: str) -> str:
        rng = self.rng
        c = ev[ev["channel"].isin(["call_center", "chat"])].copy()
        info = people.set_index("person_id")
        phone = c["person_id"].map(info["phone_e164"])
        crm = c["person_id"].map(info["crm_id"])
        usable = phone.notna() & (phone != PLACEHOLDER_PHONE)
        is_call = c["channel"] == "call_center"
        # callers are identified by their number; the agent types the account number
        # only sometimes, and always when the number is unknown
        show_acct = (rng.random(len(c)) < 0.3) | ~usable | ~is_call
        local = c["event_time"].dt.tz_convert("Europe/London")
        queue = np.where(c["touchpoint"] == "support_call",
                         rng.choice(["payments", "delivery", "returns", "general"], len(c),
                                    p=[0.45, 0.25, 0.15, 0.15]), "web_chat")
        df = pd.DataFrame({
            "contact_id": [f"K{k:08d}" for k in 10**7 + rng.choice(9 * 10**7, len(c),
                                                                   replace=False)],
            "media": np.where(is_call, "voice", "chat"),
            "caller_number": np.where(is_call & usable,
                                      phone.map(lambda x: _format_phone_national(x, rng)
                                                if isinstance(x, str) else ""), ""),
            "account_no": np.where(show_acct, crm, ""),
            "contact_start": local.dt.strftime("%d/%m/%Y %H:%M:%S"),
            "duration_sec": c["duration_s"].round().astype(int),
            "queue": queue,
            "resolved": np.where(rng.random(len(c)) < 0.7, "Y", "N"),
        })

        def negative(r):
            r["duration_sec"] = -r["duration_sec"]
            return r

        def bad_time(r):
            r["contact_start"] = rng.choice(["32/01/2026 10:00:00", "00/00/0000 00:00:00"],
                                            size=len(r))
            return r

        df = self._inject(df, name, {"negative_duration": negative,
                                     "unparseable_time": bad_time})
        df.to_csv(self.out / name, index=False)
        return "contact-centre log: calls and chats (local time, day-first dates)"

    def write_email(self, people: pd.DataFrame, emails: pd.DataFrame, name: str) -> str:
        rng = self.rng
        info = people.set_index("person_id")
        addr = emails["person_id"].map(info["email"]).str.lower()
        lines = [json.dumps({"email": a, "campaign_id": c, "event": e,
                             "ts": t.strftime("%Y-%m-%dT%H:%M:%S+00:00")})
                 for a, c, e, t in zip(addr, emails["campaign"], emails["event"], emails["time"],
                                       strict=True)]
        k = max(3, round(0.001 * len(lines)))
        for pos in sorted(rng.choice(len(lines), size=k, replace=False), reverse=True):
            lines.insert(int(pos), lines[int(pos)][: len(lines[int(pos)]) // 2])  # cut-off line
        self._mark_dirty(name, "unparseable_record", k)
        (self.out / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        return "e-mail service provider events: send/open/click, one JSON object per line"

    def write_surveys(self, people: pd.DataFrame, ev: pd.DataFrame) -> dict[str, Any]:
        rng = self.rng
        info = people.set_index("person_id")
        personas = {x.name: x for x in (*PERSONAS, _ANONYMOUS)}
        last = ev[ev["channel"] != "email"].groupby("journey_id").tail(1)
        last = last[last["person_id"].map(info["kind"]) == "registered"]
        ended_at_payment = last["touchpoint"] == PAIN_POINT
        s = last[rng.random(len(last)) < 0.15].copy()
        s["response_time"] = (s["event_time"] + pd.to_timedelta(
            rng.uniform(0.2, 3.0, len(s)) * 86400, unit="s")).dt.floor("s")
        s = s[s["response_time"] < self.end]
        shift = s["person_id"].map(info["persona"]).map(
            lambda x: personas[x].satisfaction_shift).to_numpy()
        latent = (s["touchpoint"].map(CSAT_LATENT).to_numpy() + shift
                  - 0.4 * ended_at_payment.reindex(s.index).to_numpy()
                  + rng.normal(0, 0.8, len(s)))
        csat = np.clip(np.round(latent), 1, 5).astype(int)
        nps = np.clip(np.round(2.2 * (latent - 1) + rng.normal(0, 1.2, len(s))), 0, 10).astype(int)
        ces = np.clip(np.round(1 + 1.5 * (latent - 1) + rng.normal(0, 0.9, len(s))), 1, 7).astype(int)
        country = s["person_id"].map(info["country"]).to_numpy()
        polarity = np.where(csat <= 2, "neg", np.where(csat == 3, "neu", "pos"))
        has_comment = rng.random(len(s)) < 0.55
        spanish = rng.random(len(s)) < 0.04
        texts, langs = [], []
        for tp, pol, cn, com, es in zip(s["touchpoint"], polarity, country, has_comment, spanish,
                                        strict=True):
            if not com:
                texts.append("")
                langs.append("")
                continue
            if cn == "CN":
                bank, lang = _COMMENTS_ZH, "zh"
            elif es:
                texts.append(str(rng.choice(_COMMENTS_ES[pol])))
                langs.append("es")
                continue
            else:
                bank, lang = _COMMENTS_EN, "en"
            options = bank.get((tp, pol)) or bank[("*", pol)]
            if (tp, pol) in bank and rng.random() < 0.25:
                options = bank[("*", pol)]
            texts.append(str(rng.choice(options)))
            langs.append(lang)
        s["csat"], s["nps"], s["ces"], s["text"], s["lang"] = csat, nps, ces, texts, langs
        email = s["person_id"].map(info["email"])
        crm = s["person_id"].map(info["crm_id"])
        usable = email.notna() & (email != PLACEHOLDER_EMAIL)
        files = {}
        # --- global survey tool: UTF-8 with BOM, mixed time formats
        g = s[country == "GB"]
        gu = usable[country == "GB"]
        t = g["response_time"]
        iso = t.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        alt = t.dt.tz_convert("Europe/London").dt.strftime("%d %b %Y %H:%M:%S %z")
        mixed = np.where(rng.random(len(g)) < 0.3, alt, iso)
        e = g["person_id"].map(info["email"])
        e = np.where(gu & (rng.random(len(g)) < 0.2), e.str.upper(), e)
        gdf = pd.DataFrame({
            "response_id": [f"R_{k:09d}" for k in rng.choice(10**9, len(g), replace=False)],
            "respondent_email": np.where(gu, e, ""),
            "account_number": np.where(~gu | (rng.random(len(g)) < 0.2), crm[country == "GB"], ""),
            "submitted_at": mixed,
            "touchpoint": g["touchpoint"].map(SURVEY_LABEL_EN),
            "channel": g["channel"],
            "csat": g["csat"].astype(str),
            "nps": g["nps"].astype(str),
            "ces": g["ces"].astype(str),
            "comment": g["text"],
            "language": g["lang"],
        })

        def out_of_range(r):
            r["csat"] = rng.choice(["6", "0", "9"], size=len(r))
            return r

        def nps_range(r):
            r["nps"] = rng.choice(["11", "-1", "15"], size=len(r))
            return r

        gdf = self._inject(gdf, "surveys_global.csv", {"csat_out_of_range": out_of_range,
                                                      "nps_out_of_range": nps_range})
        gdf.to_csv(self.out / "surveys_global.csv", index=False, encoding="utf-8-sig")
        files["surveys_global.csv"] = "post-interaction survey (UTF-8 with BOM, mixed time formats)"
        # --- Chinese survey vendor: GB18030, Chinese headers, local Shanghai time
        c = s[country == "CN"]
        cu = usable[country == "CN"]
        cdf = pd.DataFrame({
            "答卷编号": [f"CN{k:08d}" for k in rng.choice(10**8, len(c), replace=False)],
            "客户邮箱": np.where(cu, c["person_id"].map(info["email"]), ""),
            "会员号": np.where(~cu, crm[country == "CN"], ""),
            "提交时间": c["response_time"].dt.tz_convert("Asia/Shanghai").dt.strftime(
                "%Y/%m/%d %H:%M"),
            "触点": c["touchpoint"].map(SURVEY_LABEL_ZH),
            "渠道": c["channel"],
            "满意度": c["csat"].astype(str),
            "推荐度": c["nps"].astype(str),
            "费力度": c["ces"].astype(str),
            "评论": c["text"],
        })

        def zh_range(r):
            r["满意度"] = "10"
            return r

        cdf = self._inject(cdf, "surveys_cn.csv", {"csat_out_of_range": zh_range})
        cdf.to_csv(self.out / "surveys_cn.csv", index=False, encoding="gb18030")
        files["surveys_cn.csv"] = "Chinese survey vendor export (GB18030, Chinese headers)"
        stats = s.groupby("touchpoint")["csat"].agg(["mean", "size"])
        return {
            "files": files,
            "survey_csat_by_touchpoint": {k: {"mean": round(float(v["mean"]), 3),
                                              "n": int(v["size"])}
                                          for k, v in stats.iterrows()},
            "languages": {"en": "English", "zh": "Chinese",
                          "es": "Spanish (no built-in scorer: must stay unscored)"},
        }

    def write_relationship_survey(self, people: pd.DataFrame, name: str) -> dict[str, Any]:
        """Quarterly relationship survey: item satisfactions drive overall NPS (key driver)."""
        rng = self.rng
        reg = people[people["kind"] == "registered"]
        r = reg[rng.random(len(reg)) < 0.2]
        personas = {x.name: x for x in PERSONAS}
        shift = r["persona"].map(lambda x: personas[x].satisfaction_shift).to_numpy()
        g = rng.normal(0, 1, len(r))
        items, latents = {}, {}
        for tp in _DRIVER_WEIGHTS:
            lat = CSAT_LATENT[tp] + shift + 0.5 * g + rng.normal(0, 0.8, len(r))
            latents[tp] = lat
            items[f"sat_{tp}"] = np.clip(np.round(lat), 1, 5).astype(int)
        overall = sum(w * latents[tp] for tp, w in _DRIVER_WEIGHTS.items())
        overall = overall + rng.normal(0, 0.35, len(r))
        nps = np.clip(np.round(2.5 * (overall - 1) + rng.normal(0, 0.8, len(r))), 0, 10).astype(int)
        when = self.start + pd.Timedelta(weeks=self.weeks // 2) + pd.to_timedelta(
            rng.integers(0, 14 * 86400, len(r)), unit="s")
        df = pd.DataFrame({"account_number": r["crm_id"],
                           "completed_at": when.strftime("%Y-%m-%d %H:%M:%S"), **items,
                           "overall_satisfaction": np.clip(np.round(overall), 1, 5).astype(int),
                           "likelihood_to_recommend": nps})
        df.to_csv(self.out / name, index=False)
        return {"outcome": "likelihood_to_recommend", "driver": KEY_DRIVER,
                "weights": _DRIVER_WEIGHTS, "file": name,
                "items": {f"sat_{tp}": tp for tp in _DRIVER_WEIGHTS}}

    def write_benchmark(self, name: str) -> dict[str, Any]:
        rng = self.rng
        rows = []
        for brand, adj in _BENCHMARK.items():
            n = 400
            for k in range(n):
                rid = f"{brand[:2].upper()}{k:05d}"
                person = rng.normal(0, 0.5)
                for tp in _BENCHMARK_TOUCHPOINTS:
                    lat = CSAT_LATENT[tp] + adj.get(tp, 0.0) + person + rng.normal(0, 0.8)
                    rows.append((rid, brand, SURVEY_LABEL_EN[tp], int(np.clip(round(lat), 1, 5))))
        df = pd.DataFrame(rows, columns=["respondent_id", "brand", "touchpoint", "csat"])
        # one recommendation answer per respondent, following their average experience
        mean_csat = df.groupby("respondent_id", sort=False)["csat"].mean()
        nps = np.clip(np.round(2.4 * (mean_csat - 1) + rng.normal(0, 1, len(mean_csat))), 0, 10)
        df["nps"] = df["respondent_id"].map(nps.astype(int))
        df.to_csv(self.out / name, index=False)
        ours = "Northwind"
        gaps = {tp: round(-_BENCHMARK["Contoso"].get(tp, 0.0), 2)
                for tp in _BENCHMARK_TOUCHPOINTS}
        return {"ours": ours, "competitors": [b for b in _BENCHMARK if b != ours],
                "planted_gap_vs_Contoso": gaps, "largest_gap_touchpoint": PAIN_POINT,
                "file": name}

    def write_social(self, people: pd.DataFrame, name: str) -> str:
        rng = self.rng
        posters = people[people["social_handle"].notna()]
        lines = []
        for _, p in posters.iterrows():
            k = 1 + rng.poisson(1.0)
            for i in range(k):
                t = self.start + pd.Timedelta(seconds=int(rng.integers(0, self.weeks * 7 * 86400)))
                pol = rng.choice(["neg", "neu", "pos"], p=[0.45, 0.15, 0.40])
                zh = p["country"] == "CN"
                bank = _COMMENTS_ZH if zh else _COMMENTS_EN
                tp = PAIN_POINT if (pol == "neg" and rng.random() < 0.5) else "*"
                opts = bank.get((tp, pol)) or bank[("*", pol)]
                # the listening tool matches a handle to an e-mail for known customers,
                # always on their first post
                matched = (p["kind"] == "registered" and isinstance(p["email"], str)
                           and p["email"] != PLACEHOLDER_EMAIL and (i == 0 or rng.random() < 0.5))
                # a registered customer without a usable e-mail is matched by account number
                acct = (p["kind"] == "registered" and not matched and i == 0)
                lines.append({
                    "post_id": f"{rng.integers(10**15, 10**16)}",
                    "handle": p["social_handle"],
                    "created_at": t.strftime("%a %b %d %H:%M:%S +0000 %Y"),
                    "text": str(rng.choice(opts)) + ("" if zh else " #Northwind"),
                    "lang": "zh" if zh else "en",
                    "matched_email": p["email"] if matched else None,
                    "matched_account": p["crm_id"] if acct else None,
                })
        order = rng.permutation(len(lines))
        with open(self.out / name, "w", encoding="utf-8") as fh:
            for k in order:
                fh.write(json.dumps(lines[k], ensure_ascii=False) + "\n")
        return "social listening export (handles, Twitter-style times, some matched to e-mails)"

    def write_interviews(self, people: pd.DataFrame) -> str:
        rng = self.rng
        folder = self.out / "interviews"
        folder.mkdir(exist_ok=True)
        reg = people[people["kind"] == "registered"]
        picks = []
        for persona in PERSONAS:
            pool = reg[reg["persona"] == persona.name]
            if len(pool):
                picks.extend(pool.sample(min(2, len(pool)), random_state=int(rng.integers(1e9)))
                             .itertuples())
        for k, p in enumerate(picks, start=1):
            stage = "purchase" if p.persona in ("deal_seeker", "loyal_regular") else "service"
            zh = p.country == "CN"
            bank = _COMMENTS_ZH if zh else _COMMENTS_EN
            body = [f"Interviewer: {'请讲讲您最近一次购物的经历。' if zh else 'Tell me about your last order.'}"]
            for tp, pol in ((PAIN_POINT, "neg"), ("support_call", "neg" if p.persona ==
                                                  "service_dependent" else "pos"), ("*", "pos")):
                opts = bank.get((tp, pol)) or bank[("*", pol)]
                body.append(f"Customer: {rng.choice(opts)}.")
                body.append(f"Interviewer: {'还有呢？' if zh else 'What happened next?'}")
            body.append(f"Customer: {rng.choice(bank[('*', 'neu')])}.")
            date = self.start + pd.Timedelta(days=int(rng.integers(30, self.weeks * 7)))
            header = (f"interview_id: INT-{k:02d}\ndate: {date:%Y-%m-%d}\n"
                      f"customer: {p.crm_id}\npersona: {p.persona}\nstage: {stage}\n"
                      f"language: {'zh' if zh else 'en'}\n---\n")
            (folder / f"INT-{k:02d}.txt").write_text(header + "\n".join(body) + "\n",
                                                     encoding="utf-8")
        return f"{len(picks)} interview transcripts (header block, then dialogue)"

    def write_ab_pilot(self, people: pd.DataFrame, name: str) -> dict[str, Any]:
        """A/B pilot of the payment redesign on registered customers."""
        rng = self.rng
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
        (self.out / name).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(self.out / name, index=False)

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

    def write_store_panel(self, name: str) -> dict[str, Any]:
        """Weekly store panel; a few pilot stores get the new checkout from the launch week."""
        rng = self.rng
        stores = [f"S{k:02d}" for k in range(1, 41)]
        treated = sorted(rng.choice(stores, size=4, replace=False).tolist())
        launch = self.weeks * 2 // 3
        weeks = pd.date_range(self.start.tz_convert(None).normalize(), periods=self.weeks,
                              freq="7D")
        store_fe = dict(zip(stores, rng.normal(0, 15, len(stores)), strict=True))
        foot_fe = dict(zip(stores, rng.normal(0, 300, len(stores)), strict=True))
        season = 5 * np.sin(np.arange(self.weeks) / self.weeks * 2 * np.pi)
        rows = []
        for s in stores:
            noise = 0.0
            for w in range(self.weeks):
                noise = 0.5 * noise + rng.normal(0, 3.0)
                is_t, post = int(s in treated), int(w >= launch)
                sales = 100 + store_fe[s] + season[w] + noise + STORE_EFFECT["sales"] * is_t * post
                foot = 2000 + foot_fe[s] + 40 * season[w] + rng.normal(0, 60)
                rows.append((s, weeks[w].strftime("%Y-%m-%d"), is_t, post, round(sales, 2),
                             int(round(foot))))
        df = pd.DataFrame(rows, columns=["unit", "period", "treated", "post", "sales",
                                         "footfall"])
        df.to_csv(self.out / name, index=False)
        return {"metric": "sales", "effect": STORE_EFFECT["sales"],
                "effects": STORE_EFFECT, "unit": "thousand GBP per store-week",
                "treated_units": treated, "n_control_units": len(stores) - len(treated),
                "launch_period": weeks[launch].strftime("%Y-%m-%d"), "file": name}


_CHURN_HAZARD_SWITCH = 0.22
_CHURN_HAZARD_OTHER = 0.015
# Relationship-survey item weights on overall satisfaction: support_call is the key driver.
_DRIVER_WEIGHTS = {"product_page": 0.10, "delivery_options": 0.15, "payment": 0.15,
                   "support_call": 0.45, "store_purchase": 0.05, "order_tracking": 0.10}
_BENCHMARK_TOUCHPOINTS = ("product_page", "delivery_options", "payment", "support_call",
                          "order_tracking")
_BENCHMARK = {"Northwind": {}, "Contoso": {"payment": 1.6, "delivery_options": 0.2},
              "Fabrikam": {"payment": 1.0, "support_call": -0.4}}


def _format_phone_crm(e164: object) -> object:
    """CRM style: '+44 7700 900123' / '+86 138 0013 8000'."""
    if not isinstance(e164, str) or e164 == PLACEHOLDER_PHONE:
        return e164
    if e164.startswith("+44"):
        d = e164[3:]
        return f"+44 {d[:4]} {d[4:]}"
    d = e164[3:]
    return f"+86 {d[:3]} {d[3:7]} {d[7:]}"


def _format_phone_national(e164: str, rng: np.random.Generator) -> str:
    """Contact-centre style: national UK formats, international for China."""
    if e164.startswith("+44"):
        d = "0" + e164[3:]
        style = rng.integers(0, 3)
        return (d, f"{d[:5]} {d[5:]}", f"({d[:5]}) {d[5:8]}-{d[8:]}")[style]
    d = e164[3:]
    return ("0086" + d) if rng.random() < 0.5 else f"+86-{d[:3]}-{d[3:7]}-{d[7:]}"
