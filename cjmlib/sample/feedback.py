"""The sample's customer feedback: surveys, relationship survey, benchmark, social, interviews.

Post-interaction surveys (English UTF-8 with BOM and Chinese GB18030 exports), the quarterly
relationship survey with the planted key driver, the market benchmark survey against two
competitors, social listening posts and interview transcripts. Each writer takes the
:class:`~cjmlib.sample.generator.SampleGenerator` and returns what it planted (or the
file's description) for ``ground_truth.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cjmlib.sample.catalogue import (
    ANONYMOUS,
    BENCHMARK,
    BENCHMARK_TOUCHPOINTS,
    COMMENTS_EN,
    COMMENTS_ES,
    COMMENTS_ZH,
    CSAT_LATENT,
    DRIVER_WEIGHTS,
    KEY_DRIVER,
    PAIN_POINT,
    PERSONAS,
    PLACEHOLDER_EMAIL,
    SURVEY_LABEL_EN,
    SURVEY_LABEL_ZH,
)
from cjmlib.sample.text import format_times

if TYPE_CHECKING:
    from cjmlib.sample.generator import SampleGenerator


def write_surveys(gen: SampleGenerator, people: pd.DataFrame, ev: pd.DataFrame) -> dict[str, Any]:
    rng = gen.rng
    info = people.set_index("person_id")
    personas = {x.name: x for x in (*PERSONAS, ANONYMOUS)}
    # each journey's last event (e-mail clicks aside), found on row numbers only
    rows = np.flatnonzero((ev["channel"] != "email").to_numpy())
    # groupby(journey).tail(1): the last of each journey's rows, in row order
    jid = ev["journey_id"].to_numpy()[rows]
    last_row = np.full(jid.max() + 1 if len(jid) else 0, -1)
    np.maximum.at(last_row, jid, np.arange(len(rows)))
    rows = rows[np.sort(last_row[last_row >= 0])]
    last = ev.iloc[rows]
    last = last[last["person_id"].map(info["kind"]) == "registered"]
    ended_at_payment = last["touchpoint"] == PAIN_POINT
    s = last[rng.random(len(last)) < 0.15].copy()
    s["response_time"] = (s["event_time"] + pd.to_timedelta(
        rng.uniform(0.2, 3.0, len(s)) * 86400, unit="s")).dt.floor("s")
    s = s[s["response_time"] < gen.end]
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
            bank, lang = COMMENTS_ZH, "zh"
        elif es:
            texts.append(_pick(rng, COMMENTS_ES[pol]))
            langs.append("es")
            continue
        else:
            bank, lang = COMMENTS_EN, "en"
        options = bank.get((tp, pol)) or bank[("*", pol)]
        if (tp, pol) in bank and rng.random() < 0.25:
            options = bank[("*", pol)]
        texts.append(_pick(rng, options))
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
    iso = format_times(t, "%Y-%m-%dT%H:%M:%S+00:00")
    alt = format_times(t, "%d %b %Y %H:%M:%S %z", tz="Europe/London")
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

    gdf = gen.inject(gdf, "surveys_global.csv", {"csat_out_of_range": out_of_range,
                                                 "nps_out_of_range": nps_range})
    gen.save("surveys_global.csv", gdf.to_csv, gen.out / "surveys_global.csv", index=False,
             encoding="utf-8-sig")
    files["surveys_global.csv"] = "post-interaction survey (UTF-8 with BOM, mixed time formats)"
    # --- Chinese survey vendor: GB18030, Chinese headers, local Shanghai time
    c = s[country == "CN"]
    cu = usable[country == "CN"]
    cdf = pd.DataFrame({
        "答卷编号": [f"CN{k:08d}" for k in rng.choice(10**8, len(c), replace=False)],
        "客户邮箱": np.where(cu, c["person_id"].map(info["email"]), ""),
        "会员号": np.where(~cu, crm[country == "CN"], ""),
        "提交时间": format_times(c["response_time"], "%Y/%m/%d %H:%M", tz="Asia/Shanghai"),
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

    cdf = gen.inject(cdf, "surveys_cn.csv", {"csat_out_of_range": zh_range})
    gen.save("surveys_cn.csv", cdf.to_csv, gen.out / "surveys_cn.csv", index=False,
             encoding="gb18030")
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


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    """``str(rng.choice(options))`` with the same draw, without converting the list to an array
    each time."""
    return str(options[rng.integers(0, len(options))])


def write_relationship_survey(gen: SampleGenerator, people: pd.DataFrame,
                              name: str) -> dict[str, Any]:
    """Quarterly relationship survey: item satisfactions drive overall NPS (key driver)."""
    rng = gen.rng
    reg = people[people["kind"] == "registered"]
    r = reg[rng.random(len(reg)) < 0.2]
    personas = {x.name: x for x in PERSONAS}
    shift = r["persona"].map(lambda x: personas[x].satisfaction_shift).to_numpy()
    g = rng.normal(0, 1, len(r))
    items, latents = {}, {}
    for tp in DRIVER_WEIGHTS:
        lat = CSAT_LATENT[tp] + shift + 0.5 * g + rng.normal(0, 0.8, len(r))
        latents[tp] = lat
        items[f"sat_{tp}"] = np.clip(np.round(lat), 1, 5).astype(int)
    overall = sum(w * latents[tp] for tp, w in DRIVER_WEIGHTS.items())
    overall = overall + rng.normal(0, 0.35, len(r))
    nps = np.clip(np.round(2.5 * (overall - 1) + rng.normal(0, 0.8, len(r))), 0, 10).astype(int)
    when = gen.start + pd.Timedelta(weeks=gen.weeks // 2) + pd.to_timedelta(
        rng.integers(0, 14 * 86400, len(r)), unit="s")
    df = pd.DataFrame({"account_number": r["crm_id"],
                       "completed_at": when.strftime("%Y-%m-%d %H:%M:%S"), **items,
                       "overall_satisfaction": np.clip(np.round(overall), 1, 5).astype(int),
                       "likelihood_to_recommend": nps})
    gen.save(name, df.to_csv, gen.out / name, index=False)
    return {"outcome": "likelihood_to_recommend", "driver": KEY_DRIVER,
            "weights": DRIVER_WEIGHTS, "file": name,
            "items": {f"sat_{tp}": tp for tp in DRIVER_WEIGHTS}}


def write_benchmark(gen: SampleGenerator, name: str) -> dict[str, Any]:
    rng = gen.rng
    rows = []
    for brand, adj in BENCHMARK.items():
        n = 400
        for k in range(n):
            rid = f"{brand[:2].upper()}{k:05d}"
            person = rng.normal(0, 0.5)
            for tp in BENCHMARK_TOUCHPOINTS:
                lat = CSAT_LATENT[tp] + adj.get(tp, 0.0) + person + rng.normal(0, 0.8)
                rows.append((rid, brand, SURVEY_LABEL_EN[tp], int(np.clip(round(lat), 1, 5))))
    df = pd.DataFrame(rows, columns=["respondent_id", "brand", "touchpoint", "csat"])
    # one recommendation answer per respondent, following their average experience
    mean_csat = df.groupby("respondent_id", sort=False)["csat"].mean()
    nps = np.clip(np.round(2.4 * (mean_csat - 1) + rng.normal(0, 1, len(mean_csat))), 0, 10)
    df["nps"] = df["respondent_id"].map(nps.astype(int))
    gen.save(name, df.to_csv, gen.out / name, index=False)
    ours = "Northwind"
    gaps = {tp: round(-BENCHMARK["Contoso"].get(tp, 0.0), 2)
            for tp in BENCHMARK_TOUCHPOINTS}
    return {"ours": ours, "competitors": [b for b in BENCHMARK if b != ours],
            "planted_gap_vs_Contoso": gaps, "largest_gap_touchpoint": PAIN_POINT,
            "file": name}


def write_social(gen: SampleGenerator, people: pd.DataFrame, name: str) -> str:
    rng = gen.rng
    posters = people[people["social_handle"].notna()]
    # rng.choice(polarities, p=...) as the draw it makes: one uniform against the cumulative
    # probabilities (and rng.choice(options) as rng.integers(0, len(options)))
    polarities = ["neg", "neu", "pos"]
    cdf = np.asarray([0.45, 0.15, 0.40]).cumsum()
    cdf /= cdf[-1]
    window_s = gen.weeks * 7 * 86400
    posts, seconds = [], []
    for handle, country, kind, email, crm_id in zip(
            posters["social_handle"], posters["country"], posters["kind"], posters["email"],
            posters["crm_id"], strict=True):
        k = 1 + rng.poisson(1.0)
        zh = country == "CN"
        bank = COMMENTS_ZH if zh else COMMENTS_EN
        usable_email = (kind == "registered" and isinstance(email, str)
                        and email != PLACEHOLDER_EMAIL)
        for i in range(k):
            seconds.append(int(rng.integers(0, window_s)))
            pol = polarities[int(cdf.searchsorted(rng.random(), side="right"))]
            tp = PAIN_POINT if (pol == "neg" and rng.random() < 0.5) else "*"
            opts = bank.get((tp, pol)) or bank[("*", pol)]
            # the listening tool matches a handle to an e-mail for known customers,
            # always on their first post
            matched = usable_email and (i == 0 or rng.random() < 0.5)
            # a registered customer without a usable e-mail is matched by account number
            acct = (kind == "registered" and not matched and i == 0)
            post_id = f"{rng.integers(10**15, 10**16)}"
            text = _pick(rng, opts) + ("" if zh else " #Northwind")
            posts.append((post_id, handle, text, "zh" if zh else "en",
                          email if matched else None, crm_id if acct else None))
    order = rng.permutation(len(posts))
    gen.save(name, _write_posts, gen.start, posts, seconds, order, gen.out / name)
    return "social listening export (handles, Twitter-style times, some matched to e-mails)"


def _write_posts(start: pd.Timestamp, posts: list[tuple], seconds: list[int],
                 order: np.ndarray, path: Path) -> None:
    """The social posts as JSON lines, in ``order``, timed ``seconds`` after ``start``."""
    created = format_times(start + pd.to_timedelta(pd.Series(seconds, dtype="int64"), unit="s"),
                           "%a %b %d %H:%M:%S +0000 %Y").tolist()
    with open(path, "w", encoding="utf-8") as fh:
        for k in order:
            post_id, handle, text, lang, email, account = posts[k]
            fh.write(json.dumps({"post_id": post_id, "handle": handle,
                                 "created_at": created[k], "text": text, "lang": lang,
                                 "matched_email": email, "matched_account": account},
                                ensure_ascii=False) + "\n")


def write_interviews(gen: SampleGenerator, people: pd.DataFrame) -> str:
    rng = gen.rng
    folder = gen.out / "interviews"
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
        bank = COMMENTS_ZH if zh else COMMENTS_EN
        body = [f"Interviewer: {'请讲讲您最近一次购物的经历。' if zh else 'Tell me about your last order.'}"]
        for tp, pol in ((PAIN_POINT, "neg"), ("support_call", "neg" if p.persona ==
                                              "service_dependent" else "pos"), ("*", "pos")):
            opts = bank.get((tp, pol)) or bank[("*", pol)]
            body.append(f"Customer: {rng.choice(opts)}.")
            body.append(f"Interviewer: {'还有呢？' if zh else 'What happened next?'}")
        body.append(f"Customer: {rng.choice(bank[('*', 'neu')])}.")
        date = gen.start + pd.Timedelta(days=int(rng.integers(30, gen.weeks * 7)))
        header = (f"interview_id: INT-{k:02d}\ndate: {date:%Y-%m-%d}\n"
                  f"customer: {p.crm_id}\npersona: {p.persona}\nstage: {stage}\n"
                  f"language: {'zh' if zh else 'en'}\n---\n")
        (folder / f"INT-{k:02d}.txt").write_text(header + "\n".join(body) + "\n",
                                                 encoding="utf-8")
    return f"{len(picks)} interview transcripts (header block, then dialogue)"
