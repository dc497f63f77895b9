"""Every document in knowledge/ says where its facts come from and as of when."""

import re
from pathlib import Path

import pytest
import yaml

from bot.documents import split_front_matter

KNOWLEDGE = Path(__file__).resolve().parents[1] / "knowledge"
DOCS = sorted(KNOWLEDGE.glob("*.md"))
DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def front(path: Path) -> dict:
    meta, body = split_front_matter(path.read_text(encoding="utf-8"))
    assert body.strip(), f"{path.name} has no text"
    return meta


def test_the_knowledge_base_has_the_seed_and_at_least_eight_more_documents():
    assert any(p.name.startswith("cabinet-2022-05-03") for p in DOCS)
    assert len(DOCS) >= 9


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_front_matter_names_sources_and_an_as_of_date(path):
    meta = front(path)
    for key in ("title", "issuer", "date", "as_of", "url", "sources"):
        assert meta.get(key), f"{path.name}: no {key}"
    assert DATE.match(str(meta["as_of"])), f"{path.name}: as_of {meta['as_of']!r} is not a date"
    assert DATE.match(str(meta["date"])), f"{path.name}: date {meta['date']!r} is not a date"
    assert str(meta["url"]).startswith("http")
    assert isinstance(meta["sources"], list) and meta["sources"]
    for src in meta["sources"]:
        assert str(src.get("url", "")).startswith("http"), f"{path.name}: a source without a URL: {src}"
        assert src.get("publisher"), f"{path.name}: a source without a publisher: {src}"
        assert src.get("title"), f"{path.name}: a source without a title: {src}"
        assert src.get("date"), f"{path.name}: a source without a date: {src}"


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_documents_have_sections(path):
    body = split_front_matter(path.read_text(encoding="utf-8"))[1]
    assert re.search(r"^## ", body, re.M), f"{path.name} has no ## sections"


def test_front_matter_is_plain_yaml():
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        block = text.split("---", 2)[1]
        assert isinstance(yaml.safe_load(block), dict)
