"""Privacy scan benchmark: a comment table searched for 300,000 customers' data, and the
whole end-of-run scan of a large run (raw data read, every output searched).

    python benchmarks/bench_privacy.py                      # 100,000 rows, 300,000 customers;
                                                            # run of 100,000 customers
    python benchmarks/bench_privacy.py --rows 20000 --customers 50000
    python benchmarks/bench_privacy.py --full               # run of 500,000 customers (issue 15)

1. Draws ``--customers`` customers (half UK mobiles and Latin names, half Chinese mobiles and
   CJK names, e-mails with ASCII and internationalised domains) as the raw data's personal
   data (:class:`cjmlib.core.privacy.PersonalData`; not timed).
2. Writes a sentiment-like table of ``--rows`` rows to CSV and Parquet (not timed): integer
   response and journey ids whose digits end in listed phones (the mechanism of the 500k
   false positives of issue 14), hexadecimal customer ids, epoch milliseconds, CSAT scores,
   sentiment scores, and comments in English and Chinese with order numbers, prices, dates
   and durations. Every 1,000th comment carries a listed customer's phone, name or e-mail in
   one of twelve written forms (dots, spaced hyphens, en dash, full-width digits, ``+44
   (0)``, brackets, middle initial, CJK with a space, upper case, IDN domain ...).
3. Times :func:`cjmlib.core.privacy.scan_outputs` on the folder and
   :func:`cjmlib.core.privacy.redact_column` on the comments, and checks recall (every
   planted value found, in both files) and precision (nothing else found). Writes
   ``benchmarks/results/bench_privacy.json``; the load average is recorded because other
   jobs on a shared machine stretch the wall time (the CPU time stays comparable).
4. The end-of-run scan (``cjmlib.workflow.runner.privacy_check``: the raw data's personal
   data, then every output of the run searched for it) on generated files shaped like a
   sample run's (not timed): raw ``crm_customers.csv`` (``--run-customers`` customers:
   names, e-mails, UK and Chinese mobiles), ``contact_center.csv`` (their phones written
   otherwise), ``email_events.jsonl`` (ten e-mail events per customer) and a run folder
   with ``voice_sentiment.csv``/``.parquet`` (a row per two customers: ids, times, scores,
   comments) and a ``report.html`` of its first rows (up to 5,000). A customer's e-mail is planted
   in the last comment, a phone in the middle one and a name in the report; the check is
   that exactly these are found. ``--full``: 500,000 customers, as the run of issue 15.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from cjmlib.core import privacy  # noqa: E402

TARGET_S = 60.0
#: Target of the end-of-run scan of 500,000 customers (issue 15: 154 s).
RUN_TARGET_S = 60.0
FIRST = ["Ella", "Oliver", "Amelia", "George", "Isla", "Noah", "Freya", "Arthur"]
LAST = ["Jackson", "Wood", "Okafor", "Patel", "Nowak", "Evans", "Hughes", "Ahmed"]
CJK_LAST = "李王张刘陈杨黄赵周吴"
CJK_GIVEN = "静伟芳娜敏磊洋艳勇军杰娟涛明"
COMMENTS = ["Payment failed twice, order 2026 was late", "支付页面很卡，体验很差，等了45分钟",
            "Great app, delivered 25/05/2026 for £1,234.56", "客服很好，订单号 88213 已解决",
            "Waited 3.5 hours on 2026-05-25 10:30"]


def customers(n: int, rng: random.Random) -> list[dict[str, str]]:
    out = []
    for k in range(n):
        if k % 2:
            out.append({"first": rng.choice(CJK_GIVEN), "last": rng.choice(CJK_LAST),
                        "phone": "13" + "".join(rng.choices("0123456789", k=9)),
                        "email": f"user{k}@例子.中国"})
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            out.append({"first": first, "last": last,
                        "phone": "7" + rng.choice("4789") + "".join(rng.choices("0123456789", k=8)),
                        "email": f"cust{k}@müller.de"})
    return out


def planted(c: dict[str, str], form: int) -> tuple[str, str]:
    """(kind, written form) number ``form`` (0-11) of a customer's data."""
    d, cjk = c["phone"], len(c["phone"]) == 11
    n = d if cjk else "0" + d
    forms = [("phone", f"{n[:5]}.{n[5:8]}.{n[8:]}"), ("phone", f"{n[:5]} - {n[5:8]} - {n[8:]}"),
             ("phone", f"{n[:5]}\u2013{n[5:]}"),
             ("phone", n.translate({ord(x): ord(x) + 0xFEE0 for x in "0123456789"})),
             ("phone", f"+{86 if cjk else 44} {'' if cjk else '(0)'}{d[:4]} {d[4:]}"),
             ("phone", f"({n[:5]}) {n[5:8]}-{n[8:]}"), ("email", c["email"]),
             ("email", c["email"].upper()),
             ("email", c["email"].replace("@", "＠").replace(".", "．")),
             ("name", f"{c['last']} {c['first']}" if cjk else f"{c['first']} J. {c['last']}"),
             ("name", f"{c['last']}\u3000{c['first']}" if cjk else f"{c['first']} {c['last']}".upper()),
             ("name", f"{c['last']}{c['first']}" if cjk else f"{c['last']}, {c['first']}")]
    return forms[form]


def personal_of(people: list[dict[str, str]]) -> privacy.PersonalData:
    latin = [p for p in people if len(p["phone"]) == 10]
    cjk = [p for p in people if len(p["phone"]) == 11]
    return privacy.PersonalData(
        frozenset(privacy.normalise_email(p["email"]) for p in people),
        frozenset(p["phone"] for p in people),
        frozenset((p["first"].casefold(), p["last"].casefold()) for p in latin),
        frozenset(x for p in cjk for x in (p["last"] + p["first"], p["first"] + p["last"])),
        regions=("GB", "CN"))


def table(rows: int, people: list[dict[str, str]], rng: random.Random
          ) -> tuple[pd.DataFrame, list[str]]:
    tails = [rng.choice(people)["phone"] for _ in range(rows)]
    texts, kinds = [], []
    for k in range(rows):
        text = rng.choice(COMMENTS)
        if k % 1000 == 500:
            kind, written = planted(rng.choice(people), (k // 1000) % 12)
            text = f"{text}. Contact: {written} thanks"
            kinds.append(kind)
        texts.append(text)
    frame = pd.DataFrame({
        "response_id": [int(f"{k + 100_001}{t}") for k, t in enumerate(tails)],
        "customer_id": [f"cu_{rng.randrange(16**10):010x}{t[-6:]}" for t in tails],
        "journey_id": [int(f"9{t}") for t in tails],
        "time_ms": [1_772_544_365_736 + 997 * k for k in range(rows)],
        "csat": [rng.randrange(1, 6) for _ in range(rows)],
        "sentiment": [rng.uniform(-1, 1) for _ in range(rows)], "text": texts})
    return frame, kinds


def run_files(n: int, raw: Path, run: Path, rng: random.Random) -> dict[str, int]:
    """Raw exports of ``n`` customers and the outputs of a run on them, with one e-mail,
    one phone and one name of theirs planted; the hits expected per file and kind."""
    people = customers(n, rng)
    crm = pd.DataFrame({"customer_no": [f"C{10_000_000 + k}" for k in range(n)],
                        "first_name": [p["first"] for p in people],
                        "last_name": [p["last"] for p in people],
                        "email": [p["email"] for p in people],
                        "phone": [(f"+86 {p['phone'][:3]} {p['phone'][3:7]} {p['phone'][7:]}"
                                   if len(p["phone"]) == 11 else
                                   f"+44 {p['phone'][:4]} {p['phone'][4:]}") for p in people]})
    crm.to_csv(raw / "crm_customers.csv", index=False)
    called = rng.sample(people, n // 4)
    pd.DataFrame({"contact_id": [f"K{k}" for k in range(len(called))],
                  "caller_number": [p["phone"] if len(p["phone"]) == 11 else
                                    f"0{p['phone'][:4]} {p['phone'][4:]}" for p in called],
                  "duration_sec": [rng.randrange(30, 900) for _ in called]}).to_csv(
        raw / "contact_center.csv", index=False)
    with (raw / "email_events.jsonl").open("w", encoding="utf-8") as out:
        for k in range(10 * n):
            out.write(json.dumps({"email": people[k % n]["email"], "campaign_id": f"CMP-{k % 97}",
                                  "event": "open" if k % 3 else "send",
                                  "ts": f"2026-0{1 + k % 9}-1{k % 10}T09:{k % 60:02d}:11+00:00"},
                                 ensure_ascii=False) + "\n")
    rows = n // 2
    tails = [rng.choice(people)["phone"] for _ in range(rows)]
    table = pd.DataFrame({
        "response_id": [f"CN{k + 10_000_000}" for k in range(rows)],
        "customer_id": [f"cu_{rng.randrange(16**14):014x}{t[-6:]}" for t in tails],
        "response_time": [f"2026-0{1 + k % 9}-1{k % 10} 0{k % 10}:14:00+00:00"
                          for k in range(rows)],
        "journey_id": [int(f"9{t}") for t in tails],
        "sentiment": [rng.uniform(-1, 1) for _ in range(rows)],
        "csat": [float(rng.randrange(1, 6)) for _ in range(rows)],
        "text": [rng.choice(COMMENTS) for _ in range(rows)]})
    latin = [p for p in people if len(p["phone"]) == 10]
    table.loc[rows - 1, "text"] = f"mail me: {people[1]['email']}"
    table.loc[rows // 2, "text"] = f"call {planted(latin[0], 1)[1]}"
    table.to_csv(run / "voice_sentiment.csv", index=False)
    table.to_parquet(run / "voice_sentiment.parquet")
    (run / "report.html").write_text(
        f"<html><body><h1>Report</h1><p>Quote from {latin[1]['first']} J. {latin[1]['last']}"
        f"</p>{table.head(min(5_000, rows // 4)).to_html(index=False)}</body></html>",
        encoding="utf-8")
    return {"voice_sentiment.csv:email": 1, "voice_sentiment.csv:phone": 1,
            "voice_sentiment.parquet:email": 1, "voice_sentiment.parquet:phone": 1,
            "report.html:name": 1}


def end_of_run(n: int, seed: int) -> dict[str, object]:
    """Time the end-of-run privacy scan on generated raw data and outputs of ``n``
    customers, in this process (the files written first, not timed)."""
    from cjmlib.workflow.runner import privacy_check

    result: dict[str, object] = {"customers": n, "load_average_1min": round(
        os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as folder:
        raw, run = Path(folder) / "raw", Path(folder) / "run"
        raw.mkdir()
        run.mkdir()
        expected = run_files(n, raw, run, random.Random(seed))
        result["raw_mb"] = round(sum(p.stat().st_size for p in raw.iterdir()) / 1e6, 1)
        result["outputs_mb"] = round(sum(p.stat().st_size for p in run.iterdir()) / 1e6, 1)
        wall, cpu = time.perf_counter(), time.process_time()
        entry, scan = privacy_check(run, [raw], say=print)
        result["seconds"] = round(time.perf_counter() - wall, 2)
        result["cpu_seconds"] = round(time.process_time() - cpu, 2)
    found: dict[str, int] = {}
    for r in scan.hits.itertuples():
        found[f"{r.file}:{r.kind}"] = found.get(f"{r.file}:{r.kind}", 0) + int(r.count)
    result.update(looked_for=entry["looked_for"], found=found,
                  found_exactly_the_planted=found == expected)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=300_000)
    parser.add_argument("--run-customers", type=int, default=100_000,
                        help="customers of the generated run (end-of-run scan)")
    parser.add_argument("--full", action="store_true",
                        help="end-of-run scan of 500,000 customers, as the run of issue 15")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    people = customers(args.customers, rng)
    personal = personal_of(people)
    frame, kinds = table(args.rows, people, rng)
    result: dict[str, object] = {"rows": args.rows, "customers": args.customers,
                                 "phones_listed": len(personal.phones), "planted": len(kinds),
                                 "load_average_1min": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as folder:
        frame.to_csv(Path(folder) / "voice_sentiment.csv", index=False)
        frame.to_parquet(Path(folder) / "voice_sentiment.parquet")
        wall, cpu = time.perf_counter(), time.process_time()
        scan = privacy.scan_outputs(folder, personal)
        result["scan_seconds"] = round(time.perf_counter() - wall, 2)
        result["scan_cpu_seconds"] = round(time.process_time() - cpu, 2)
    wall = time.perf_counter()
    redacted = privacy.redact_column(frame, "text", personal=personal)
    result["redact_seconds"] = round(time.perf_counter() - wall, 2)
    # recall: every planted value in both files; precision: nothing else
    per_file = scan.hits.groupby(["file", "kind"])["count"].sum().to_dict()
    expected = pd.Series(kinds).value_counts().to_dict()
    found = {f"{f}:{k}": int(n) for (f, k), n in per_file.items()}
    result["found"] = found
    result["expected_per_file"] = expected
    result["recall_and_precision_exact"] = all(
        found.get(f"voice_sentiment.{suffix}:{kind}", 0) == n
        for suffix in ("csv", "parquet") for kind, n in expected.items()) and (
        sum(found.values()) == 2 * len(kinds))
    left = sum(bool(privacy.find_personal_data(t, personal)) for t in redacted["text"])
    result["texts_with_personal_data_after_redaction"] = left
    run = end_of_run(500_000 if args.full else args.run_customers, args.seed)
    result["end_of_run_scan"] = run
    out = ROOT / "benchmarks" / "results" / "bench_privacy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    ok = result["recall_and_precision_exact"] and left == 0 and (
        result["scan_seconds"] <= TARGET_S) and run["found_exactly_the_planted"] and (
        run["seconds"] <= RUN_TARGET_S * run["customers"] / 500_000 + 5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
