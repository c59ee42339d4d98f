"""Identity stitching: identifiers from every source joined into one pseudonymous customer key.

Each raw record carries one or more identifiers (CRM account number, e-mail, phone, app
device, web cookie, social handle). A record carrying several of them says they belong to the
same person, so identifiers are the nodes of a graph and records its edges; the connected
components of that graph (``scipy.sparse.csgraph.connected_components``, a breadth-first
search, Cormen et al. 2009, ch. 22) are the customers. This is the deterministic
("rule-based") identity resolution of customer-data platforms, not a probabilistic record
linkage (Fellegi & Sunter 1969): two records are the same customer only when they share a
normalised identifier.

Before matching, identifiers are normalised (e-mails trimmed and lower-cased, phones parsed to
E.164 with ``phonenumbers``) and known placeholders (``noemail@example.com``, ``00000000000``)
are dropped, because a placeholder shared by hundreds of people would otherwise merge them.
E-mails and phones never leave the raw data: they become salted SHA-256 hashes at the first
read (:func:`hash_identifier`), and processed tables, the quarantine and the audit table hold
only hashes. The salt comes from the ``salt`` argument, else the environment variable named in
the config (``CJM_SALT`` by default), else the config's ``salt``.

A guard refuses to merge giant components (more identifiers than
``max_identifiers_per_customer``): it blocks the most-connected identifiers inside them (a
shared family e-mail, a shop's phone, a placeholder missing from the config) until every part
is small again, and reports what it blocked. Records that only carry blocked identifiers cannot
be attributed and go to quarantine as ``ambiguous_identity``.

The customer key is deterministic: ``cu_`` + 20 hex digits of the salted hash of the
component's anchor, its highest-priority identifier (the order of ``identity.types`` in
``configs/sources.yaml``: CRM id first), so the same inputs and salt give the same keys and a
customer keeps its key when a new cookie joins.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

Normaliser = Literal["email", "phone", "upper", "lower", "strip"]

#: Identifier types whose raw values are personal data: hashed at the first read.
DEFAULT_PII_TYPES = ("email", "phone")
DEFAULT_SALT_ENV = "CJM_SALT"
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class IdentifierType:
    """One kind of identifier: how to normalise it and which values are placeholders."""

    name: str
    normalise: Normaliser = "strip"
    pii: bool = False
    placeholders: tuple[str, ...] = ()
    default_region: str = "GB"

    def clean(self, value: object) -> str | None:
        """Normalised value, or ``None`` for empty, invalid or placeholder values.

        >>> IdentifierType("email", "email", placeholders=("noemail@example.com",)).clean(
        ...     " Amelia.Jones@Outlook.Com ")
        'amelia.jones@outlook.com'
        >>> IdentifierType("email", "email", placeholders=("noemail@example.com",)).clean(
        ...     "NoEmail@example.com") is None
        True
        """
        out = _normalise(value, self.normalise, self.default_region)
        if out is None or out in self.placeholder_values:
            return None
        return out

    @cached_property
    def placeholder_values(self) -> frozenset[str]:
        """Placeholders after normalisation (placeholders that do not parse stay as typed);
        computed once per type, as :meth:`clean` runs for every distinct raw value."""
        values = set()
        for p in self.placeholders:
            values.add(p)
            n = _normalise(p, self.normalise, self.default_region)
            if n is not None:
                values.add(n)
        return frozenset(values)


@dataclass(frozen=True)
class IdentityConfig:
    """The ``identity`` block of ``configs/sources.yaml``."""

    types: tuple[IdentifierType, ...]
    max_identifiers_per_customer: int = 50
    salt_env: str = DEFAULT_SALT_ENV
    salt: str | None = None

    def type(self, name: str) -> IdentifierType:
        for t in self.types:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.types)
        raise ValueError(f"unknown identifier type {name!r}; identity.types declares: {known}")

    @property
    def priority(self) -> dict[str, int]:
        """Identifier type -> rank (0 first): which identifier anchors a customer's key."""
        return {t.name: i for i, t in enumerate(self.types)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *,
                  where: str = "identity") -> IdentityConfig:
        """Read the ``identity`` block; errors name the offending key."""
        data = dict(data or {})
        raw_types = data.pop("types", None)
        if not raw_types:
            raw_types = {"crm": {"normalise": "upper"}, "email": {"normalise": "email"},
                         "phone": {"normalise": "phone"}, "device": {}, "cookie": {},
                         "handle": {"normalise": "lower"}}
        if not isinstance(raw_types, Mapping):
            raise ValueError(f"{where}.types must be a mapping of identifier type -> options")
        types = []
        for name, opts in raw_types.items():
            opts = dict(opts or {})
            norm = opts.pop("normalise", "email" if name == "email" else
                            "phone" if name == "phone" else "strip")
            if norm not in ("email", "phone", "upper", "lower", "strip"):
                raise ValueError(f"{where}.types.{name}.normalise must be one of 'email', "
                                 f"'phone', 'upper', 'lower', 'strip', got {norm!r}")
            pii = bool(opts.pop("pii", name in DEFAULT_PII_TYPES or norm in ("email", "phone")))
            placeholders = tuple(str(p) for p in (opts.pop("placeholders", None) or ()))
            region = str(opts.pop("default_region", "GB"))
            if opts:
                raise ValueError(f"{where}.types.{name}: unknown option(s) {sorted(opts)}; "
                                 "expected normalise, pii, placeholders, default_region")
            types.append(IdentifierType(str(name), norm, pii, placeholders, region))
        limit = data.pop("max_identifiers_per_customer", 50)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 2:
            raise ValueError(f"{where}.max_identifiers_per_customer must be an integer >= 2, "
                             f"got {limit!r}")
        salt_env = str(data.pop("salt_env", DEFAULT_SALT_ENV))
        salt = data.pop("salt", None)
        if data:
            raise ValueError(f"{where}: unknown option(s) {sorted(data)}; expected types, "
                             "max_identifiers_per_customer, salt_env, salt")
        return cls(tuple(types), limit, salt_env, None if salt is None else str(salt))


def _normalise(value: object, how: str, region: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    text = str(value).strip()
    if not text:
        return None
    if how == "email":
        return normalise_email(text)
    if how == "phone":
        return normalise_phone(text, default_region=region)
    if how == "upper":
        return text.upper()
    if how == "lower":
        return text.lower()
    return text


def normalise_email(value: object) -> str | None:
    """Trimmed, lower-cased e-mail address, or ``None`` when it is not an address.

    Only case and surrounding spaces are normalised: provider rules (dots in Gmail local parts,
    ``+tags``) differ between providers and would merge distinct people.

    >>> normalise_email(" Amelia.Johnson2005@Outlook.Com ")
    'amelia.johnson2005@outlook.com'
    >>> normalise_email("not an address") is None
    True
    """
    if value is None:
        return None
    text = str(value).strip().lower()
    return text if _EMAIL_RE.fullmatch(text) else None


def normalise_phone(value: object, *, default_region: str = "GB") -> str | None:
    """Phone number in E.164 (``+447700900123``), or ``None`` when it cannot be a number.

    National formats are read in ``default_region``; ``00`` international prefixes and ``+``
    forms keep their own country. Parsing and the possibility (length) check are
    ``phonenumbers`` (a port of Google's libphonenumber); its stricter validity check is not
    used because real numbers from new ranges fail it. Numbers made of one repeated digit are
    filler, not identifiers.

    >>> [normalise_phone(x) for x in ["+44 7700 900123", "07700900123", "(07700) 900-123"]]
    ['+447700900123', '+447700900123', '+447700900123']
    >>> normalise_phone("0086 13800138000"), normalise_phone("+86-138-0013-8000")
    ('+8613800138000', '+8613800138000')
    >>> normalise_phone("00000000000") is None
    True
    """
    import phonenumbers

    if value is None:
        return None
    text = str(value).strip()
    if not text or not any(ch.isdigit() for ch in text):
        return None
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    if len(set(str(number.national_number))) == 1:  # 0000000000, 1111111111: typed filler
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def hash_identifier(kind: str, value: str, salt: str) -> str:
    """Salted SHA-256 (hex) of a normalised identifier: ``sha256(salt|kind|value)``.

    The same formula runs inside DuckDB (:func:`hash_sql`), so a value hashed in Python and
    one hashed in the engine match.

    >>> hash_identifier("email", "a@b.com", "s")[:12]
    'a75aef7c8b0f'
    """
    return hashlib.sha256(f"{salt}|{kind}|{value}".encode()).hexdigest()


def hash_sql(kind: str, expr: str) -> str:
    """DuckDB expression of :func:`hash_identifier` (the salt is the ``cjm_salt`` variable)."""
    return f"sha256(getvariable('cjm_salt') || '|{kind}|' || ({expr}))"


def resolve_salt(salt: str | None, config: IdentityConfig) -> tuple[str, str]:
    """The salt and where it came from: ``argument``, ``environment`` or ``config``."""
    if salt is not None:
        if not isinstance(salt, str) or not salt:
            raise ValueError(f"salt must be a non-empty string, got {salt!r}")
        return salt, "argument"
    env = os.environ.get(config.salt_env)
    if env:
        return env, "environment"
    if config.salt:
        return config.salt, "config"
    raise ValueError(
        f"no salt for hashing identifiers: set the environment variable {config.salt_env} "
        "or identity.salt in the sources config, or pass salt=")


# --------------------------------------------------------------------------------------------
# Graph
# --------------------------------------------------------------------------------------------


@dataclass
class StitchResult:
    """Connected components of the identifier graph, as customers.

    The tables live in the DuckDB connection given to :func:`stitch` (temporary tables, so a
    graph of millions of identifiers never passes through pandas):

    * ``_id_keymap`` (``key``, ``customer_id``): every linked identifier key and its customer;
    * ``_id_customers`` (``customer_id``, ``n_identifiers``, ``identifier_types``): one row per
      customer;
    * ``_id_audit`` (``customer_id``, ``identifier_type``, ``identifier_hash``, ``n_records``,
      ``sources``, ``status``): one row per identifier, blocked ones with ``status``
      ``blocked_shared_identifier`` and no customer.

    With ``stitch(..., fetch=True)`` the three tables are also returned as ``pyarrow.Table``
    in ``keys``, ``customers`` and ``audit``. ``blocked`` lists the identifier keys the
    giant-component guard refused to use and ``giants`` has one dict per refused component.
    """

    blocked: list[str]
    giants: list[dict[str, Any]]
    stats: dict[str, Any] = field(default_factory=dict)
    keys: Any = None
    customers: Any = None
    audit: Any = None


def customers_of(values: Iterable[object], identifier_type: str, audit: Any,
                 config: IdentityConfig, *, salt: str | None = None) -> list[str | None]:
    """The customer ids of raw identifier values from outside the collection (an A/B tool's
    user ids, a campaign list's household numbers), as collection would stitch them: each
    value is normalised as its ``identifier_type`` says, hashed with the project's salt and
    looked up in the identity audit (``identity_audit.parquet`` or its frame). A value the
    collected data never saw, or one blocked as shared, gives None.
    """
    import pandas as pd

    kind = config.type(identifier_type)
    salt_value, _ = resolve_salt(salt, config)
    table = audit if isinstance(audit, pd.DataFrame) else pd.read_parquet(audit)
    table = table[(table["identifier_type"] == identifier_type)
                  & table["customer_id"].notna()]
    lookup = dict(zip(table["identifier_hash"], table["customer_id"], strict=True))
    out: list[str | None] = []
    for value in values:
        clean = kind.clean(value)
        out.append(None if clean is None
                   else lookup.get(hash_identifier(identifier_type, clean, salt_value)))
    return out


def key_type(key: str) -> str:
    """Identifier type of a graph key ``type:value``."""
    return key.split(":", 1)[0]


def stitch(con: Any, records_sql: str, config: IdentityConfig,
           *, max_rounds: int = 4, fetch: bool = False) -> StitchResult:
    """Stitch identifiers into customers inside DuckDB; connected components in scipy.

    ``records_sql`` is a query over the accepted records with columns ``_source`` and
    ``_keys`` (a list of identifier keys ``type:value``, highest priority first); ``con`` must
    hold the salt in the ``cjm_salt`` variable (``SET VARIABLE cjm_salt = ?``). Each record
    links its first key to each other key (a star: the same components as linking every
    pair). Only integer edge arrays come back to Python. Returns a :class:`StitchResult`; the
    tables stay in ``con``.
    """
    blocked: list[str] = []
    giants: list[dict[str, Any]] = []
    limit = config.max_identifiers_per_customer
    # records repeat the same identifiers (a customer's events): the graph is built from each
    # distinct (source, keys) once, with its number of records
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _id_records AS
                    SELECT _source, _keys, count(*)::BIGINT AS _n FROM ({records_sql})
                    GROUP BY _source, _keys""")
    records_sql = "SELECT _source, _keys, _n FROM _id_records"
    for round_no in range(max_rounds + 1):
        n, a, b = _build_graph(con, records_sql, blocked, config)
        labels, n_comp = _components(n, a, b)
        sizes = np.bincount(labels, minlength=n_comp)
        oversize = np.flatnonzero(sizes > limit)
        if oversize.size == 0:
            break
        degree = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
        members = np.flatnonzero(np.isin(labels, oversize))
        keys = _keys_of(con, members)
        if round_no == max_rounds:
            # the guard could not split them: block every identifier of what is left
            blocked = sorted(set(blocked) | set(keys.values()))
            n, a, b = _build_graph(con, records_sql, blocked, config)
            labels, n_comp = _components(n, a, b)
            break
        new = _break_giants(labels, a, b, oversize, limit, keys)
        for comp in oversize:
            ids = np.flatnonzero(labels == comp)
            top = ids[np.argsort(-degree[ids], kind="stable")[:5]]
            giants.append({
                "identifiers": int(ids.size),
                "top_identifiers": [{"type": key_type(keys[i]), "links": int(degree[i])}
                                    for i in top],
                "action": "not merged: most-connected identifiers blocked",
            })
        blocked = sorted(set(blocked) | set(new))
    _customer_tables(con, labels, config, blocked, records_sql)
    con.execute("DROP TABLE IF EXISTS _id_records")
    stats = _stats(con, config, blocked, giants)
    result = StitchResult(blocked, giants, stats)
    if fetch:
        result.keys = con.sql("SELECT key, customer_id FROM _id_keymap ORDER BY key"
                              ).to_arrow_table()
        result.customers = con.sql("SELECT * FROM _id_customers ORDER BY customer_id"
                                   ).to_arrow_table()
        result.audit = con.sql("SELECT * FROM _id_audit ORDER BY customer_id NULLS LAST, "
                               "identifier_type, identifier_hash").to_arrow_table()
    return result


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_sql_str(v) for v in values) + "]"


def _filtered_sql(records_sql: str, blocked: list[str]) -> str:
    if not blocked:
        return f"SELECT _source, _keys AS keys, _n FROM ({records_sql})"
    lst = _sql_list(blocked)
    return (f"SELECT _source, list_filter(_keys, lambda k: NOT list_contains({lst}, k)) AS keys, "
            f"_n FROM ({records_sql})")


def _prio_sql(config: IdentityConfig) -> str:
    whens = " ".join(f"WHEN '{t.name}' THEN {i}" for i, t in enumerate(config.types))
    return f"CASE split_part(key, ':', 1) {whens} ELSE {len(config.types)} END"


def _key_hash_sql(config: IdentityConfig) -> str:
    """Salted hash of a graph key's value; PII keys already hold one (hashed at the read)."""
    pii = ", ".join("'" + t.name.replace("'", "''") + "'" for t in config.types if t.pii) or "''"
    kind = "split_part(key, ':', 1)"
    value = "substr(key, strpos(key, ':') + 1)"
    return (f"CASE WHEN {kind} IN ({pii}) THEN {value} ELSE sha256(getvariable('cjm_salt') "
            f"|| '|' || {kind} || '|' || {value}) END")


def _build_graph(con: Any, records_sql: str, blocked: list[str], config: IdentityConfig
                 ) -> tuple[int, np.ndarray, np.ndarray]:
    """Create ``_id_nodes`` (key, id, prio, n_records, sources); return node count and edges."""
    filtered = _filtered_sql(records_sql, blocked)
    # the sources of a key as bits (sorted source names), spelled out once per key: a
    # DISTINCT ordered aggregate over every record's keys costs twice as much
    names = [r[0] for r in con.execute(f"SELECT DISTINCT _source FROM ({records_sql}) "
                                       "ORDER BY _source").fetchall()]
    if 0 < len(names) < 63:  # no records, or too many sources for a mask: the plain query
        bit = "CASE _source " + " ".join(f"WHEN {_sql_str(x)} THEN {1 << i}"
                                         for i, x in enumerate(names)) + " END"
        spell = ", ".join(f"CASE WHEN mask & {1 << i} <> 0 THEN {_sql_str(x)} END"
                          for i, x in enumerate(names))
        counted = f"""
            SELECT key, n_records,
                   array_to_string(list_filter([{spell}], lambda x: x IS NOT NULL), ',')
                       AS sources
            FROM (SELECT key, sum(_n)::BIGINT AS n_records, bit_or(_bit) AS mask
                  FROM (SELECT unnest(keys) AS key, _n, ({bit})::BIGINT AS _bit
                        FROM ({filtered}))
                  GROUP BY key)"""
    else:
        counted = f"""
            SELECT key, sum(_n)::BIGINT AS n_records,
                   string_agg(DISTINCT _source, ',' ORDER BY _source) AS sources
            FROM (SELECT _source, unnest(keys) AS key, _n FROM ({filtered})) GROUP BY key"""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _id_nodes AS
        SELECT key, (row_number() OVER (ORDER BY key) - 1)::INTEGER AS id,
               ({_prio_sql(config)})::INTEGER AS prio, n_records, sources
        FROM ({counted})""")
    n = con.execute("SELECT count(*) FROM _id_nodes").fetchall()[0][0]
    edges = con.execute(f"""
        SELECT a.id AS a, b.id AS b FROM (
            SELECT DISTINCT keys[1] AS ka, unnest(keys[2:]) AS kb FROM ({filtered})
            WHERE len(keys) > 1) e
        JOIN _id_nodes a ON a.key = e.ka JOIN _id_nodes b ON b.key = e.kb""").fetchnumpy()
    return (int(n), np.asarray(edges["a"], dtype=np.int64),
            np.asarray(edges["b"], dtype=np.int64))


def _components(n: int, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    graph = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    n_comp, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64), int(n_comp)


def _keys_of(con: Any, ids: np.ndarray) -> dict[int, str]:
    import pyarrow as pa

    con.register("_id_pick_arrow", pa.table({"id": pa.array(ids.astype(np.int32))}))
    try:
        rows = con.execute("SELECT n.id, n.key FROM _id_nodes n SEMI JOIN _id_pick_arrow p "
                           "ON p.id = n.id").fetchall()
    finally:
        con.unregister("_id_pick_arrow")
    return {int(i): str(k) for i, k in rows}


def _break_giants(labels: np.ndarray, a: np.ndarray, b: np.ndarray, oversize: np.ndarray,
                  limit: int, keys: dict[int, str]) -> list[str]:
    """Block the most-connected identifiers of each oversize component until parts fit."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    blocked: list[str] = []
    for comp in oversize:
        members = np.flatnonzero(labels == comp)
        local = {int(g): i for i, g in enumerate(members)}
        inside = np.isin(a, members) & np.isin(b, members)
        la = np.array([local[int(x)] for x in a[inside]], dtype=np.int64)
        lb = np.array([local[int(x)] for x in b[inside]], dtype=np.int64)
        m = members.size
        alive = np.ones(m, dtype=bool)
        for _ in range(m):
            keep = alive[la] & alive[lb]
            g = coo_matrix((np.ones(keep.sum(), dtype=np.int8), (la[keep], lb[keep])),
                           shape=(m, m)).tocsr()
            _, lab = connected_components(g, directed=False)
            if np.bincount(lab[alive]).max() <= limit:
                break
            deg = np.bincount(la[keep], minlength=m) + np.bincount(lb[keep], minlength=m)
            deg[~alive] = -1
            cand = np.flatnonzero(deg == deg.max())
            # highest degree first; ties by key so the choice is deterministic
            pick = min(cand, key=lambda i: keys[int(members[i])])
            alive[pick] = False
            blocked.append(keys[int(members[pick])])
    return blocked


def _customer_tables(con: Any, labels: np.ndarray, config: IdentityConfig,
                     blocked: list[str], records_sql: str) -> None:
    import pyarrow as pa

    con.register("_id_labels_arrow", pa.table({
        "id": pa.array(np.arange(labels.size, dtype=np.int32)),
        "label": pa.array(labels.astype(np.int32))}))
    try:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _id_nodes AS
            SELECT n.*, l.label FROM _id_nodes n JOIN _id_labels_arrow l ON l.id = n.id""")
    finally:
        con.unregister("_id_labels_arrow")
    # identifier types of a customer as a bit mask (one bit per type, in priority order),
    # spelled out once per customer at the end
    n_types = len(config.types)
    names = [t.name for t in config.types] + ["other"]
    spell = ", ".join(f"CASE WHEN mask & {1 << i} <> 0 THEN '{n}' END"
                      for i, n in enumerate(names))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _id_comp AS
        SELECT label,
               'cu_' || substr(sha256(getvariable('cjm_salt') || '|customer|' ||
                               arg_min(key, prio::BIGINT * 4294967296 + id)), 1, 20)
                   AS customer_id,
               count(*)::BIGINT AS n_identifiers,
               bit_or(1::BIGINT << least(prio, {n_types})) AS mask
        FROM _id_nodes GROUP BY label""")
    dup = con.execute("SELECT count(*) - count(DISTINCT customer_id) FROM _id_comp"
                      ).fetchall()[0][0]
    if dup:  # 80-bit keys: a collision would be a bug, never silently merged
        raise RuntimeError("customer key collision; report this with the inputs")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _id_customers AS
        SELECT customer_id, n_identifiers,
               array_to_string(list_filter([{spell}], lambda x: x IS NOT NULL), ',')
                   AS identifier_types
        FROM _id_comp""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _id_keymap AS
        SELECT n.key, c.customer_id FROM _id_nodes n JOIN _id_comp c USING (label)""")
    blocked_rows = ""
    if blocked:
        lst = _sql_list(blocked)
        blocked_rows = f"""
            UNION ALL
            SELECT NULL::VARCHAR, split_part(key, ':', 1), {_key_hash_sql(config)},
                   sum(_n)::BIGINT, string_agg(DISTINCT _source, ',' ORDER BY _source),
                   'blocked_shared_identifier'
            FROM (SELECT unnest(_keys) AS key, _source, _n FROM ({records_sql}))
            WHERE list_contains({lst}, key) GROUP BY key"""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _id_audit AS
        SELECT c.customer_id, split_part(n.key, ':', 1) AS identifier_type,
               {_key_hash_sql(config).replace('key', 'n.key')} AS identifier_hash,
               n.n_records, n.sources, 'linked' AS status
        FROM _id_nodes n JOIN _id_comp c USING (label)
        {blocked_rows}""")
    con.execute("DROP TABLE IF EXISTS _id_comp")


def _stats(con: Any, config: IdentityConfig, blocked: list[str],
           giants: list[dict[str, Any]]) -> dict[str, Any]:
    by_type = dict(con.execute(
        "SELECT identifier_type, count(*) FROM _id_audit WHERE status = 'linked' "
        "GROUP BY 1").fetchall())
    order = [t.name for t in config.types]
    by_type = {t: int(by_type[t]) for t in order if t in by_type} | {
        t: int(v) for t, v in sorted(by_type.items()) if t not in order}
    n_cust, mean, median, top, multi = con.execute(
        "SELECT count(*), coalesce(avg(n_identifiers), 0), coalesce(median(n_identifiers), 0), "
        "coalesce(max(n_identifiers), 0), count(*) FILTER (WHERE n_identifiers > 1) "
        "FROM _id_customers").fetchall()[0]
    return {
        "identifiers": int(sum(by_type.values())),
        "identifiers_by_type": by_type,
        "customers": int(n_cust),
        "identifiers_per_customer": {"mean": round(float(mean), 4), "median": float(median),
                                     "max": int(top)},
        "multi_identifier_customers": int(multi),
        "blocked_identifiers": len(blocked),
        "giant_components": len(giants),
        "max_identifiers_per_customer": config.max_identifiers_per_customer,
        "method": "connected components of the identifier graph "
                  "(scipy.sparse.csgraph.connected_components)",
    }
