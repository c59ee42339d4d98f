"""Privacy: the personal data of the raw sample are found in planted leaks and not in clean
outputs; hits are masked; small groups are suppressed against their counts; a leaking run fails."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from cjmlib.core import privacy


@pytest.fixture(scope="module")
def personal(sample_dir: Path) -> privacy.PersonalData:
    return privacy.personal_data(sample_dir)


@pytest.fixture(scope="module")
def crm(sample_dir: Path) -> pd.DataFrame:
    return pd.read_csv(sample_dir / "crm_customers.csv", dtype=str)


def test_personal_data_holds_the_crm_e_mails_phones_and_names(personal, crm) -> None:
    emails = {e.strip().lower() for e in crm["email"].dropna()} - {"noemail@example.com"}
    assert emails <= personal.emails
    assert "noemail@example.com" not in personal.emails
    # phones on their national number: +44 7644 808806 -> 7644808806, +86 138... -> 138...
    for phone in crm["phone"].dropna().head(50):
        digits = "".join(ch for ch in phone if ch.isdigit())
        if set(digits) == {"0"}:
            assert privacy.normalise_phone(phone) is None  # the CRM placeholder
            continue
        national = digits[2:] if digits.startswith(("44", "86")) else digits.lstrip("0")
        assert national in personal.phones, phone
    latin = crm[~crm["first_name"].str.contains(r"[\u4e00-\u9fff]")].head(20)
    assert {(f.lower(), s.lower()) for f, s in zip(latin["first_name"], latin["last_name"],
                                                   strict=True)} <= personal.names
    cjk = crm[crm["first_name"].str.contains(r"[\u4e00-\u9fff]")].head(20)
    assert {s + f for f, s in zip(cjk["first_name"], cjk["last_name"], strict=True)} <= (
        personal.cjk_names)
    # every raw source with e-mails is read: surveys (GB18030 too), e-mail events, social
    assert {"crm_customers.csv", "surveys_global.csv", "surveys_cn.csv", "email_events.jsonl",
            "social_posts.jsonl", "contact_center.csv"} <= set(personal.counts)


def _clean_run(folder: Path) -> Path:
    folder.mkdir()
    pd.DataFrame({"customer_id": ["cu_0a1b2c3d4e5f60718293", "cu_ffe1"], "csat": [1.0, 5.0],
                  "text": ["支付页面很卡，体验很差", "Payment failed twice"],
                  "order": [17725443657, 2026]}).to_parquet(folder / "sentiment.parquet")
    pd.DataFrame({"touchpoint": ["payment"], "exit_rate": [0.76448088060],
                  "when": ["2026-05-25 10:00:00"]}).to_csv(folder / "metrics.csv", index=False)
    (folder / "report.html").write_text(
        '<html><body><h1>客户旅程改进报告</h1><p>每周监测：结算-支付 · Payment · 44.4%</p>'
        '<img src="data:image/png;base64,AAAA7644808806BBBB"></body></html>', encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("display(table)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": "<table><tr><td>cu_ffe1</td><td>Payment</td></tr></table>",
        "text/plain": "0.7644808806  1772544365736", "image/png": "iVBORw0KGgo7644808806"})]
    nb.cells = [cell]
    nbformat.write(nb, folder / "06_report.ipynb")
    (folder / "figure.png").write_bytes(b"\x89PNG george.wood")
    return folder


def test_a_clean_run_passes(tmp_path: Path, personal) -> None:
    scan = privacy.scan_outputs(_clean_run(tmp_path / "run"), personal)
    assert scan.passed, scan.message()
    assert sorted(scan.files_scanned) == ["06_report.ipynb", "metrics.csv", "report.html",
                                          "sentiment.parquet"]
    assert scan.files_skipped == ["figure.png"]


def test_planted_leaks_are_found_in_every_format_and_masked(tmp_path: Path, personal,
                                                            crm) -> None:
    latin = crm[crm["email"].notna() & (crm["email"] != "noemail@example.com")
                & ~crm["first_name"].str.contains(r"[\u4e00-\u9fff]")].iloc[0]
    chinese = crm[crm["first_name"].str.contains(r"[\u4e00-\u9fff]")].iloc[0]
    phone = crm[crm["phone"].str.startswith("+44", na=False)].iloc[0]["phone"]
    digits = "".join(ch for ch in phone if ch.isdigit())[2:]        # 7644808806
    local = f"(0{digits[:4]}) {digits[4:7]}-{digits[7:]}"          # (07644) 808-806
    run = _clean_run(tmp_path / "run")
    pd.DataFrame({"id": ["x"], "contact": [f"  {latin['email'].upper()} "]}).to_csv(
        run / "leak_email.csv", index=False)
    (run / "leak_phone.html").write_text(f"<p>call <b>{local}</b></p>", encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": f"<td>{latin['last_name']}</td><td>{latin['first_name']}</td>"})]
    nb.cells = [cell]
    nbformat.write(nb, run / "leak_name.ipynb")
    pd.DataFrame({"who": [f"客户{chinese['last_name']}{chinese['first_name']}的订单"]}).to_parquet(
        run / "leak_cjk.parquet")
    scan = privacy.scan_outputs(run, personal)
    assert not scan.passed
    found = {(r.file, r.kind) for r in scan.hits.itertuples()}
    assert {("leak_email.csv", "email"), ("leak_phone.html", "phone"),
            ("leak_name.ipynb", "name"), ("leak_cjk.parquet", "name")} <= found
    assert {f for f, _ in found} == {"leak_email.csv", "leak_phone.html", "leak_name.ipynb",
                                     "leak_cjk.parquet"}
    # the scan report never repeats what it found
    dump = scan.hits.to_csv() + scan.message()
    for secret in (latin["email"].lower(), digits, latin["last_name"],
                   chinese["last_name"] + chinese["first_name"]):
        assert secret.lower() not in dump.lower()


def test_files_searched_ahead_are_reused_only_while_unchanged(tmp_path: Path, personal,
                                                              crm) -> None:
    from cjmlib.core.io import file_sha256
    from cjmlib.core.privacy.scan import search_file

    email = crm[crm["email"].notna() & (crm["email"] != "noemail@example.com")
                ].iloc[0]["email"]
    run = _clean_run(tmp_path / "run")
    leak = run / "leak.csv"
    leak.write_text(f"id,contact\nx,{email}\n", encoding="utf-8")
    whole = privacy.scan_outputs(run, personal)
    # searched while the run went on: the same hits as searching at the end
    ahead = {rel: (file_sha256(run / rel), search_file(run / rel, personal))
             for rel in whole.files_scanned}
    again = privacy.scan_outputs(run, personal, searched=ahead)
    pd.testing.assert_frame_equal(again.hits, whole.hits)
    assert again.files_scanned == whole.files_scanned
    assert again.files_searched_before == whole.files_scanned
    assert whole.files_searched_before == []
    # a file unchanged since is not searched again (a planted record of hits is believed) ...
    planted = {("email", "text", "p***@planted.org"): 2}
    believed = privacy.scan_outputs(
        run, personal, searched={"metrics.csv": (file_sha256(run / "metrics.csv"), planted)})
    assert ("metrics.csv", "p***@planted.org", 2) in {
        (r.file, r.value, r.count) for r in believed.hits.itertuples()}
    # ... but a file changed after it was searched is searched again: the leak written
    # later is found, the stale clean record is not believed
    clean = (file_sha256(leak), {})
    leak.write_text(f"id,contact\nx,{email}\ny,{email}\n", encoding="utf-8")
    changed = privacy.scan_outputs(run, personal, searched={"leak.csv": clean})
    assert changed.files_searched_before == []
    assert changed.hits.loc[changed.hits["file"] == "leak.csv", "count"].sum() == 2


def test_redaction_of_quotes() -> None:
    text = "Mail me at Ann.Lee@example.org or call +44 7700 900123, order 2026 was late"
    assert privacy.redact(text) == "Mail me at [e-mail] or call [phone], order 2026 was late"
    assert privacy.redact(None) is None


def test_small_groups_are_suppressed_against_their_counts() -> None:
    table = pd.DataFrame({"group": list("abcde"), "n": [3, 10, 9, 250, 0],
                          "rate": [0.5, 0.2, 0.1, 0.3, float("nan")],
                          "count": [1, 2, 1, 75, 0]})
    out = privacy.suppress_small_groups(table, count_col="n", min_size=10)
    expected = table["n"] < 10
    assert out["suppressed"].tolist() == expected.tolist()
    assert out.loc[expected, ["n", "rate", "count"]].isna().all().all()
    kept = out.loc[~expected]
    assert kept["n"].tolist() == [10, 250] and kept["rate"].tolist() == [0.2, 0.3]
    assert kept["count"].tolist() == [2, 75] and out["group"].tolist() == list("abcde")
    assert table["n"].tolist() == [3, 10, 9, 250, 0]  # the input is untouched
    with pytest.raises(ValueError, match="count column 'customers' not found"):
        privacy.suppress_small_groups(table, count_col="customers")


def _tiny_notebook(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell(
        'raw_dir: str = "raw"  # raw data\noutput_dir: str = "out"  # run folder')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "from cjmlib.workflow.parameters import check_parameters\nparams = check_parameters(globals())"),
        nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


def test_a_run_that_leaks_fails_with_the_masked_hits(tmp_path: Path) -> None:
    from cjmlib.workflow.runner import RunFailed, run_notebooks

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "crm_customers.csv").write_text(
        "customer_no,first_name,last_name,email,phone\n"
        "C1,Ada,Lovelace,ada.lovelace@example.net,+44 7700 900456\n")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _tiny_notebook(notebooks / "01_copy.ipynb",
                   "import pandas as pd\nfrom pathlib import Path\n"
                   "crm = pd.read_csv(Path(raw_dir, 'crm_customers.csv'))\n"
                   "crm[['customer_no']].to_csv(Path(output_dir, 'customers.csv'))\n"
                   "crm.head()")  # the executed notebook shows the raw rows
    with pytest.raises(RunFailed) as info:
        run_notebooks(raw_dir=raw, processed_dir=tmp_path / "p", reports_dir=tmp_path / "r",
                      notebooks=["01_copy"], notebooks_dir=notebooks)
    message = str(info.value)
    assert message.startswith("privacy scan FAILED:") and "01_copy.ipynb" in message
    assert "ada.lovelace" not in message and "900456" not in message
    run = info.value.run_dir
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["failed_step"] == "privacy_scan"
    hits = pd.read_csv(run / "privacy_scan.csv")
    assert set(hits["kind"]) == {"email", "phone", "name"}
    assert set(hits["file"]) == {"notebooks/01_copy.ipynb", "notebooks/01_copy.html"}


def test_personal_data_if_present_reads_a_raw_folder_or_says_none(tmp_path):
    from cjmlib.core.privacy import personal_data_if_present

    assert personal_data_if_present(None) is None
    assert personal_data_if_present(tmp_path / "missing") is None
    assert personal_data_if_present(tmp_path) is None                  # empty folder
    (tmp_path / "crm.csv").write_text("customer_id,email,phone\nc1,jo@example.org,"
                                      "07431 519152\n", encoding="utf-8")
    found = personal_data_if_present(tmp_path)
    assert found is not None and "jo@example.org" in found.emails


def test_redaction_needs_no_raw_e_mails(sample_dir: Path, personal, crm) -> None:
    """``emails=False`` reads the phones, names and regions alone (no search of every byte
    for addresses), and redacts every text exactly as the full personal data do: e-mail
    addresses are found by their pattern."""
    lean = privacy.personal_data(sample_dir, emails=False)
    assert lean.emails == frozenset() and personal.emails
    assert (lean.phones, lean.names, lean.cjk_names, lean.regions) == (
        personal.phones, personal.names, personal.cjk_names, personal.regions)
    people = crm[crm["email"].notna() & crm["phone"].notna()].head(20)
    texts = [f"{p.first_name} {p.last_name} wrote from {p.email.upper()}, call {p.phone}"
             for p in people.itertuples()]
    texts += [f"mail {p.email} or ring {p.phone} -- {p.last_name}{p.first_name}"
              for p in people.itertuples()]
    texts += ["no personal data here, order 2026 was late", "x@y.org and +44 7700 900123"]
    full = [privacy.redact(t, personal=personal) for t in texts]
    assert [privacy.redact(t, personal=lean) for t in texts] == full
    assert all("[e-mail]" in r for r in full[:40])  # the raw addresses were redacted
