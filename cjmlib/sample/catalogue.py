"""The sample world's catalogue: what the generator draws from and what it plants.

Stages and the touchpoint -> stage map, the states of the journey Markov chain, the event
names, page paths and survey labels each source system uses, dwell times and latent
satisfaction per touchpoint, the base transition probabilities and the :class:`Persona`
overrides, the planted truths (pain point, loop, churn switch and churn hazards, key driver
and relationship-survey weights, market benchmark, A/B and store pilot effects, app release
shift), the CRM placeholders, and the names, e-mail domains, regions and comment texts.
"""

from __future__ import annotations

from dataclasses import dataclass

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
BASE = {
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
ANONYMOUS = Persona("anonymous", 0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
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

FIRST_EN = ["Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Noah",
            "Emily", "Leo", "Sophia", "Oscar", "Grace", "Arthur", "Lily", "Henry", "Freya",
            "Charlie", "Ella", "Thomas", "Chloe", "James", "Ruby", "William", "Evie"]
LAST_EN = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
           "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
           "Hall", "Wood", "Jackson", "Clarke"]
LAST_ZH = [("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
           ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou")]
FIRST_ZH = [("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"),
            ("磊", "lei"), ("洋", "yang"), ("艳", "yan"), ("勇", "yong"), ("军", "jun"),
            ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming")]
DOMAINS = ["gmail.com", "outlook.com", "yahoo.co.uk", "btinternet.com", "icloud.com"]
DOMAINS_CN = ["qq.com", "163.com", "126.com", "sina.com"]
REGIONS_GB = ["London", "South East", "North West", "Midlands", "Scotland"]
REGIONS_CN = ["Shanghai", "Beijing", "Shenzhen"]

# Comment templates: (touchpoint or "*", polarity) -> texts. Polarity from the CSAT score.
COMMENTS_EN = {
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
COMMENTS_ZH = {
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
COMMENTS_ES = {"neg": ["El pago falló dos veces", "Muy mala experiencia"],
               "neu": ["Normal, nada especial"],
               "pos": ["Muy buen servicio", "Todo perfecto"]}

# Churn probability after a journey: web journeys with a support call (CHURN_SWITCH) vs others.
CHURN_HAZARD_SWITCH = 0.22
CHURN_HAZARD_OTHER = 0.015
# Relationship-survey item weights on overall satisfaction: support_call is the key driver.
DRIVER_WEIGHTS = {"product_page": 0.10, "delivery_options": 0.15, "payment": 0.15,
                  "support_call": 0.45, "store_purchase": 0.05, "order_tracking": 0.10}
BENCHMARK_TOUCHPOINTS = ("product_page", "delivery_options", "payment", "support_call",
                         "order_tracking")
BENCHMARK = {"Northwind": {}, "Contoso": {"payment": 1.6, "delivery_options": 0.2},
             "Fabrikam": {"payment": 1.0, "support_call": -0.4}}
