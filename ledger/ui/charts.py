"""Charts as plain geometry for server-side SVG: a shared time axis, rows of bars and marks.

The views gather tenures, partners and agreement lives from the read models; this module only
places them, so the SVG reads the same with or without JavaScript.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ledger.ui.i18n import MONTHS, day_label, text

WIDTH = 960
LABEL_WIDTH = 210
PLOT_RIGHT = WIDTH - 20
TOP = 34
ROW_HEIGHT = 38
BAR_HEIGHT = 20
TONES = 7  # colour classes tone-0 … tone-6 in ui.css
DENSE = TONES  # tone-7: many short tenures drawn as one bar
MIN_BAR = 3.0  # narrower than this, a tenure is drawn together with its narrow neighbours
HORIZON = timedelta(days=365)  # review dates further ahead do not stretch the axis
CHAR_WIDTH = 6.6  # average width of a 12px label, to decide whether it fits in its bar


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Axis:
    start: date
    end: date

    def x(self, day: date) -> float:
        total = max((self.end - self.start).days, 1)
        clamped = min(max(day, self.start), self.end)
        return round(
            LABEL_WIDTH + (clamped - self.start).days / total * (PLOT_RIGHT - LABEL_WIDTH), 1
        )

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def ticks(self, lang: str) -> list[Tick]:
        months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month
        step = max(1, -(-months // 12))
        ticks: list[Tick] = []
        year, month, first = self.start.year, self.start.month, True
        while True:
            month += 1
            if month > 12:
                year, month = year + 1, 1
            day = date(year, month, 1)
            if day > self.end:
                return ticks
            if (month - 1) % step == 0:
                name = MONTHS[lang][month - 1]
                ticks.append(Tick(self.x(day), f"{name} {year}" if month == 1 or first else name))
                first = False


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    label: str
    title: str
    tone: int
    fits: bool


@dataclass(frozen=True)
class Mark:
    x: float
    kind: str  # amended, corrected, reviewed, review_date, ended
    title: str


@dataclass(frozen=True)
class Row:
    y: float
    label: str
    sublabel: str
    bars: list[Bar]
    marks: list[Mark] = field(default_factory=list)


@dataclass(frozen=True)
class Band:
    x: float
    width: float
    label: str
    tone: int


@dataclass(frozen=True)
class Chart:
    rows: list[Row]
    ticks: list[Tick]
    today_x: float | None
    height: float
    bands: list[Band] = field(default_factory=list)


def day(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def span_title(lang: str, name: str, start: date, end: date | None) -> str:
    """What a bar's tooltip says: whose, from when, until when (or still open)."""
    return f"{name}: {day_label(lang, start)} – {day_label(lang, end) if end else '…'}"


def axis_for(days: Iterable[date | None], today: date) -> Axis:
    """From the first day to the last (at least today, at most a year ahead), with a little
    room on both sides."""
    horizon = today + HORIZON
    known = [d for d in days if d is not None and d <= horizon] + [today]
    start, end = min(known), max(known)
    pad = timedelta(days=max(7, (end - start).days // 40))
    return Axis(start - pad, end + pad)


def bar(axis: Axis, start: date, end: date | None, label: str, title: str, tone: int) -> Bar:
    x = axis.x(start)
    width = max(axis.x(end or axis.end) - x, 2.0)
    shade = tone if tone == DENSE else tone % TONES
    fits = bool(label) and len(label) * CHAR_WIDTH + 8 < width
    return Bar(x, round(width, 1), label, title, shade, fits)


def chart(axis: Axis, rows: Sequence[Row], lang: str, today: date,
          bands: Sequence[Band] = ()) -> Chart:  # fmt: skip
    height = TOP + len(rows) * ROW_HEIGHT + 10
    today_x = axis.x(today) if axis.contains(today) else None
    return Chart(list(rows), axis.ticks(lang), today_x, height, list(bands))


def row_y(index: int) -> float:
    return TOP + index * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2


def tenure_chart(axis: Axis, roles: Sequence[Mapping[str, Any]],
                 histories: Mapping[str, Mapping[str, Any]], lang: str, today: date) -> Chart:  # fmt: skip
    """One row per role; a bar per tenure, coloured per person. Tenures too short to see at
    this scale are drawn together as one grey bar that says how many they are."""
    people = sorted({t["person_id"] for h in histories.values() for t in h["tenures"]})
    tone = {person: index for index, person in enumerate(people)}
    rows = []
    for index, role in enumerate(roles):
        bars = []
        for group in _visible_groups(axis, histories[role["role_id"]]["tenures"]):
            start, end = day(group[0]["from"]), day(group[-1]["to"])
            if start is None:
                continue
            if len(group) == 1:
                name = group[0].get("name") or group[0]["person_id"]
                bars.append(bar(axis, start, end, name, span_title(lang, name, start, end),
                                tone[group[0]["person_id"]]))  # fmt: skip
            else:
                label = text(lang, "tenures", n=len(group))
                bars.append(
                    bar(axis, start, end, label, span_title(lang, label, start, end), DENSE)
                )
        rows.append(Row(row_y(index), role["name"], "", bars))
    return chart(axis, rows, lang, today)


def _visible_groups(
    axis: Axis, tenures: Sequence[Mapping[str, Any]]
) -> list[list[Mapping[str, Any]]]:
    """Tenures one by one, except runs of those narrower than MIN_BAR, which go together."""
    groups: list[list[Mapping[str, Any]]] = []
    narrow_run = False
    for tenure in tenures:
        start = day(tenure["from"])
        if start is None:
            continue
        width = axis.x(day(tenure["to"]) or axis.end) - axis.x(start)
        narrow = width < MIN_BAR
        if narrow and narrow_run:
            groups[-1].append(tenure)
        else:
            groups.append([tenure])
        narrow_run = narrow
    return groups


def partner_chart(axis: Axis, partners: Sequence[Mapping[str, Any]],
                  phases: Sequence[Mapping[str, Any]], capacities: Mapping[str, str],
                  lang: str, today: date) -> Chart:  # fmt: skip
    """Phases as background bands; a bar per partner from joining to leaving."""
    bands = []
    for index, phase in enumerate(phases):
        start = day(phase["since"])
        if start is not None:
            x = axis.x(start)
            ended = day(phase.get("ended_at")) or axis.end
            bands.append(Band(x, round(axis.x(ended) - x, 1), phase["name"], index % 2))
    rows = []
    for index, partner in enumerate(partners):
        start, end = day(partner["since"]), day(partner.get("left_at"))
        if start is None:
            continue
        title = span_title(lang, partner["name"], start, end)
        rows.append(Row(row_y(index), partner["name"], capacities[partner["partner_id"]],
                        [bar(axis, start, end, "", title, index)]))  # fmt: skip
    return chart(axis, rows, lang, today, bands)


LIFE_MARKS = {"AgreementAmended": "amended", "AgreementCorrected": "corrected",
              "AgreementReviewed": "reviewed"}  # fmt: skip


def agreement_chart(axis: Axis, agreements: Sequence[Mapping[str, Any]],
                    lives: Mapping[str, Sequence[Mapping[str, Any]]], labels: Mapping[str, str],
                    lang: str, today: date) -> Chart:  # fmt: skip
    """A bar per agreement from made to ended (or expired); marks for what happened to it."""
    rows = []
    for index, agreement in enumerate(agreements):
        life = lives[agreement["agreement_id"]]
        start = day(life[0]["effective_at"]) if life else None
        if start is None:
            continue
        end = day(agreement.get("ended_at")) or _expired_on(agreement, today)
        title = span_title(lang, agreement["title"], start, end)
        marks = list(_life_marks(axis, life, labels, lang))
        rows.append(Row(row_y(index), agreement["title"], labels[agreement["formality"]],
                        [bar(axis, start, end, "", title, index)], marks))  # fmt: skip
    return chart(axis, rows, lang, today)


def _expired_on(agreement: Mapping[str, Any], today: date) -> date | None:
    until = day(agreement.get("valid_until"))
    return until if until is not None and until < today else None


def _life_marks(axis: Axis, life: Sequence[Mapping[str, Any]], labels: Mapping[str, str],
                lang: str) -> Iterable[Mark]:  # fmt: skip
    for entry in life:
        kind = LIFE_MARKS.get(entry["type"])
        when = day(entry["effective_at"])
        if kind and when is not None:
            yield Mark(axis.x(when), kind, f"{labels[kind]}: {day_label(lang, when)}")
        data = entry.get("data") or {}
        review = day(data.get("review_on") or data.get("next_review_on"))
        if review is not None and axis.contains(review):
            yield Mark(axis.x(review), "review_date",
                       f"{labels['review_date']}: {day_label(lang, review)}")  # fmt: skip
