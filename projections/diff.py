"""Structured differences between two governance states: what was added, removed and changed."""

from __future__ import annotations

from typing import Any

SECTIONS = ("partners", "members", "roles", "mandates", "agreements", "decisions", "reflections")
# Bookkeeping that changes with every fold but says nothing about governance.
IGNORED_FIELDS = frozenset({"version_since"})


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    changes = {}
    for field in sorted(set(before) | set(after)):
        if field in IGNORED_FIELDS:
            continue
        old, new = before.get(field), after.get(field)
        if old != new:
            changes[field] = {"from": old, "to": new}
    return changes


def diff_states(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Every difference, one entry each: {section, id, change: added|removed|changed, ...}."""
    entries: list[dict[str, Any]] = []
    compass = _changed_fields(before.get("collaboration") or {}, after.get("collaboration") or {})
    if compass:
        entries.append({"section": "collaboration", "id": None, "change": "changed",
                        "fields": compass})  # fmt: skip
    if (before.get("phase") or {}).get("name") != (after.get("phase") or {}).get("name"):
        entries.append({"section": "phase", "id": None, "change": "changed",
                        "fields": {"name": {"from": (before.get("phase") or {}).get("name"),
                                            "to": (after.get("phase") or {}).get("name")}}})  # fmt: skip
    for section in SECTIONS:
        old, new = before.get(section, {}), after.get(section, {})
        for item_id in sorted(set(old) | set(new)):
            if item_id not in old:
                entries.append({"section": section, "id": item_id, "change": "added",
                                "value": new[item_id]})  # fmt: skip
            elif item_id not in new:
                entries.append({"section": section, "id": item_id, "change": "removed",
                                "value": old[item_id]})  # fmt: skip
            else:
                fields = _changed_fields(old[item_id], new[item_id])
                if fields:
                    entries.append({"section": section, "id": item_id, "change": "changed",
                                    "fields": fields})  # fmt: skip
    return entries
