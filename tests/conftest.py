"""Shared fixtures: one small generated sample per test session, and its ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cjmlib.collection.assembly import collect
from cjmlib.sample.generator import make_sample

SAMPLE_CUSTOMERS = 1500
SAMPLE_SEED = 7


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw sample (1,500 people, seed 7) with ground_truth.json and ground_truth/."""
    out = tmp_path_factory.mktemp("sample") / "raw"
    make_sample(out, n_customers=SAMPLE_CUSTOMERS, seed=SAMPLE_SEED)
    return out


@pytest.fixture(scope="session")
def ground_truth(sample_dir: Path) -> dict:
    """The planted truth of :func:`sample_dir`."""
    return json.loads((sample_dir / "ground_truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def processed_dir(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Canonical tables collected from :func:`sample_dir` by ``cjmlib.collection.assembly.collect``."""
    out = tmp_path_factory.mktemp("processed")
    collect(sample_dir, processed_dir=out)
    return out
