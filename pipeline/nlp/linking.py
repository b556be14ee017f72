"""Canonical names: gazetteer aliases (configs/lexicons) plus the document's own "全称（简称）" pairs, with local
bodies kept at their own level (江苏省能源局 is never 国家能源局)."""
from __future__ import annotations

import re
from collections import Counter
from typing import Optional

from pipeline.records import Entity

# A local body's name: an administrative place (or a bare level word) before a body's name.
_LOCAL = re.compile(r"^(?P<place>[\u4e00-\u9fff]{2,8}?(?:省|市|自治区|自治州|县|区|州|盟|旗)|[省市县区])(?P<rest>.+)$")
# What a national body's canonical name carries that its local counterpart does not.
_NATIONAL_PREFIX = re.compile(r"^(?:中华人民共和国|国务院|国家|中央)")
_PLACE_END = ("省", "市", "自治区")


def document_place(entities: list[Entity]) -> Optional[str]:
    """The province or city the document names most (its GPE mentions ending 省/市/自治区), if any."""
    places = Counter(e.text for e in entities if e.type == "GPE" and e.text.endswith(_PLACE_END) and len(e.text) > 2)
    return places.most_common(1)[0][0] if places else None


def local_canonical(text: str, alias_to_canonical: dict[str, str], place: Optional[str]) -> Optional[str]:
    """江苏省发展改革委 → 江苏省发展和改革委员会; 省发展改革委 → <the document's province>发展和改革委员会 (or
    省发展和改革委员会 when the document names none). None when the text is no local form of a national body."""
    m = _LOCAL.match(text)
    if m is None or m.group("rest") not in alias_to_canonical:
        return None
    body = _NATIONAL_PREFIX.sub("", alias_to_canonical[m.group("rest")]) or m.group("rest")
    prefix = m.group("place")
    if len(prefix) == 1 and place and place.endswith(prefix):
        prefix = place
    return prefix + body


def link_document(entities: list[Entity], alias_to_canonical: dict[str, str]) -> list[Entity]:
    """Give every entity one canonical name across the document.

    Order of evidence: a bracket pair found in this document (the rules set canonical on both mentions), then a
    local body's own name (a place or level word before a national body's alias), then the gazetteer's alias
    table, then an earlier mention's canonical for the same surface text."""
    place = document_place(entities)
    by_surface: dict[str, str] = {}
    for e in entities:
        if e.type in ("FIGURE", "DATE"):
            continue
        if e.source == "bracket" and e.canonical:
            by_surface[e.text] = e.canonical
    for e in entities:
        if e.type in ("FIGURE", "DATE"):
            e.canonical = e.canonical or e.text
            continue
        local = local_canonical(e.text, alias_to_canonical, place) if e.type == "INSTITUTION" else None
        canonical = by_surface.get(e.text) or local or alias_to_canonical.get(e.text) or e.canonical or e.text
        # A canonical that is itself an alias (中国科大 → 中国科学技术大学) resolves one more step.
        canonical = canonical if local else alias_to_canonical.get(canonical, canonical)
        e.canonical = canonical
        by_surface.setdefault(e.text, canonical)
    return entities
