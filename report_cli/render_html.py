"""The report APIs' JSON as one self-contained HTML page for business users: inline SVG and CSS, no script, no
external resource, so it opens from a file, a mail attachment or the runner's /reports, and prints.

A pure function of the reports (`render`); every text taken from an answer is escaped. Each number a reader sees
also sits in a `data-*` attribute, so a test (tests/e2e/test_report_browser.py) can check it against the APIs.
Colours are Okabe-Ito (told apart with colour-blindness), and no colour carries meaning alone: every region, band
and flow has its letter written next to it and a <title> for screen readers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from report_cli.history import STATES, History, walk_back

MEANING = {
    "A": ("I + C + T", "known, reachable, traced"),
    "B": ("I + C", "known, reachable"),
    "C": ("I + T", "known, traced"),
    "D": ("C + T", "reachable, traced"),
    "E": ("I", "known only"),
    "F": ("C", "reachable only"),
    "G": ("T", "traced only"),
    "U": ("none", "nothing usable yet"),
}
COLOUR = {  # Okabe-Ito, U in grey
    "A": "#009E73",
    "B": "#0072B2",
    "C": "#56B4E9",
    "D": "#E69F00",
    "E": "#CC79A7",
    "F": "#F0E442",
    "G": "#D55E00",
    "U": "#999999",
    "none": "#BBBBBB",
    "gone": "#666666",
}
DIMENSION_COLOUR = {"I": "#0072B2", "C": "#E69F00", "T": "#009E73"}
FLOW_ORDER = (*STATES, "none", "gone")
DASH = "&#8211;"  # for a missing value; an entity, not the character (ruff RUF001)

CSS = """
:root { color: #1a1a1a; background: #fff; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body { margin: 0 auto; max-width: 1080px; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; } h2 { font-size: 1.25rem; margin: 0 0 .5rem; }
header p, .note { color: #444; margin: .2rem 0; } .note { font-size: .9rem; }
section { border-top: 1px solid #ccc; padding: 1rem 0; break-inside: avoid; }
.figures { display: flex; flex-wrap: wrap; gap: .75rem; margin: 1rem 0; padding: 0; list-style: none; }
.figures li { border: 1px solid #ccc; border-radius: 6px; padding: .5rem .8rem; min-width: 9rem; }
.figures b { display: block; font-size: 1.5rem; }
.pair { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
.pair > * { flex: 1 1 420px; min-width: 0; overflow-x: auto; }
svg { max-width: 100%; height: auto; font-family: inherit; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .55rem; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
.swatch { display: inline-block; width: .9em; height: .9em; border: 1px solid #555; vertical-align: -.1em;
  margin-right: .3em; }
.bar { display: inline-block; height: .8em; background: #0072B2; vertical-align: middle; margin-right: .35em; }
.bar.c { background: #E69F00; } .bar.m { background: #009E73; }
.legend { display: flex; flex-wrap: wrap; gap: .4rem 1rem; padding: 0; list-style: none; font-size: .9rem; }
.empty { font-style: italic; color: #444; }
@media print { body { max-width: none; padding: 0; } section { page-break-inside: avoid; } }
"""


def render(reports: Mapping[str, Any]) -> str:
    """The page for `reports` ({"source", "states", "funnel", "data_quality", "contact_pressure", "programs"})."""
    states, funnel = reports["states"], reports["funnel"]
    by_state = {s: _n(states.get("by_state", {}).get(s)) for s in STATES}
    total = sum(by_state.values())
    history = walk_back(by_state, funnel)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Where are the customers? Profile states report</title>",
        f"<style>{CSS}</style></head><body><main>",
        _header(reports, states, funnel, by_state, total),
        _venn_section(by_state, total),
        _history_section(history),
        _funnel_section(funnel),
        _programs_section(reports.get("programs")),
        _quality_section(reports["data_quality"]),
        _pressure_section(reports["contact_pressure"]),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------- helpers
def _n(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _when(stamp: Any) -> str:
    try:
        return datetime.fromisoformat(str(stamp)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(stamp or "")


def _share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else DASH


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _bar(n: int, largest: int, css: str = "", width_em: float = 8) -> str:
    width = width_em * n / largest if largest else 0
    return f'<span class="bar {css}" style="width:{width:.2f}em" aria-hidden="true"></span>'


def _table(
    caption: str, head: Sequence[str], rows: Iterable[str], numeric: Iterable[int] = (), table_id: str = ""
) -> str:
    right = set(numeric)
    cells = "".join(f'<th scope="col"{" class=n" if i in right else ""}>{_e(h)}</th>' for i, h in enumerate(head))
    ident = f' id="{table_id}"' if table_id else ""
    body = "".join(rows)
    return f"<table{ident}><caption>{_e(caption)}</caption><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


# ---------------------------------------------------------------------- header
def _header(
    reports: Mapping[str, Any],
    states: Mapping[str, Any],
    funnel: Mapping[str, Any],
    by_state: Mapping[str, int],
    total: int,
) -> str:
    moves = funnel.get("totals") or []
    into_a = sum(_n(m.get("profiles")) for m in moves if m.get("to") == "A" and m.get("from") != "A")
    pressure = reports["contact_pressure"]
    contacted = _n((pressure.get("people_contacted") or {}).get("last_30_days"))
    hits = sum(_n(v) for v in ((pressure.get("cap_hits") or {}).get("by_channel") or {}).values())
    figures = [
        ("figure-total", total, "active profiles"),
        ("figure-a", by_state["A"], f"in A ({_share(by_state['A'], total)}): known, reachable, traced"),
        ("figure-into-a", into_a, f"moved into A, {funnel.get('from')} to {funnel.get('to')}"),
        ("figure-contacted", contacted, "people contacted, last 30 days"),
        ("figure-cap-hits", hits, "contacts refused by a frequency cap, 30 days"),
    ]
    items = "".join(f'<li id="{i}" data-count="{n}"><b>{n:,}</b>{_e(label)}</li>' for i, n, label in figures)
    return (
        "<header><h1>Where are the customers?</h1>"
        f"<p>Profile states by Identity (I), Contactability (C) and Traceability (T). Generated "
        f"{_e(_when(states.get('generated_at')))} from {_e(reports.get('source', ''))}; classification rules "
        f"{_e(states.get('rules_version', ''))}; period {_e(funnel.get('from', ''))} to {_e(funnel.get('to', ''))} "
        "(UTC). Counts only: no person can be seen in this report.</p>"
        f'<ul class="figures">{items}</ul></header>'
    )


# ---------------------------------------------------------------------- the diagram
_CIRCLES = {"I": (200, 175), "C": (330, 175), "T": (265, 287)}
_RADIUS = 130
_REGION_AT = {  # a point inside each region of the three circles (checked by the unit tests)
    "A": (265, 212),
    "B": (265, 112),
    "C": (196, 262),
    "D": (334, 262),
    "E": (140, 140),
    "F": (390, 140),
    "G": (265, 370),
}
_CIRCLE_LABEL = {
    "I": (70, 40, "start", "Identity (I)"),
    "C": (460, 40, "end", "Contactability (C)"),
    "T": (265, 442, "middle", "Traceability (T)"),
}


def _venn_svg(by_state: Mapping[str, int], total: int) -> str:
    parts = [
        '<svg id="venn" viewBox="0 0 530 500" role="img" aria-labelledby="venn-title venn-desc" '
        'xmlns="http://www.w3.org/2000/svg">',
        '<title id="venn-title">Profiles in the Identity, Contactability and Traceability diagram</title>',
        '<desc id="venn-desc">'
        + "; ".join(f"{s} ({MEANING[s][0]}): {by_state[s]} profiles, {_share(by_state[s], total)}" for s in STATES)
        + "</desc>",
    ]
    for dim, (cx, cy) in _CIRCLES.items():
        colour = DIMENSION_COLOUR[dim]
        parts.append(
            f'<circle data-dimension="{dim}" cx="{cx}" cy="{cy}" r="{_RADIUS}" fill="{colour}" fill-opacity="0.16" '
            f'stroke="{colour}" stroke-width="2.5"/>'
        )
    for x, y, anchor, label in _CIRCLE_LABEL.values():
        parts.append(
            f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="15" font-weight="600" '
            f'fill="#1a1a1a">{_e(label)}</text>'
        )
    for state, (x, y) in _REGION_AT.items():
        parts.append(_region_label(state, x, y, by_state[state], total))
    parts.append(
        f'<g id="venn-U" class="region" data-state="U" data-count="{by_state["U"]}">'
        f"<title>U, none of I, C, T: {by_state['U']} profiles, {_share(by_state['U'], total)}</title>"
        '<rect x="6" y="440" width="200" height="54" rx="6" fill="#fff" stroke="#999" stroke-dasharray="4 3"/>'
        '<text x="16" y="462" font-size="14" fill="#1a1a1a"><tspan font-weight="700">U</tspan> outside: nothing usable'
        f'</text><text x="16" y="482" font-size="14" fill="#1a1a1a">{by_state["U"]:,} · {_share(by_state["U"], total)}'
        "</text></g>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _region_label(state: str, x: int, y: int, count: int, total: int) -> str:
    holds, meaning = MEANING[state]
    return (
        f'<g id="venn-{state}" class="region" data-state="{state}" data-count="{count}">'
        f"<title>{state}, {holds} ({meaning}): {count} profiles, {_share(count, total)}</title>"
        f'<text x="{x}" y="{y}" text-anchor="middle" fill="#1a1a1a">'
        f'<tspan x="{x}" font-size="18" font-weight="700">{state}</tspan>'
        f'<tspan x="{x}" dy="17" font-size="14">{count:,}</tspan>'
        f'<tspan x="{x}" dy="15" font-size="12">{_share(count, total)}</tspan></text></g>'
    )


def _venn_section(by_state: Mapping[str, int], total: int) -> str:
    rows = (
        f'<tr data-state="{s}"><th scope="row"><span class="swatch" style="background:{COLOUR[s]}"></span>{s}</th>'
        f"<td>{MEANING[s][0]}</td><td>{MEANING[s][1]}</td>"
        f'<td class="n" data-count="{by_state[s]}">{by_state[s]:,}</td>'
        f'<td class="n">{_share(by_state[s], total)}</td></tr>'
        for s in STATES
    )
    table = _table(
        f"Profiles per state (total {total:,})",
        ["state", "holds", "meaning", "profiles", "share"],
        rows,
        numeric=(3, 4),
        table_id="states-table",
    )
    return (
        '<section id="diagram" aria-labelledby="diagram-h"><h2 id="diagram-h">Where the customers are</h2>'
        '<p class="note">Each region of the three circles is a state; the goal is to move people into A, the middle.'
        f'</p><div class="pair"><div>{_venn_svg(by_state, total)}</div><div>{table}</div></div></section>'
    )


# ---------------------------------------------------------------------- over time
def _history_svg(history: History) -> str:
    width, height, left, right, top, bottom = 760, 280, 48, 40, 12, 36
    days = len(history.days)
    largest = max([sum(c.values()) for c in history.counts] + [1])
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return left + (plot_w * i / (days - 1) if days > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / largest)

    parts = [
        f'<svg id="history" viewBox="0 0 {width} {height}" role="img" aria-labelledby="history-title" '
        'xmlns="http://www.w3.org/2000/svg">',
        '<title id="history-title">Profiles per state at the end of each day, stacked, A at the bottom</title>',
    ]
    below = [0] * days
    for state in STATES:
        above = [below[i] + history.counts[i][state] for i in range(days)]
        if any(history.counts[i][state] for i in range(days)):
            upper = " ".join(f"{x(i):.1f},{y(above[i]):.1f}" for i in range(days))
            lower = " ".join(f"{x(i):.1f},{y(below[i]):.1f}" for i in reversed(range(days)))
            if days == 1:
                upper = f"{left},{y(above[0]):.1f} {left + plot_w},{y(above[0]):.1f}"
                lower = f"{left + plot_w},{y(below[0]):.1f} {left},{y(below[0]):.1f}"
            last = history.counts[-1][state]
            parts.append(
                f'<polygon points="{upper} {lower}" fill="{COLOUR[state]}" stroke="#fff" stroke-width="0.8">'
                f"<title>{state}: {last} at the end of {history.days[-1].isoformat()}</title></polygon>"
            )
            if y(below[-1]) - y(above[-1]) >= 13:
                mid = (y(below[-1]) + y(above[-1])) / 2 + 5
                parts.append(
                    f'<text x="{left + plot_w + 6}" y="{mid:.1f}" font-size="13" font-weight="700" '
                    f'fill="#1a1a1a">{state}</text>'
                )
        below = above
    axis = 'stroke="#1a1a1a" stroke-width="1"'
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" {axis}/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" {axis}/>')
    for value in sorted({0, largest // 2, largest}):
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" font-size="12" text-anchor="end">{value:,}</text>')
    for i in sorted({0, days // 2, days - 1}):
        anchor = "start" if i == 0 else "end" if i == days - 1 else "middle"
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - 12}" font-size="12" text-anchor="{anchor}">'
            f"{history.days[i].isoformat()}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _history_section(history: History) -> str:
    now, before = history.counts[-1], history.start
    rows = (
        f'<tr data-state="{s}"><th scope="row"><span class="swatch" style="background:{COLOUR[s]}"></span>{s}</th>'
        f'<td class="n">{before[s]:,}</td><td class="n" data-count="{now[s]}">{now[s]:,}</td>'
        f'<td class="n">{now[s] - before[s]:+,}</td></tr>'
        for s in STATES
    )
    table = _table(
        "Start and end of the period",
        ["state", f"before {history.days[0].isoformat()}", f"end of {history.days[-1].isoformat()}", "change"],
        rows,
        numeric=(1, 2, 3),
        table_id="history-table",
    )
    legend = "".join(
        f'<li><span class="swatch" style="background:{COLOUR[s]}"></span>{s} {MEANING[s][0]}</li>' for s in STATES
    )
    warning = (
        '<p class="note"><strong>The counters and the moves disagree</strong>: walking back gave fewer than zero '
        "profiles in a state on some day, shown as zero.</p>"
        if history.clamped
        else ""
    )
    return (
        '<section id="over-time" aria-labelledby="over-time-h"><h2 id="over-time-h">States over time</h2>'
        "<p class=\"note\">Derived, not stored: today's distribution walked back day by day through the funnel's "
        "moves (new profiles, departures, and every change of state).</p>"
        f'{warning}<ul class="legend">{legend}</ul>{_history_svg(history)}{table}</section>'
    )


# ---------------------------------------------------------------------- the funnel
def _flows(moves: Iterable[Mapping[str, Any]]) -> Counter[tuple[str, str]]:
    flows: Counter[tuple[str, str]] = Counter()
    for move in moves:
        flows[(str(move.get("from")), str(move.get("to")))] += _n(move.get("profiles"))
    return Counter({k: v for k, v in flows.items() if v > 0})


def _order(name: str) -> int:
    return FLOW_ORDER.index(name) if name in FLOW_ORDER else len(FLOW_ORDER)


def _sankey_svg(flows: Counter[tuple[str, str]]) -> str:
    width, height, node_w, gap, top = 760, 360, 16, 10, 24
    left_x, right_x = 130, width - 130 - node_w
    sources = sorted({a for a, _ in flows}, key=lambda s: (_order(s), s))
    targets = sorted({b for _, b in flows}, key=lambda s: (_order(s), s))
    total = sum(flows.values())
    rows = max(len(sources), len(targets))
    scale = (height - top - 10 - gap * (rows - 1)) / total

    def place(nodes: list[str], side: int) -> dict[str, float]:
        at, y = {}, float(top)
        for node in nodes:
            at[node] = y
            y += sum(v for k, v in flows.items() if k[side] == node) * scale + gap
        return at

    source_y, target_y = place(sources, 0), place(targets, 1)
    parts = [
        f'<svg id="flows" viewBox="0 0 {width} {height}" role="img" aria-labelledby="flows-title" '
        'xmlns="http://www.w3.org/2000/svg">',
        '<title id="flows-title">Moves between states over the period: from the left column to the right</title>',
        f'<text x="{left_x + node_w}" y="14" font-size="12" text-anchor="end">from</text>',
        f'<text x="{right_x}" y="14" font-size="12">to</text>',
    ]
    out_used: dict[str, float] = defaultdict(float)
    in_used: dict[str, float] = defaultdict(float)
    for a, b in sorted(flows, key=lambda k: (_order(k[0]), _order(k[1]), k)):
        n = flows[(a, b)]
        w = n * scale
        y0 = source_y[a] + out_used[a] + w / 2
        y1 = target_y[b] + in_used[b] + w / 2
        out_used[a] += w
        in_used[b] += w
        mid = (left_x + node_w + right_x) / 2
        parts.append(
            f'<path class="flow" data-from="{_e(a)}" data-to="{_e(b)}" data-count="{n}" '
            f'd="M{left_x + node_w},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {right_x},{y1:.1f}" '
            f'fill="none" stroke="{COLOUR.get(b, "#777")}" stroke-opacity="0.5" stroke-width="{max(w, 1.5):.1f}">'
            f"<title>{_e(a)} → {_e(b)}: {n} profiles</title></path>"
        )
    for side, nodes, at, x in ((0, sources, source_y, left_x), (1, targets, target_y, right_x)):
        for node in nodes:
            n = sum(v for k, v in flows.items() if k[side] == node)
            h = max(n * scale, 2)
            label_x, anchor = (x - 6, "end") if side == 0 else (x + node_w + 6, "start")
            name = {"none": "new", "gone": "gone"}.get(node, node)
            parts.append(
                f'<rect x="{x}" y="{at[node]:.1f}" width="{node_w}" height="{h:.1f}" '
                f'fill="{COLOUR.get(node, "#777")}" stroke="#1a1a1a" stroke-width="0.6"/>'
                f'<text x="{label_x}" y="{at[node] + h / 2 + 5:.1f}" font-size="13" text-anchor="{anchor}">'
                f'<tspan font-weight="700">{_e(name)}</tspan> {n:,}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _funnel_section(funnel: Mapping[str, Any]) -> str:
    moves = list(funnel.get("totals") or [])
    flows = _flows(moves)
    head = (
        '<section id="funnel" aria-labelledby="funnel-h"><h2 id="funnel-h">The funnel: moves between states</h2>'
        f'<p class="note">{_e(funnel.get("from", ""))} to {_e(funnel.get("to", ""))}. "new" is a profile created '
        'in the period; "gone" one erased or merged into another. A profile that moved twice counts twice.</p>'
    )
    if not flows:
        return head + '<p class="empty">No profile changed state in this period.</p></section>'
    rows = (
        f'<tr class="move" data-from="{_e(m.get("from"))}" data-to="{_e(m.get("to"))}" '
        f'data-channel="{_e(m.get("channel"))}" data-action="{_e(m.get("action"))}" '
        f'data-count="{_n(m.get("profiles"))}">'
        f"<td>{_e(m.get('from'))} → {_e(m.get('to'))}</td><td>{_e(m.get('channel'))}</td><td>{_e(m.get('action'))}</td>"
        f'<td class="n">{_n(m.get("profiles")):,}</td></tr>'
        for m in sorted(
            moves,
            key=lambda m: (-_n(m.get("profiles")), _order(str(m.get("from"))), _order(str(m.get("to"))), str(m)),
        )
    )
    table = _table(
        "Each move by the channel and action that caused it",
        ["move", "channel", "action", "profiles"],
        rows,
        numeric=(3,),
        table_id="moves-table",
    )
    return head + _sankey_svg(flows) + table + "</section>"


# ---------------------------------------------------------------------- programs
def _programs_section(programs: Mapping[str, Any] | None) -> str:
    head = '<section id="programs" aria-labelledby="programs-h"><h2 id="programs-h">Program effectiveness</h2>'
    if programs is None:
        return (
            head + '<p class="empty" id="programs-absent">Not available: this API has no programs report '
            "(GET /v1/reports/programs).</p></section>"
        )
    items = list(programs.get("programs") or [])
    period = (
        f'<p class="note">{_e(programs.get("from", ""))} to {_e(programs.get("to", ""))}; a move counts for a '
        f"contact when it followed within {_n(programs.get('attribution_days'))} days.</p>"
    )
    if not items:
        return head + period + '<p class="empty" id="programs-empty">No program ran in this period.</p></section>'
    largest = max([_n(p.get("audience_pulled")) for p in items] + [_n(p.get("contacts_sent")) for p in items] + [1])
    rows = []
    for p in items:
        sent, after = _n(p.get("contacts_sent")), _n(p.get("moved_after_contact"))
        campaign = _e(p["campaign_id"]) if p.get("campaign_id") else DASH
        after_by = ", ".join(
            f"{_e(c)} {_n(n):,}" for c, n in sorted((p.get("moved_after_contact_by_channel") or {}).items())
        )
        channels = ", ".join(f"{_e(c)} {_n(n):,}" for c, n in sorted((p.get("contacts_by_channel") or {}).items()))
        moves = ", ".join(
            f"{_e(m.get('from'))} → {_e(m.get('to'))} by {_e(m.get('channel'))}: {_n(m.get('count')):,}"
            for m in p.get("moves") or []
        )
        rows.append(
            f'<tr class="program" data-program="{_e(p.get("program"))}" '
            f'data-campaign="{_e(p.get("campaign_id") or "")}" '
            f'data-audience="{_n(p.get("audience_pulled"))}" data-sent="{sent}" data-moved="{_n(p.get("moved"))}" '
            f'data-moved-after-contact="{after}">'
            f'<th scope="row">{_e(p.get("program"))}</th><td>{campaign}</td>'
            f'<td class="n">{_bar(_n(p.get("audience_pulled")), largest)}{_n(p.get("audience_pulled")):,}</td>'
            f'<td class="n">{_bar(sent, largest, "c")}{sent:,}<br><small>{channels or DASH}</small></td>'
            f'<td class="n">{_n(p.get("moved")):,}</td>'
            f'<td class="n">{after:,} ({_share(after, sent)} of sent)<br><small>{after_by or DASH}</small></td>'
            f"<td>{moves or DASH}</td></tr>"
        )
    table = _table(
        "Per program and campaign",
        ["program", "campaign", "audience pulled", "contacts sent", "moved", "moved after a contact", "moves"],
        rows,
        numeric=(2, 3, 4, 5),
        table_id="programs-table",
    )
    return head + period + table + "</section>"


# ---------------------------------------------------------------------- data quality
def _quality_section(quality: Mapping[str, Any]) -> str:
    head = (
        '<section id="quality" aria-labelledby="quality-h"><h2 id="quality-h">Data quality</h2>'
        f'<p class="note">{_e(quality.get("from", ""))} to {_e(quality.get("to", ""))}: the share of each channel\'s '
        "touchpoints that confirmed or updated identity and contact fields; then how long ago each field was last "
        "confirmed, across active profiles now.</p>"
    )
    touchpoints = list(quality.get("touchpoints") or [])
    if touchpoints:
        rows = (
            f'<tr class="quality" data-channel="{_e(t.get("channel"))}" data-action="{_e(t.get("action"))}" '
            f'data-count="{_n(t.get("touchpoints"))}">'
            f"<td>{_e(t.get('channel'))}</td><td>{_e(t.get('action'))}</td>"
            f'<td class="n">{_n(t.get("touchpoints")):,}</td>'
            f'<td class="n">{_bar(_n(t.get("confirmed_identity")), _n(t.get("touchpoints")), "", 5)}'
            f"{_share(_n(t.get('confirmed_identity')), _n(t.get('touchpoints')))}</td>"
            f'<td class="n">{_bar(_n(t.get("confirmed_contact")), _n(t.get("touchpoints")), "c", 5)}'
            f"{_share(_n(t.get('confirmed_contact')), _n(t.get('touchpoints')))}</td></tr>"
            for t in touchpoints
        )
        per_channel = _table(
            "Per channel and action",
            ["channel", "action", "touchpoints", "confirmed identity", "confirmed contact"],
            rows,
            numeric=(2, 3, 4),
            table_id="quality-table",
        )
    else:
        per_channel = '<p class="empty">No touchpoint was counted in this period.</p>'
    age = quality.get("field_age") or {}
    buckets = [str(b) for b in age.get("buckets") or []]
    profiles = _n(age.get("profiles"))
    age_rows = []
    for field, counts in sorted((age.get("by_field") or {}).items()):
        cells = "".join(
            f'<td class="n" data-bucket="{_e(b)}" data-count="{_n(counts.get(b))}" '
            f'style="background:rgba(0,114,178,{0.45 * _n(counts.get(b)) / profiles if profiles else 0:.2f})">'
            f"{_n(counts.get(b)):,}</td>"
            for b in buckets
        )
        age_rows.append(f'<tr data-field="{_e(field)}"><th scope="row">{_e(field)}</th>{cells}</tr>')
    ages = _table(
        f"Days since each field was last confirmed ({profiles:,} profiles)",
        ["field", *buckets],
        age_rows,
        numeric=range(1, len(buckets) + 1),
        table_id="field-age-table",
    )
    return head + per_channel + ages + "</section>"


# ---------------------------------------------------------------------- contact pressure
def _pressure_section(pressure: Mapping[str, Any]) -> str:
    by_contacts = pressure.get("people_by_contacts") or {}
    contacted = pressure.get("people_contacted") or {}
    lists = []
    for window, counts in sorted(by_contacts.items(), key=lambda kv: _n(_window_days(kv[0]))):
        largest = max([_n(v) for v in counts.values()] + [1])
        rows = (
            f'<tr data-window="{_e(window)}" data-contacts="{_e(k)}" data-count="{_n(v)}">'
            f'<td class="n">{_e(k)}</td><td class="n">{_bar(_n(v), largest, "m")}{_n(v):,}</td></tr>'
            for k, v in sorted(counts.items(), key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else 0)
        )
        label = f"last {_window_days(window)} days" if _window_days(window) else window
        if not counts:
            lists.append(f'<p class="empty">Nobody was contacted in the {_e(label)}.</p>')
            continue
        lists.append(
            _table(
                f"People by contacts received, {label} ({_n(contacted.get(window)):,} people contacted)",
                ["contacts", "people"],
                rows,
                numeric=(0, 1),
                table_id=f"pressure-{_e(window)}",
            )
        )
    hits = pressure.get("cap_hits") or {}
    hit_rows = [
        f'<tr class="cap-hit" data-channel="{_e(h.get("channel"))}" data-campaign="{_e(h.get("campaign_id"))}" '
        f'data-count="{_n(h.get("hits"))}"><td>{_e(h.get("channel"))}</td><td>{_e(h.get("campaign_id"))}</td>'
        f'<td class="n">{_n(h.get("hits")):,}</td></tr>'
        for h in hits.get("by_channel_and_campaign") or []
    ]
    since = _e(hits.get("since", ""))
    capped = (
        _table(f"Cap hits since {since}", ["channel", "campaign", "refused"], hit_rows, (2,), "cap-hits-table")
        if hit_rows
        else f'<p class="empty" id="cap-hits-none">No contact was refused by a frequency cap since {since}.</p>'
    )
    return (
        '<section id="pressure" aria-labelledby="pressure-h"><h2 id="pressure-h">Contact pressure</h2>'
        f'<p class="note">How many contacts people received lately (policy {_e(pressure.get("policy_version", ""))}),'
        " and where a frequency cap refused a contact.</p>"
        f'<div class="pair">{"".join(f"<div>{t}</div>" for t in lists)}<div>{capped}</div></div></section>'
    )


def _window_days(window: str) -> int:
    middle = str(window).removeprefix("last_").removesuffix("_days")
    return int(middle) if middle.isdigit() else 0


def flows_of(moves: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """`from>to` -> profiles, summed over channels and actions: what the diagram of flows draws (for tests)."""
    summed: dict[str, int] = defaultdict(int)
    for (a, b), n in _flows(moves).items():
        summed[f"{a}>{b}"] += n
    return dict(summed)
