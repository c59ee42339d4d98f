"""Privacy: no raw e-mail, phone or name leaves the workbench; small groups stay hidden.

Three tools, in five modules (each imports only the ones above it):

* :mod:`~cjmlib.core.privacy.detect` -- the one set of detectors, used by the scan and by
  redaction: Unicode normalisation, e-mails, phones, names (:func:`find_personal_data`),
  the :class:`PersonalData` they look for, and its matching rules.
* :mod:`~cjmlib.core.privacy.search` -- the same detectors on long texts (tables, large raw
  files), run only where they can match: :func:`search_text` finds what
  :func:`find_personal_data` finds, :func:`written_emails` counts the e-mail addresses of a
  text as the e-mail detector reads them.
* :mod:`~cjmlib.core.privacy.sources` -- :func:`personal_data` reads the raw exports of a
  run and collects the personal data they hold: every e-mail address found anywhere in
  them, the phone numbers of phone-like columns and the full names of name columns.
* :mod:`~cjmlib.core.privacy.scan` -- :func:`scan_outputs` searches every output file of a
  run for any of them and returns the hits *masked* (``g***@icloud.com``, ``***806``,
  ``G*** W***``), so the scan report itself leaks nothing.
* :mod:`~cjmlib.core.privacy.redaction` -- :func:`redact` masks e-mails, phones and (given
  the raw data's personal data) names in free text before it is written or shown;
  :func:`suppress_small_groups` blanks the values of breakdown rows with fewer than
  ``min_size`` units.

Every public name is re-exported here: ``from cjmlib.core.privacy import redact``.
"""

from __future__ import annotations

from cjmlib.core.privacy.detect import (
    DEFAULT_REGIONS,
    PersonalData,
    find_personal_data,
    normalise_email,
    normalise_phone,
    normalise_text,
    phone_and_region,
)
from cjmlib.core.privacy.redaction import redact, redact_column, suppress_small_groups
from cjmlib.core.privacy.scan import PrivacyScan, output_texts, scan_outputs, scan_run
from cjmlib.core.privacy.search import search_text, written_emails
from cjmlib.core.privacy.sources import (
    FIRST_NAME_COLUMNS,
    FULL_NAME_COLUMNS,
    IMAGE_SUFFIXES,
    LAST_NAME_COLUMNS,
    PHONE_COLUMNS,
    PLACEHOLDER_EMAILS,
    PROGRESS_EVERY,
    TEXT_SUFFIXES,
    personal_data,
    personal_data_if_present,
)

__all__ = [
    "DEFAULT_REGIONS",
    "FIRST_NAME_COLUMNS",
    "FULL_NAME_COLUMNS",
    "IMAGE_SUFFIXES",
    "LAST_NAME_COLUMNS",
    "PHONE_COLUMNS",
    "PLACEHOLDER_EMAILS",
    "PROGRESS_EVERY",
    "TEXT_SUFFIXES",
    "PersonalData",
    "PrivacyScan",
    "find_personal_data",
    "normalise_email",
    "normalise_phone",
    "normalise_text",
    "output_texts",
    "personal_data",
    "personal_data_if_present",
    "phone_and_region",
    "redact",
    "redact_column",
    "scan_outputs",
    "scan_run",
    "search_text",
    "suppress_small_groups",
    "written_emails",
]
