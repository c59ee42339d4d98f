"""Identity stitching: normalisation, hashing, connected components, the giant-component guard.

References are hand computations on tiny graphs (the components are obvious by eye) and the
phone formats the sample generator writes (cjmlib.sample.exports._format_phone_*).
"""

from __future__ import annotations

import hashlib

import duckdb
import numpy as np
import pytest

from cjmlib.collection.identity import (
    IdentifierType,
    IdentityConfig,
    hash_identifier,
    normalise_email,
    normalise_phone,
    resolve_salt,
    stitch,
)
from cjmlib.sample.exports import _format_phone_crm, _format_phone_national


@pytest.mark.parametrize("raw", ["+44 7700 900123", "07700900123", "07700 900123",
                                 "(07700) 900-123", "+447700900123", "0044 7700 900123"])
def test_uk_phone_formats_normalise_to_one_e164(raw):
    assert normalise_phone(raw, default_region="GB") == "+447700900123"


def test_generator_phone_formats_round_trip():
    """Every format the sample's CRM and contact centre write parses back to the same E.164."""
    rng = np.random.default_rng(0)
    for e164 in ["+447561965955", "+447000000001", "+8613812345678"]:
        assert normalise_phone(_format_phone_crm(e164)) == e164
        for _ in range(20):  # the national format is drawn at random: try all styles
            assert normalise_phone(_format_phone_national(e164, rng)) == e164


@pytest.mark.parametrize("raw", ["00000000000", "", "   ", "n/a", "123", None])
def test_placeholder_and_junk_phones_are_not_identifiers(raw):
    assert normalise_phone(raw) is None


def test_email_normalisation_is_case_and_space_only():
    assert normalise_email("  Amelia.Johnson2005@Outlook.Com ") == "amelia.johnson2005@outlook.com"
    # provider-specific rules would merge different people: dots and +tags are kept
    assert normalise_email("a.b+x@gmail.com") == "a.b+x@gmail.com"
    assert normalise_email("not-an-email") is None


def test_placeholders_are_compared_after_normalisation():
    email = IdentifierType("email", "email", True, ("noemail@example.com",))
    assert email.clean(" NoEmail@Example.com ") is None
    assert email.clean("real@example.com") == "real@example.com"
    phone = IdentifierType("phone", "phone", True, ("00000000000",))
    assert phone.clean("00000000000") is None


def test_phone_keys_from_worker_processes_equal_the_serial_ones(monkeypatch):
    """A long list of phones is shared with worker processes: the keys come back in the
    values' order, equal to hashing each E.164 number by hand."""
    from cjmlib.collection import staging

    phone = IdentifierType("phone", "phone", True, ("00000000000",))
    raw = ["+44 7700 900123", "00000000000", "n/a", "07700 900124", "+86 138 0013 8000"] * 3
    e164 = {"+44 7700 900123": "+447700900123", "07700 900124": "+447700900124",
            "+86 138 0013 8000": "+8613800138000"}
    expected = [f"phone:{hashlib.sha256(f'pepper|phone|{e164[v]}'.encode()).hexdigest()}"
                if v in e164 else None for v in raw]
    monkeypatch.setattr(staging, "PARALLEL_PHONES", 4)
    assert staging.phone_keys(phone, raw, "pepper", workers=3) == expected
    assert staging.phone_keys(phone, raw, "pepper", workers=1) == expected


def test_a_worker_writing_much_to_stderr_does_not_block(monkeypatch):
    """A worker whose stderr fills a pipe (here Python's verbose import trace, hundreds of
    kB) must not block while its keys are read from stdout."""
    import threading

    from cjmlib.collection import staging

    phone = IdentifierType("phone", "phone", True, ())
    raw = ["+44 7700 900123", "07700 900124"] * 4
    monkeypatch.setattr(staging, "PARALLEL_PHONES", 4)
    monkeypatch.setenv("PYTHONVERBOSE", "1")
    result: list = []
    worker = threading.Thread(target=lambda: result.append(
        staging.phone_keys(phone, raw, "pepper", workers=2)), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "phone_keys blocked on a worker's stderr"
    assert result == [staging.phone_keys(phone, raw, "pepper", workers=1)]


def test_python_and_engine_hashes_agree():
    con = duckdb.connect()
    try:
        con.execute("SET VARIABLE cjm_salt = ?", ["pepper"])
        sql = con.execute("SELECT sha256(getvariable('cjm_salt') || '|email|' || 'a@b.com')"
                          ).fetchall()[0][0]
    finally:
        con.close()
    assert hash_identifier("email", "a@b.com", "pepper") == sql
    assert sql == hashlib.sha256(b"pepper|email|a@b.com").hexdigest()


def test_salt_order_argument_then_environment_then_config(monkeypatch):
    cfg = IdentityConfig.from_dict({"salt": "from-config", "salt_env": "CJM_TEST_SALT"})
    monkeypatch.delenv("CJM_TEST_SALT", raising=False)
    assert resolve_salt(None, cfg) == ("from-config", "config")
    monkeypatch.setenv("CJM_TEST_SALT", "from-env")
    assert resolve_salt(None, cfg) == ("from-env", "environment")
    assert resolve_salt("given", cfg) == ("given", "argument")
    monkeypatch.delenv("CJM_TEST_SALT")
    with pytest.raises(ValueError, match="no salt for hashing identifiers: set the environment "
                                         "variable CJM_TEST_SALT"):
        resolve_salt(None, IdentityConfig.from_dict({"salt_env": "CJM_TEST_SALT"}))


def test_unknown_identity_option_is_named():
    with pytest.raises(ValueError, match=r"identity.types.email: unknown option\(s\) "
                                         r"\['placeholder'\]"):
        IdentityConfig.from_dict({"types": {"email": {"placeholder": ["x"]}}})


def _stitch(records, *, limit=50, salt="s"):
    """Run stitch on (source, [keys]) records held in a DuckDB table."""
    cfg = IdentityConfig.from_dict({"max_identifiers_per_customer": limit, "salt": salt})
    con = duckdb.connect()
    try:
        con.execute("SET VARIABLE cjm_salt = ?", [salt])
        con.execute("CREATE TABLE r (_source VARCHAR, _keys VARCHAR[])")
        for src, keys in records:
            con.execute("INSERT INTO r VALUES (?, ?)", [src, keys])
        return stitch(con, "SELECT _source, _keys FROM r", cfg, fetch=True)
    finally:
        con.close()


def _customer_of(result):
    return dict(zip(result.keys.column("key").to_pylist(),
                    result.keys.column("customer_id").to_pylist(), strict=True))


def test_components_link_transitively():
    """crm:A-cookie:1 and cookie:1-device:X are one person; cookie:2 alone is another."""
    res = _stitch([("web", ["crm:A", "cookie:1"]), ("app", ["cookie:1", "device:X"]),
                   ("web", ["cookie:2"])])
    c = _customer_of(res)
    assert c["crm:A"] == c["cookie:1"] == c["device:X"]
    assert c["cookie:2"] != c["crm:A"]
    assert res.stats["customers"] == 2
    assert res.customers.num_rows == 2


def test_customer_key_is_deterministic_and_anchored_on_crm_id():
    a = _stitch([("web", ["crm:A", "cookie:1"]), ("web", ["cookie:9"])])
    b = _stitch([("web", ["cookie:9"]), ("crm", ["crm:A"]), ("web", ["cookie:1", "crm:A"])])
    assert _customer_of(a)["crm:A"] == _customer_of(b)["crm:A"]
    expected = "cu_" + hashlib.sha256(b"s|customer|crm:A").hexdigest()[:20]
    assert _customer_of(a)["crm:A"] == expected
    # a new cookie joining the customer does not change the key
    c = _stitch([("web", ["crm:A", "cookie:1"]), ("web", ["crm:A", "cookie:NEW"])])
    assert _customer_of(c)["crm:A"] == expected


def test_giant_component_is_refused_and_reported():
    """60 CRM customers share one e-mail missing from the placeholder list: not one customer."""
    records = [("crm", [f"crm:C{i:03d}", "email:shared"]) for i in range(60)]
    records += [("web", [f"crm:C{i:03d}", f"cookie:{i}"]) for i in range(60)]
    res = _stitch(records, limit=10)
    assert res.stats["customers"] == 120 - 60  # each CRM id with its cookie
    assert res.blocked == ["email:shared"]
    assert res.giants and res.giants[0]["identifiers"] == 121
    assert res.giants[0]["top_identifiers"][0]["type"] == "email"
    audit = res.audit.to_pandas()
    blocked = audit[audit["status"] == "blocked_shared_identifier"]
    assert len(blocked) == 1 and blocked["customer_id"].isna().all()
    assert blocked["n_records"].iloc[0] == 60


def test_audit_holds_hashes_never_raw_values():
    res = _stitch([("web", ["crm:A", "cookie:GA1.2.3"]), ("crm", ["crm:A", "email:" + "f" * 64])])
    audit = res.audit.to_pandas()
    text = audit.to_string()
    assert "GA1.2.3" not in text and "crm:A" not in text
    assert audit["identifier_hash"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert set(audit["identifier_type"]) == {"crm", "cookie", "email"}
