"""Canonical names: gazetteer aliases (configs/lexicons) plus the document's own "全称（简称）" pairs."""
from __future__ import annotations

from pipeline.records import Entity


def link_document(entities: list[Entity], alias_to_canonical: dict[str, str]) -> list[Entity]:
    """Give every entity one canonical name across the document.

    Order of evidence: a bracket pair found in this document (the rules set canonical on both mentions),
    then the gazetteer's alias table, then an earlier mention's canonical for the same surface text."""
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
        canonical = by_surface.get(e.text) or alias_to_canonical.get(e.text) or e.canonical or e.text
        # A canonical that is itself an alias (中国科大 → 中国科学技术大学) resolves one more step.
        canonical = alias_to_canonical.get(canonical, canonical)
        e.canonical = canonical
        by_surface.setdefault(e.text, canonical)
    return entities
