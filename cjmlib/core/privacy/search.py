"""The detectors on long texts: the same hits, searched only where a detector can match.

A run's tables come to tens of millions of characters, and every detector of
:mod:`~cjmlib.core.privacy.detect` going over every character took minutes (issue 15: 154 s
after a run of 500,000 customers). :func:`search_text` finds exactly what
:func:`~cjmlib.core.privacy.detect.find_personal_data` finds, in the same order, but first
picks out cheaply, over the whole text at once, the lines a detector can match on, and runs
the detector on those lines only:

* e-mails: the lines holding an ``@``;
* phones: the lines where the national number of a listed phone ends a group of digits with
  a dialling prefix before it, its digits read across separators -- the first test
  :func:`~cjmlib.core.privacy.detect._listed_phone` makes, made for every group of digits
  of the text at once with numpy (:func:`_listed_phone_ends`);
* Latin names: the lines holding a word (as the detector reads words) that is the first or
  the last name of a listed name whose other word the text also holds, with the lines
  between two of them when they are close enough for one name to span them
  (:data:`_NAME_REACH`);
* CJK names: every run of CJK characters, each distinct run once.

Why this finds the same: an e-mail and a phone never hold a line feed, and a line feed neither
glues a number to a word nor joins it to another, so a detector sees the same on a line as in
the whole text; a line the cheap test leaves out cannot hold what the detector looks for.
Texts shorter than :data:`_LONG_TEXT` are searched whole, as the detectors do.
tests/core/test_privacy_search.py checks both against the detectors on planted tables.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np

from cjmlib.core.privacy.detect import (
    _CJK_SPACED,
    _EMAIL_TEXT,
    _LATIN_WORD,
    PersonalData,
    _cjk_name_spans,
    _country_codes,
    _email_spans,
    _latin_name_spans,
    _listed_phone,
    _mask_email,
    _mask_phone,
    _personal_spans,
    _phone_spans,
    _Span,
    normalise_text,
)

#: Texts at least this long are searched line by line; shorter ones whole.
_LONG_TEXT = 50_000
#: Characters that can stand between the two words of one name, at most: three gaps of up to
#: 12 separators and two initials (``Ella J. K. Jackson``); lines closer than this are
#: searched together.
_NAME_REACH = 64


def search_text(text: str, personal: PersonalData) -> list[tuple[str, str]]:
    """``(kind, masked value)`` for every personal datum of ``personal`` in ``text``: the
    same list as :func:`~cjmlib.core.privacy.detect.find_personal_data`, found faster on
    long texts (tables, reports)."""
    return [(s.kind, s.masked) for s in _spans(normalise_text(text), personal)]


def _spans(text: str, personal: PersonalData) -> list[_Span]:
    """:func:`~cjmlib.core.privacy.detect._personal_spans` of normalised ``text``: the same
    spans in the same order."""
    if len(text) < _LONG_TEXT:
        return _personal_spans(text, personal)
    # one byte per character (others read as '?'): line feeds, '@' and ASCII digits are
    # found at the positions they have in the text
    codes = np.frombuffer(text.encode("latin-1", "replace"), dtype=np.uint8)
    breaks = np.flatnonzero(codes == 10)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.append(breaks, len(text)).tolist()
    first = starts.tolist()

    def lines(positions: Any) -> list[int]:
        return np.unique(np.searchsorted(starts, positions, side="right") - 1).tolist()

    spans: list[_Span] = []
    if personal.emails and "@" in text:
        for k in lines(np.flatnonzero(codes == 64)):
            spans += [_Span("email", s, e, _mask_email(a))
                      for s, e, a in _email_spans(text, personal.emails, first[k], ends[k])]
    if personal.phones:
        is_phone = _listed_phone(personal)
        ending = _listed_phone_ends(codes, personal)
        parts = [(0, len(text))] if ending is None else [(first[k], ends[k])
                                                         for k in lines(ending)]
        for a, b in parts:
            spans += [_Span("phone", s, e, _mask_phone(n))
                      for s, e, n in _phone_spans(text, is_phone, a, b)]
    if personal.names:
        for a, b in _name_windows(text, personal, starts, first, ends):
            spans += [_Span("name", s, e, m)
                      for s, e, m in _latin_name_spans(text, personal.names, a, b)]
    if personal.cjk_names:
        found: dict[str, list[tuple[int, int, str]]] = {}
        for run in _CJK_SPACED.finditer(text):
            chars = run.group()
            if chars not in found:
                found[chars] = list(_cjk_name_spans(chars, personal.cjk_names,
                                                    personal.cjk_sizes))
            at = run.start()
            spans += [_Span("name", at + s, at + e, m) for s, e, m in found[chars]]
    return spans


def _listed_phone_ends(codes: Any, personal: PersonalData) -> Any:
    """Positions of the last digit of each group of ASCII digits where a phone the detector
    would take can end; None when the phones are not plain digits (then the whole text is
    searched).

    :func:`~cjmlib.core.privacy.detect._listed_phone` takes a span of whole groups of
    digits only when its last ``n`` digits are a listed number of ``n`` digits and the
    digits before them a dialling prefix (:func:`~cjmlib.core.privacy.detect.
    _dialling_prefix`: none, ``0``, a country code ...). Reading the digits of the whole
    text one after another keeps those of such a span together, so the span ends at one of
    the positions found here: a listed number ends a group, and up to six digits before it
    a group starts with a dialling prefix.
    """
    numbers = personal.phone_numbers
    if numbers is None:
        return None
    at = np.flatnonzero((codes >= 48) & (codes <= 57))
    if not at.size:
        return at
    longest = max(numbers)
    # the digits one after another, after zeros enough to read a number and its prefix
    pad = longest + 6
    digits = np.concatenate((np.zeros(pad, dtype=np.uint8), codes[at] - 48))
    apart = np.diff(at) != 1
    starts = np.concatenate(([True], apart))  # the first digit of each group
    ends = np.append(np.flatnonzero(apart), at.size - 1)  # the last digit of each group
    value = np.zeros(ends.size, dtype=np.int64)  # the last `longest` digits at each end
    for back in range(longest - 1, -1, -1):
        value = value * 10 + digits[ends + pad - back]
    found = []
    for n, index in numbers.items():
        end = ends[index.get_indexer(value % 10**n) >= 0]
        dialled = np.zeros(end.size, dtype=bool)
        for width, prefixes in _dialling_prefixes().items():
            first = end - (n - 1) - width  # where the span starts
            ok = (first >= 0) & starts[np.maximum(first, 0)]
            prefix = np.zeros(end.size, dtype=np.int64)
            for k in range(width):
                prefix = prefix * 10 + digits[first + pad + k]
            dialled |= ok & np.isin(prefix, prefixes)
        found.append(end[dialled])
    return at[np.unique(np.concatenate(found))]


@lru_cache(maxsize=1)
def _dialling_prefixes() -> dict[int, Any]:
    """The digits :func:`~cjmlib.core.privacy.detect._dialling_prefix` takes, as integers by
    their number of digits: none, ``0``, a country code, with ``00`` before it or ``0``
    after it."""
    written = {"", "0"}
    for code in _country_codes():
        written |= {code, code + "0", "00" + code, "00" + code + "0"}
    by_width: dict[int, list[int]] = {}
    for digits in written:
        by_width.setdefault(len(digits), []).append(int(digits or 0))
    return {width: np.array(sorted(v), dtype=np.int64) for width, v in sorted(by_width.items())}


def _name_windows(text: str, personal: PersonalData, starts: Any, first: list[int],
                  ends: list[int]) -> list[tuple[int, int]]:
    """``(start, end)`` of the parts of ``text`` a Latin name can be in: runs of whole lines
    around the words of listed names whose other word the text holds too, lines less than
    :data:`_NAME_REACH` apart searched together."""
    present: dict[str, list[str]] = {}
    for word in set(_LATIN_WORD.findall(text)):
        key = word.casefold()
        if key in personal.name_words:
            present.setdefault(key, []).append(word)
    paired = {w for pair in personal.names if pair[0] in present and pair[1] in present
              for w in pair}
    if not paired:
        return []
    written = [w for key in paired for w in present[key]]
    # every word found starts a match: a match before it would run into it, and a word
    # starts where no letter stands before it among the letters, hyphens and apostrophes
    at = [m.start() for m in re.finditer(_alternation(written), text)]
    windows: list[list[int]] = []
    for k in np.unique(np.searchsorted(starts, at, side="right") - 1).tolist():
        if windows and first[k] - windows[-1][1] <= _NAME_REACH:
            windows[-1][1] = ends[k]
        else:
            windows.append([first[k], ends[k]])
    return [(a, b) for a, b in windows]


def _alternation(words: Iterable[str]) -> str:
    """A regular expression matching any of ``words``, as a trie (``J(?:ames|ohnson)``), so
    that a match does not try the words one after another."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, Any]) -> str:
        branches = [re.escape(c) + pattern(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(trie)


# --------------------------------------------------------------------------------------------
# E-mail addresses of long raw files
# --------------------------------------------------------------------------------------------
#: Bytes (ASCII characters) no e-mail address holds: all but letters, digits, ``._%+-`` and
#: ``@``. An address lies between two of them, so the text between two of them around an
#: ``@`` is all the detector needs to see of it.
_NOT_IN_ADDRESSES = np.ones(256, dtype=bool)
_NOT_IN_ADDRESSES[[ord(c) for c in "@._%+-0123456789"]] = False
_NOT_IN_ADDRESSES[ord("A"):ord("Z") + 1] = _NOT_IN_ADDRESSES[ord("a"):ord("z") + 1] = False
_NOT_IN_ADDRESSES[0x80:] = False  # bytes of other characters
#: An e-mail address in ASCII as :data:`~cjmlib.core.privacy.detect._EMAIL_TEXT` reads one
#: (a local part, one '@', labels of letters, digits and hyphens, the last of two or more),
#: the whole run (Arrow's regular expressions).
_PLAIN_ADDRESS = r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z0-9\-]{2,}$"
#: :data:`_NOT_IN_ADDRESSES` as a ``bytes.translate`` table: 1 for a byte no address holds.
_EDGE_BYTES = _NOT_IN_ADDRESSES.astype(np.uint8).tobytes()
#: Characters of a long text read at a time (bounds the memory the numpy arrays take: the
#: positions of a piece's bytes no address holds, at most 8 bytes per character).
_PIECE = 1 << 24


def written_emails(text: str) -> Counter[str]:
    """How often each e-mail address is written in normalised ``text``, as the detector
    reads them: ``Counter(_EMAIL_TEXT.findall(text))``, found faster in long texts (a raw
    export of millions of e-mail events).

    The detector reads each run of characters that can be in an address (between two
    :data:`_NOT_IN_ADDRESSES`) holding an ``@`` once, however often it recurs; the runs are
    found with numpy and counted with Arrow.
    """
    if "@" not in text:
        return Counter()
    if len(text) < _LONG_TEXT:
        return Counter(_EMAIL_TEXT.findall(text))
    found: Counter[str] = Counter()
    runs = []
    at = 0
    while at < len(text):
        cut = text.find("\n", at + _PIECE)  # no address holds a line feed
        end = len(text) if cut < 0 else cut + 1
        piece, at = text[at:end], end
        try:
            data = piece.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: this piece read by the detector
            found.update(_EMAIL_TEXT.findall(piece))
            continue
        runs += _address_runs(data)
    return _count_runs(runs, found)


def _written_emails_utf8(data: bytes) -> Counter[str]:
    """:func:`written_emails` of the text whose UTF-8 bytes are ``data``, for a text that
    is already normalised (an ASCII file: NFKC keeps ASCII as it is), without decoding it:
    a raw export of 600 MB is looked at where it holds an ``@``."""
    if b"@" not in data:
        return Counter()
    if len(data) < _LONG_TEXT:
        return written_emails(data.decode("utf-8"))
    view = memoryview(data)
    runs = []
    at = 0
    while at < len(data):
        cut = data.find(b"\n", at + _PIECE)
        end = len(data) if cut < 0 else cut + 1
        runs += _address_runs(view[at:end])
        at = end
    return _count_runs(runs, Counter())


def _address_runs(data: Any) -> list[Any]:
    """The runs of address bytes holding an ``@`` in the UTF-8 bytes ``data``, once per
    run (an Arrow array; none when there is no ``@``)."""
    import pyarrow as pa

    codes = np.frombuffer(data, dtype=np.uint8)
    signs = np.flatnonzero(codes == 64)
    if not signs.size:
        return []
    starts, ends = _run_bounds(data, signs)
    # one run for all its '@' (the '@' come in order, so do the starts of their runs)
    first = np.flatnonzero(np.diff(starts, prepend=-1))
    starts = starts[first]
    # the piece cut at the runs' edges, every other part a run
    offsets = np.empty(2 * starts.size + 2, dtype=np.int64)
    offsets[0], offsets[-1] = 0, codes.size
    offsets[1:-1:2], offsets[2:-1:2] = starts, ends[first]
    parts = pa.LargeStringArray.from_buffers(offsets.size - 1, pa.py_buffer(offsets),
                                             pa.py_buffer(data))
    return [parts.take(pa.array(np.arange(1, offsets.size - 1, 2)))]


#: Masks of the bytes of a little-endian 8-byte word below and above the byte at 0 to 7.
_BELOW = np.array([(1 << 8 * b) - 1 for b in range(8)], dtype=np.uint64)
_ABOVE = np.array([~((1 << 8 * (b + 1)) - 1) & (2**64 - 1) for b in range(8)], dtype=np.uint64)


def _run_bounds(data: Any, signs: Any) -> tuple[Any, Any]:
    """For each ``@`` at ``signs`` in the bytes ``data``, where its run of address bytes
    starts and where it ends (the byte after it): the nearest bytes no address holds before
    and after it, or the edges of ``data``.

    The bytes are read 8 at a time: marked 1 where no address holds them
    (``bytes.translate``) and viewed as 64-bit words, so the nearest mark is the highest
    (before) or lowest (after) set byte of a word, found from the word's logarithm; all
    ``@`` walk word by word together, most for a word or two (addresses are short, and
    every run is found however long, the edges of ``data`` marked too)."""
    edge = b"\x01" * 8
    marks = edge + bytes(data).translate(_EDGE_BYTES) + edge + edge[:-len(data) % 8]
    words = np.frombuffer(marks, dtype="<u8")
    at = signs + 8
    where, byte = at >> 3, at & 7

    def walk(word: Any, where: Any, step: int) -> Any:
        found = np.empty(signs.size, dtype=np.int64)
        todo = np.arange(signs.size)
        while todo.size:
            hit = word != 0
            bits = word[hit]
            if step > 0:  # the lowest set byte: its bit isolated
                bits = bits & (~bits + np.uint64(1))
            # a word of 0/1 bytes is below twice its highest set bit: log2 floors to it
            found[todo[hit]] = where[hit] * 8 + (np.log2(bits.astype(np.float64)).astype(
                np.int64) >> 3) - 8
            todo, where = todo[~hit], where[~hit] + step
            word = words[where]
        return found

    starts = walk(words[where] & _BELOW[byte], where, -1) + 1
    ends = walk(words[where] & _ABOVE[byte], where, 1)
    return starts, np.minimum(ends, len(data))


def _count_runs(runs: list[Any], found: Counter[str]) -> Counter[str]:
    """``found`` with the addresses the detector reads in each run, as often as the run
    occurs."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not runs:
        return found
    counts = pc.value_counts(pa.chunked_array(runs, pa.large_string()))
    values, times = counts.field("values"), counts.field("counts")
    # a run that is one plain ASCII address is what the detector reads in it: its local
    # part runs up to the only '@', its labels are read whole (the detector's pattern in
    # ASCII, tried from the run's first byte); other runs are read by the detector
    plain = pc.match_substring_regex(values, _PLAIN_ADDRESS)
    found.update(dict(zip(values.filter(plain).to_pylist(),
                          times.filter(plain).to_pylist(), strict=True)))
    odd = pc.invert(plain)
    for run, n in zip(values.filter(odd).to_pylist(), times.filter(odd).to_pylist(),
                      strict=True):
        for written in _EMAIL_TEXT.findall(run):
            found[written] += n
    return found
