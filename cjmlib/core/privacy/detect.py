"""Detectors of personal data in text: one set, used by the scan and by redaction.

Matching rules. Text is read in Unicode NFKC, so full-width digits and letters, ``＠``,
non-breaking and ideographic spaces read as ASCII. E-mails: case-folded, domains compared in
their ASCII (punycode) form, so ``Anna@MÜLLER.de`` is ``anna@xn--mller-kva.de``. Phones:
whole tokens only -- digit groups joined by spaces, dots, slashes, brackets, hyphens and the
Unicode dashes (``07431.519.152``, ``07883 - 358 - 928``, ``+44 (0)7431 519152``), never a
part of a digit run, never glued to a word or number (``cu_…60718293``, ``ORD-0743…``),
never a side of a decimal point -- read by ``phonenumbers`` in the raw data's regions and
compared on the national significant number (E.164 without the country code). Names: a
first and a last name of the same raw row next to each other in either order, with up to
two middle initials (``Ella J. Jackson``, ``Jackson, Ella``; case-insensitive whole words,
up to a few separators or table cell borders between them) or, for CJK names, written
together or with spaces (``王伟``, ``王 伟``). Placeholders (``noemail@example.com``,
``00000000000``, numbers of one repeated digit) are not personal data and are ignored.
Recall and precision are measured in tests/core/test_privacy_fuzz.py, speed in
benchmarks/bench_privacy.py.

``phonenumbers`` is imported on first use.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import pandas as pd

#: Regions whose phones may be written without a country code (UK and China, the sample's).
DEFAULT_REGIONS = ("GB", "CN")

_DIGITS = re.compile(r"\d+")


# --------------------------------------------------------------------------------------------
# The personal data the detectors look for
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PersonalData:
    """Personal data found in the raw exports, normalised for matching.

    ``emails``: addresses as :func:`normalise_email` writes them (case-folded, punycode
    domains); ``phones``: national significant numbers (digits); ``names``: ``(first,
    last)`` pairs, case-folded; ``cjk_names``: CJK full names written together, both orders;
    ``counts``: per raw file, how many values of each kind were read; ``regions``: the
    regions (ISO 3166 codes) phones without a country code are read in, the default first,
    then those of the raw phones by frequency.
    """

    emails: frozenset[str]
    phones: frozenset[str]
    names: frozenset[tuple[str, str]]
    cjk_names: frozenset[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    regions: tuple[str, ...] = DEFAULT_REGIONS

    @cached_property
    def phone_lengths(self) -> tuple[int, ...]:
        """The lengths of the phones' national numbers."""
        return tuple(sorted({len(p) for p in self.phones}))

    @cached_property
    def cjk_sizes(self) -> tuple[int, ...]:
        """The lengths of the CJK names."""
        return tuple(sorted({len(n) for n in self.cjk_names}))

    @cached_property
    def name_words(self) -> frozenset[str]:
        """The first and the last names of :attr:`names`."""
        return frozenset(word for name in self.names for word in name)

    @cached_property
    def phone_numbers(self) -> dict[int, pd.Index] | None:
        """The phones as integers, indexed by their number of digits, for the whole-text test
        of :mod:`~cjmlib.core.privacy.search`; None when a phone is not 1 to 18 ASCII digits."""
        by_length: dict[int, list[str]] = {}
        for phone in self.phones:
            if not (phone.isascii() and phone.isdigit() and len(phone) <= 18):
                return None
            by_length.setdefault(len(phone), []).append(phone)
        return {n: pd.Index(pd.array(v, dtype="string").astype("int64"))
                for n, v in sorted(by_length.items())}

    @property
    def empty(self) -> bool:
        return not (self.emails or self.phones or self.names or self.cjk_names)

    def summary(self) -> pd.DataFrame:
        """Distinct values per kind (never the values themselves)."""
        return pd.DataFrame({"kind": ["email", "phone", "name"],
                             "distinct_values": [len(self.emails), len(self.phones),
                                                 len(self.names) + len(self.cjk_names)]})


# --------------------------------------------------------------------------------------------
# Matching: one set of detectors for the scan and for redaction
# --------------------------------------------------------------------------------------------
_APOSTROPHES = ("\u2019", "\u2018", "\u02bc")
#: Texts longer than this are normalised a block of lines at a time.
_NFKC_BLOCK = 1 << 16


def normalise_text(text: str) -> str:
    """``text`` in Unicode NFKC with straight apostrophes: full-width digits, letters, ``＠``
    and ``．`` become ASCII, non-breaking, thin and ideographic spaces become spaces, so a
    number or an address reads the same however it was typed.

    >>> normalise_text("０７４３１\u3000５１９１５２ O\u2019Brien")
    "07431 519152 O'Brien"
    """
    if text.isascii():  # NFKC keeps ASCII as it is, and it has no curly apostrophes
        return text
    if len(text) > _NFKC_BLOCK:
        # a line feed never composes with its neighbours, so normalising blocks of lines
        # gives the same text; one full-width digit then renormalises the lines of its
        # block that are not ASCII, not a whole table (NFKC returns a text it would not
        # change without rewriting it)
        blocks, at = [], 0
        while at < len(text):
            cut = text.find("\n", at + _NFKC_BLOCK)
            end = len(text) if cut < 0 else cut + 1
            block = text[at:end]
            if not (block.isascii() or unicodedata.is_normalized("NFKC", block)):
                block = "\n".join(line if line.isascii() else unicodedata.normalize(
                    "NFKC", line) for line in block.split("\n"))
            blocks.append(block)
            at = end
        text = "".join(blocks)
    else:
        text = unicodedata.normalize("NFKC", text)
    for curly in _APOSTROPHES:
        text = text.replace(curly, "'")
    return text


def _normalise_with_offsets(text: str) -> tuple[str, list[tuple[int, int]] | None]:
    """:func:`normalise_text` of ``text`` and, for redaction, the ``(start, end)`` in
    ``text`` of the character each character of the result comes from; None when every
    character stays in its place. Each base character is normalised with the combining
    marks that follow it, so a decomposed accent composes as it does in
    :func:`normalise_text`."""
    norm = normalise_text(text)
    # without marks that compose, NFKC can only widen a character: equal lengths mean
    # a character for a character
    if len(norm) == len(text) and not _composing().search(text):
        return norm, None
    out: list[str] = []
    origin: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.combining(text[j]):
            j += 1
        piece = normalise_text(text[i:j])
        out.append(piece)
        origin += [(i, j)] * len(piece)
        i = j
    return "".join(out), origin


@lru_cache(maxsize=1)
def _composing() -> re.Pattern[str]:
    """Characters NFKC may merge with the one before: combining marks, Hangul vowel and
    final jamo."""
    marks = "".join(chr(c) for c in range(0x300, 0x30000) if unicodedata.combining(chr(c)))
    return re.compile("[" + re.escape(marks) + "\u1160-\u11ff\ud7b0-\ud7ff]")


def _is_cjk(char: str) -> bool:
    return "\u2e80" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or (
        "\u3400" <= char <= "\u4dbf")


def _glues(char: str) -> bool:
    """Whether ``char`` next to a digit makes it part of a word or a number (an id such as
    ``cu_0a1b60718293``, ``ORD7431519152``): a digit, ``_`` or a letter of an alphabet.
    CJK characters do not glue: Chinese is written without spaces (``电话07431519152``)."""
    return char.isdigit() or char == "_" or (char.isalpha() and not _is_cjk(char))


# Phones ------------------------------------------------------------------------------------
#: Characters that may separate the digit groups of one phone number (after NFKC):
#: spaces, hyphen-minus, the Unicode hyphens and dashes (‐ ‑ ‒ – — ― −), dots, slashes,
#: brackets; up to four in a row (``07883 - 358 - 928``, ``+44 (0)7431``).
_PHONE_SEPARATORS = " \\-\u2010-\u2015\u2212./()"
_PHONE_RUN = re.compile(rf"\+?\(?\d(?:[{_PHONE_SEPARATORS}]{{0,4}}\d){{6,}}")
_DIGIT_GROUP = re.compile(r"\d+")
#: Joiners that glue a number to a word or number before or after it (``ORD-0743...``,
#: ``12.0743...``, ``0743...-A``).
_JOINERS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015_/.#@")
#: Digits a phone number can have: 7 (short national numbers) to 15 (E.164) plus an
#: international prefix (``00``) or a trunk prefix (``0``).
_PHONE_DIGITS = (7, 17)


@dataclass(frozen=True)
class _Span:
    kind: str
    start: int
    end: int
    masked: str


def normalise_phone(value: Any, *, default_region: str = "GB") -> str | None:
    """National significant number of a phone (digits), or None for placeholders and
    values that are not phone numbers (:func:`phone_and_region` without the region).

    >>> normalise_phone("+44 7644 808806"), normalise_phone("(07644) 808-806")
    ('7644808806', '7644808806')
    >>> normalise_phone("+86 138 1234 5678"), normalise_phone("00000000000")
    ('13812345678', None)
    """
    found = phone_and_region(value, default_region=default_region)
    return found[0] if found else None


def phone_and_region(value: Any, *, default_region: str = "GB") -> tuple[str, str] | None:
    """``(national significant number, region)`` of a phone as ``phonenumbers`` reads it
    (full-width digits allowed); the region is ``default_region`` for a number written
    without a country code or that does not parse; None for placeholders (fewer than 7
    digits, one repeated digit).

    >>> phone_and_region("+86 138 1234 5678"), phone_and_region("０７６４４ ８０８８０６")
    (('13812345678', 'CN'), ('7644808806', 'GB'))
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = normalise_text(str(value)).strip()
    digits = "".join(_DIGITS.findall(text))
    if len(digits) < 7 or len(set(digits)) == 1:
        return None
    found = _plain_phone(text[0] == "+", digits, default_region) if _PLAIN_PHONE.fullmatch(
        text) else None
    if found is not None:
        national, region = found
    else:
        import phonenumbers

        try:
            number = phonenumbers.parse(text, default_region)
            national = str(number.national_number)
            region = phonenumbers.region_code_for_country_code(number.country_code)
        except phonenumbers.NumberParseException:
            national, region = digits.lstrip("0"), default_region
    if len(national) < 7 or len(set(national)) == 1:
        return None
    return national, region if region != "ZZ" else default_region


#: Phones written in ASCII digits, spaces, hyphens and brackets, with or without a ``+``
#: first: how raw exports write them (``+44 7644 808806``, ``(07644) 808-806``).
_PLAIN_PHONE = re.compile(r"\+?[0-9 ()\-]+")


def _plain_phone(plus: bool, digits: str, default_region: str) -> tuple[str, str] | None:
    """``(national significant number, region)`` that ``phonenumbers.parse`` reads in a
    :data:`_PLAIN_PHONE` written with these ``digits`` (after a ``+`` or not), read from the
    digits by the steps ``parse`` takes; None where another step would be taken (an
    international prefix ``00``, a national number starting with the default region's
    country code, a number ``parse`` rejects ...): then ``parse`` itself is asked.

    ``parse`` reads such a text as its digits alone: it starts at the ``+`` or the first
    digit and ends at the last digit; spaces, hyphens and brackets are punctuation it
    drops; no extension can be written without a letter, ``#``, ``,`` or ``;``; three or
    more digits make a viable number. What follows depends on the digits only: the country
    code after a ``+`` (or the default region's), then the national prefix stripped when
    the region's prefix pattern matches (``phonenumbers``' own step, so the same
    rules). tests/core/test_privacy_search.py compares it with ``parse`` on many forms.
    Several times faster than ``parse``, which normalises character by character; a
    500,000-customer export holds about 430,000 distinct phones.
    """
    rules = _region_rules(default_region)
    if rules is None:
        return None
    if plus:
        codes = _calling_codes()
        for width in (1, 2, 3):
            if digits[0] != "0" and (code := codes.get(digits[:width])) is not None:
                break
        else:
            return None
        national = digits[width:]
        read = _calling_code_rules(code)
        if read is None:
            return None
        region, metadata, prefix = read
    else:
        metadata, international, own_code, prefix = rules
        if international is not None and international.match(digits) or digits.startswith(
                own_code):
            return None
        national, region = digits, _calling_code_rules(metadata.country_code)
        if region is None:
            return None
        region = region[0]
    if prefix is not None and prefix.match(national):
        import phonenumbers.phonenumberutil as util

        # parse's own lines: strip the national prefix unless what remains is too short
        _, potential, _ = util._maybe_strip_national_prefix_carrier_code(national, metadata)
        if util._test_number_length(potential, metadata) not in (
                util.ValidationResult.TOO_SHORT, util.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
                util.ValidationResult.INVALID_LENGTH):
            national = potential
    if not 2 <= len(national) <= 17:  # parse's limits on a national number
        return None
    return str(int(national)), region


@lru_cache(maxsize=1)
def _calling_codes() -> dict[str, int]:
    """The country calling codes ``phonenumbers`` knows, by their digits."""
    import phonenumbers

    return {str(c): c for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}


@lru_cache(maxsize=256)
def _region_rules(region: str) -> tuple[Any, re.Pattern[str] | None, str,
                                        re.Pattern[str] | None] | None:
    """The metadata of ``region`` (as ``parse`` is given it), its international prefix and
    national prefix patterns and its country code; None for a region ``phonenumbers``
    does not know or a version whose steps :func:`_plain_phone` does not take."""
    import phonenumbers.phonenumberutil as util
    from phonenumbers.phonemetadata import PhoneMetadata

    steps = ("_maybe_strip_national_prefix_carrier_code", "_test_number_length",
             "ValidationResult")
    if not all(hasattr(util, step) for step in steps) or not util._is_valid_region_code(
            region):
        return None
    metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
    if metadata is None:
        return None
    international = metadata.international_prefix
    prefix = metadata.national_prefix_for_parsing
    return (metadata, re.compile(international) if international is not None else None,
            str(metadata.country_code), re.compile(prefix) if prefix else None)


@lru_cache(maxsize=256)
def _calling_code_rules(code: int) -> tuple[str, Any, re.Pattern[str] | None] | None:
    """The region of a country calling code (``001`` for non-geographic codes), its
    metadata and national prefix pattern, as ``parse`` reads them."""
    import phonenumbers
    from phonenumbers.phonemetadata import PhoneMetadata

    region = phonenumbers.region_code_for_country_code(code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    if metadata is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    return region, metadata, re.compile(prefix) if prefix else None


def _glued(text: str, at: int, step: int) -> bool:
    """Whether the character at ``at`` (a neighbour of a digit run, looking away from it by
    ``step``) glues the run to a word or a number."""
    if not 0 <= at < len(text):
        return False
    char = text[at]
    if _glues(char):
        return True
    after = at + step
    return char in _JOINERS and 0 <= after < len(text) and _glues(text[after])


def _phone_groups(text: str, run: re.Match[str]) -> Iterator[tuple[int, list[re.Match[str]]]]:
    """The digit groups of a run of digits and separators, with where each part begins
    (a leading ``+`` or ``(`` included), cut where only spaces -- two or more: the columns of
    a printed table -- stand between two groups."""
    lead, part = run.start(), []
    for group in _DIGIT_GROUP.finditer(text, run.start(), run.end()):
        if part and group.start() - part[-1].end() >= 2 and not text[
                part[-1].end():group.start()].strip(" "):
            yield lead, part
            lead, part = group.start(), []
        part.append(group)
    yield lead, part


def _is_decimal(text: str, groups: Sequence[re.Match[str]]) -> bool:
    """Two digit groups joined by one dot read as a decimal number (``0.7644808806``,
    ``1234.56``, ``07431519152.5``) unless both have three digits or more and the first
    starts with the trunk prefix 0 (``07431.519152``, a phone)."""
    if len(groups) != 2 or text[groups[0].end():groups[1].start()] != ".":
        return False
    first, second = groups[0].group(), groups[1].group()
    return not (first.startswith("0") and len(first) >= 3 and len(second) >= 3)


def _phone_spans(text: str, is_phone: Any, start: int = 0,
                 end: int | None = None) -> Iterator[tuple[int, int, str]]:
    """``(start, end, national number)`` of the phone numbers written in normalised ``text``
    (in ``text[start:end]`` when given: a part bounded by characters no phone holds).

    A phone is a whole token: a run of digit groups and separators (:data:`_PHONE_RUN`),
    never a part of a digit group, never glued to a word or a number (:func:`_glued`), never
    one side of a decimal point. Within a run, spans of whole groups with 7 to 17 digits are
    tried, longest first, left to right; ``is_phone(written, digits)`` decides, returning
    the national number or None.
    """
    high = _PHONE_DIGITS[1]
    for run in _PHONE_RUN.finditer(text, start, len(text) if end is None else end):
        written = run.group()
        if written.isdigit():  # the common case in tables: one group, no separators
            if len(written) <= high and not _glued(text, run.start() - 1, -1) and not _glued(
                    text, run.end(), 1) and (national := is_phone(written, written)):
                yield run.start(), run.end(), national
            continue
        for lead, groups in _phone_groups(text, run):
            yield from _spans_of_groups(text, lead, groups, is_phone)


def _spans_of_groups(text: str, lead: int, groups: list[re.Match[str]],
                     is_phone: Any) -> Iterator[tuple[int, int, str]]:
    def dot_after(k: int) -> bool:  # 12.07431519152: no phone starts or ends at that dot
        return text[groups[k].end():groups[k + 1].start()] == "."

    last = len(groups) - 1
    first_free = not _glued(text, lead - 1, -1)
    last_free = not _glued(text, groups[last].end(), 1)
    i = 0
    while i <= last:
        found = None
        if (first_free if i == 0 else not dot_after(i - 1)):
            for j in range(last, i - 1, -1):
                if not (last_free if j == last else not dot_after(j)):
                    continue
                digits = "".join(g.group() for g in groups[i:j + 1])
                if not _PHONE_DIGITS[0] <= len(digits) <= _PHONE_DIGITS[1] or _is_decimal(
                        text, groups[i:j + 1]):
                    continue
                start = lead if i == 0 else groups[i].start()
                national = is_phone(text[start:groups[j].end()], digits)
                if national:
                    found = (start, groups[j].end(), national)
                    break
        if found:
            yield found
            i = j + 1
        else:
            i += 1


def _parse_national(written: str, regions: Sequence[str]) -> list[Any]:
    """The numbers ``phonenumbers`` reads in ``written`` in each region (in order).

    Dialling prefixes count only as ``+`` or ``00`` and the trunk prefix 0: China's carrier
    prefixes (``17951``, ``11xx00``, ...) would make the tail of any long id a phone."""
    import phonenumbers

    numbers = []
    for region in regions:
        try:
            number = phonenumbers.parse(written, region, keep_raw_input=True)
        except phonenumbers.NumberParseException:
            continue
        carrier = number.preferred_domestic_carrier_code
        idd = number.country_code_source == phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_IDD
        if not carrier and (not idd or written.lstrip("(").startswith("00")):
            numbers.append(number)
    return numbers


def _dialling_prefix(digits: str) -> bool:
    """Whether ``digits`` may stand before a national number: nothing, the trunk prefix 0,
    or a country code (``44``, ``+44``, ``0044``) followed or not by the trunk prefix in
    brackets (``+44 (0)7431 ...``)."""
    if digits in ("", "0"):
        return True
    if digits.startswith("00"):
        digits = digits[2:]
    return digits in _country_codes() or (
        digits.endswith("0") and digits[:-1] in _country_codes())


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    import phonenumbers

    return frozenset(str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _listed_phone(personal: PersonalData) -> Any:
    """``is_phone`` for :func:`_phone_spans`: the national number when a whole token reads,
    in one of the raw data's regions, as a phone of the raw data (compared on the national
    significant number, E.164 without the country code). The digits must be a listed
    number after a :data:`_dialling_prefix` before ``phonenumbers`` is asked, which keeps a
    scan of large tables fast."""
    phones, lengths, regions = personal.phones, personal.phone_lengths, personal.regions

    def is_phone(written: str, digits: str) -> str | None:
        if not any(digits[-n:] in phones and _dialling_prefix(digits[:-n])
                   for n in lengths if n <= len(digits)):
            return None
        for number in _parse_national(written, regions):
            national = str(number.national_number)
            if national in phones:
                return national
        return None

    return is_phone


def _any_phone(personal: PersonalData | None, regions: Sequence[str]) -> Any:
    """``is_phone`` for redaction: a listed phone (as the scan finds it), or a token that
    ``phonenumbers`` reads, in one of ``regions``, as a possible number when it is written
    with an international prefix (``+``, ``00``) or a trunk prefix (``0``, 9 digits or
    more), else as a valid number (``13812345678``; an order number ``2026`` or a date is
    neither)."""
    import phonenumbers

    listed = _listed_phone(personal) if personal is not None and personal.phones else None

    def is_phone(written: str, digits: str) -> str | None:
        if listed is not None and (national := listed(written, digits)):
            return national
        prefixed = written.lstrip("(").startswith("+") or digits.startswith("0") and (
            len(digits) >= 9)
        check = phonenumbers.is_possible_number if prefixed else phonenumbers.is_valid_number
        for number in _parse_national(written, regions):
            if check(number):
                return str(number.national_number)
        return None

    return is_phone


# E-mails -----------------------------------------------------------------------------------
#: An e-mail address in normalised text: a Latin local part (CJK before it is not part of
#: it: ``联系ann@x.org``) and a domain of letters of any script (IDN), dots or ``。``.
_EMAIL_TEXT = re.compile(
    r"[A-Za-z0-9\u00c0-\u024f._%+\-]+@(?:[^\W_]|-)+(?:[.\u3002](?:[^\W_]|-)+)*"
    r"[.\u3002](?:[^\W_]|-){2,}")


def normalise_email(address: str) -> str:
    """An e-mail address as it is compared: NFKC, case-folded, the domain in its ASCII
    (punycode, IDNA 2003) form, so ``Anna@MÜLLER.de``, ``anna@xn--mller-kva.de`` and
    ``ａｎｎａ＠müller．de`` are one address.

    >>> normalise_email(" Anna@MÜLLER.de "), normalise_email("anna@xn--mller-kva.DE")
    ('anna@xn--mller-kva.de', 'anna@xn--mller-kva.de')
    """
    address = str(address)
    if address.isascii():
        # NFKC keeps ASCII as it is, case folding lowers its letters, and IDNA gives an
        # ASCII domain back as it is (or fails, and the domain is compared as written)
        local, _, domain = address.strip().rpartition("@")
        return f"{local.lower()}@{domain.strip('.').lower()}"
    local, _, domain = normalise_text(address).strip().rpartition("@")
    return f"{local.casefold()}@{_ascii_domain(domain)}"


@lru_cache(maxsize=1 << 14)
def _ascii_domain(domain: str) -> str:
    """The domain of an address as it is compared (a run's addresses share a few domains:
    each is converted once)."""
    domain = domain.replace("\u3002", ".").strip(".")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:  # not a valid IDN: compared as written
        pass
    return domain.casefold()


def _email_spans(text: str, wanted: frozenset[str] | None, start: int = 0,
                 end: int | None = None) -> Iterator[tuple[int, int, str]]:
    """``(start, end, address)`` of the e-mail addresses in normalised ``text`` (only those
    in ``wanted`` when given; in ``text[start:end]`` when given). Chinese is written without
    spaces, so a listed address may be followed by text that reads as more of its domain
    (``ann@x.org谢谢``, ``li@例子.中国的包裹``): the non-ASCII end of the last label is cut
    back one character at a time until the address is found."""
    for match in _EMAIL_TEXT.finditer(text, start, len(text) if end is None else end):
        written = match.group()
        address = normalise_email(written)
        if wanted is not None:
            last_dot = max(written.rfind("."), written.rfind("\u3002"))
            while address not in wanted and len(written) > last_dot + 2 and (
                    not written[-1].isascii()):
                written = written[:-1]
                address = normalise_email(written)
            if address not in wanted:
                continue
        yield match.start(), match.start() + len(written), address


# Names -------------------------------------------------------------------------------------
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]"
                         r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff'\-]*")
_NAME_GAP = re.compile(r"[\s,.;:|/\"'\\]{1,12}")
_CJK_SPACED = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
                         r"(?:\s{0,2}[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])*")
#: Middle initials that may stand between a first and a last name (``Ella J. K. Jackson``).
_MAX_INITIALS = 2


def _name_key(word: str) -> str:
    return normalise_text(word).casefold()


def _latin_name_spans(text: str, names: frozenset[tuple[str, str]], start: int = 0,
                      end: int | None = None) -> Iterator[tuple[int, int, str]]:
    """``(start, end, masked)`` of first and last names of one raw row written next to
    each other in normalised ``text`` (in ``text[start:end]`` when given), in either order,
    as whole words, case-insensitive, with up to :data:`_MAX_INITIALS` middle initials
    between them (``Ella J. Jackson``, ``Jackson, Ella``)."""
    words = list(_LATIN_WORD.finditer(text, start, len(text) if end is None else end))
    keys = [w.group().casefold() for w in words]
    for i in range(len(words) - 1):
        j = i + 1
        while j < len(words) and _NAME_GAP.fullmatch(text[words[j - 1].end():words[j].start()]):
            x, y = keys[i], keys[j]
            if (x, y) in names or (y, x) in names:
                yield words[i].start(), words[j].end(), _mask_name(words[i].group(),
                                                                   words[j].group())
                break
            if len(keys[j]) != 1 or j - i > _MAX_INITIALS:
                break
            j += 1


def _cjk_name_spans(text: str, cjk_names: frozenset[str], sizes: Sequence[int]
                    ) -> Iterator[tuple[int, int, str]]:
    """``(start, end, masked)`` of CJK full names in normalised ``text``, written together or
    with spaces between the characters (``李静``, ``李 静``, ``李　静``)."""
    for run in _CJK_SPACED.finditer(text):
        where = [run.start() + k for k, c in enumerate(run.group()) if not c.isspace()]
        chars = "".join(text[k] for k in where)
        for n in sizes:
            for i in range(len(chars) - n + 1):
                if chars[i:i + n] in cjk_names:
                    yield where[i], where[i + n - 1] + 1, chars[i] + "***"


def _mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def _mask_phone(number: str) -> str:
    return f"***{number[-3:]}"


def _mask_name(a: str, b: str) -> str:
    return f"{a[:1].upper()}*** {b[:1].upper()}***"


def _personal_spans(text: str, personal: PersonalData) -> list[_Span]:
    """Every personal datum of ``personal`` in normalised ``text``: e-mails, phones, Latin
    names, CJK names (in that order)."""
    spans: list[_Span] = []
    if personal.emails and "@" in text:
        spans += [_Span("email", s, e, _mask_email(a))
                  for s, e, a in _email_spans(text, personal.emails)]
    if personal.phones:
        spans += [_Span("phone", s, e, _mask_phone(n))
                  for s, e, n in _phone_spans(text, _listed_phone(personal))]
    if personal.names:
        spans += [_Span("name", s, e, m) for s, e, m in _latin_name_spans(text, personal.names)]
    if personal.cjk_names:
        spans += [_Span("name", s, e, m) for s, e, m in
                  _cjk_name_spans(text, personal.cjk_names, personal.cjk_sizes)]
    return spans


def find_personal_data(text: str, personal: PersonalData) -> list[tuple[str, str]]:
    """``(kind, masked value)`` for every personal datum of ``personal`` found in ``text``.

    The text is read in Unicode NFKC (full-width digits, non-breaking spaces); phones are
    whole tokens read by ``phonenumbers`` in the raw data's regions and compared on the
    national number, so ``07431.519.152``, ``07883 - 358 - 928`` and ``+44 (0)7431 519152``
    are found and the digits inside an id or a score never are; names may carry middle
    initials, CJK names spaces; e-mails may have internationalised domains.

    >>> pd_ = PersonalData(frozenset({"ann.lee@x.org"}), frozenset({"7644808806"}),
    ...                    frozenset({("ann", "lee")}), frozenset({"王伟"}))
    >>> find_personal_data("Mail ANN.LEE@x.org, call 07644 808806; 王伟", pd_)
    [('email', 'a***@x.org'), ('phone', '***806'), ('name', 'A*** L***'), ('name', '王***')]

    (the e-mail address also spells her name, which counts as a second leak)
    """
    return [(s.kind, s.masked) for s in _personal_spans(normalise_text(text), personal)]
