"""The HTML report for business users (report_cli): the reports' JSON drawn as one self-contained page. The I/C/T
diagram puts each state's count in its own region, the page references nothing outside itself, every text from an
answer is escaped, and the distribution over time is walked back from today's through the funnel's moves."""

from __future__ import annotations

import argparse
import math
import re
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from compliance_cli.errors import FileExists
from report_cli.history import walk_back
from report_cli.html_report import run, write_report
from report_cli.render_html import MEANING, flows_of, render

SVG = "{http://www.w3.org/2000/svg}"
DIMENSIONS = {"A": "ICT", "B": "IC", "C": "IT", "D": "CT", "E": "I", "F": "C", "G": "T", "U": ""}


def reports(**changes: Any) -> dict[str, Any]:
    by_state = {"A": 1200, "B": 31, "C": 7, "D": 450, "E": 3, "F": 88, "G": 2900, "U": 15}
    base: dict[str, Any] = {
        "source": "https://abc123.execute-api.us-east-1.amazonaws.com/v1",
        "states": {
            "rules_version": "2026-11-01",
            "generated_at": "2026-12-07T05:15:35+00:00",
            "total": sum(by_state.values()),
            "by_state": by_state,
            "by_origin": {"web": by_state},
        },
        "funnel": {
            "from": "2026-12-01",
            "to": "2026-12-07",
            "generated_at": "2026-12-07T05:15:35+00:00",
            "days": [
                {"day": "2026-12-02", "transitions": [_move("none", "G", "store", "purchase", 40)]},
                {
                    "day": "2026-12-05",
                    "transitions": [
                        _move("G", "A", "web", "ticket_registration", 25),
                        _move("D", "gone", "compliance", "erasure", 2),
                    ],
                },
            ],
            "totals": [
                _move("D", "gone", "compliance", "erasure", 2),
                _move("G", "A", "web", "ticket_registration", 25),
                _move("none", "G", "store", "purchase", 40),
            ],
        },
        "data_quality": {
            "from": "2026-12-01",
            "to": "2026-12-07",
            "generated_at": "2026-12-07T05:15:35+00:00",
            "touchpoints": [
                {
                    "channel": "store",
                    "action": "purchase",
                    "touchpoints": 400,
                    "confirmed_identity": 100,
                    "confirmed_contact": 40,
                    "identity_share": 0.25,
                    "contact_share": 0.1,
                    "fields": {"rfc": 100},
                }
            ],
            "field_age": {
                "profiles": 4694,
                "buckets": ["0-30", "31-90", "never"],
                "by_field": {"email": {"0-30": 1000, "31-90": 600, "never": 3094}},
            },
        },
        "contact_pressure": {
            "policy_version": "2026-11-30",
            "generated_at": "2026-12-07T05:15:35+00:00",
            "people_by_contacts": {"last_7_days": {"1": 70, "2": 9}, "last_30_days": {"1": 300, "3": 12}},
            "people_contacted": {"last_7_days": 79, "last_30_days": 312},
            "cap_hits": {
                "since": "2026-11-07",
                "by_channel": {"email": 5},
                "by_campaign": {"bf-2026": 5},
                "by_channel_and_campaign": [{"channel": "email", "campaign_id": "bf-2026", "hits": 5}],
            },
        },
        "programs": {
            "generated_at": "2026-12-07T05:15:35+00:00",
            "from": "2026-12-01",
            "to": "2026-12-07",
            "attribution_days": 14,
            "programs": [
                {
                    "program": "ticket_registration",
                    "campaign_id": "bf-2026",
                    "audience_pulled": 2900,
                    "contacts_sent": 1800,
                    "contacts_by_channel": {"email": 1500, "sms": 300},
                    "moved": 30,
                    "moves": [{"from": "G", "to": "A", "channel": "web", "count": 25}],
                    "moved_after_contact": 25,
                }
            ],
        },
    }
    return base | changes


def _move(a: str, b: str, channel: str, action: str, n: int) -> dict[str, Any]:
    return {"from": a, "to": b, "channel": channel, "action": action, "profiles": n}


def venn(html: str) -> ET.Element:
    found = re.search(r'<svg id="venn".*?</svg>', html, re.S)
    assert found, "the page has the diagram"
    return ET.fromstring(found[0])


def inside(x: float, y: float, circle: ET.Element) -> bool:
    cx, cy, r = (float(circle.get(k, "0")) for k in ("cx", "cy", "r"))
    return math.hypot(x - cx, y - cy) < r


def test_every_state_sits_with_its_count_and_share_in_its_own_region_of_the_three_circles() -> None:
    given = reports()
    svg = venn(render(given))
    circles = {c.get("data-dimension"): c for c in svg.iter(f"{SVG}circle")}
    assert set(circles) == {"I", "C", "T"}
    total = given["states"]["total"]
    regions = {g.get("data-state"): g for g in svg.iter(f"{SVG}g")}
    assert set(regions) == set(MEANING)
    for state, region in regions.items():
        assert state is not None
        count = given["states"]["by_state"][state]
        assert region.get("data-count") == str(count)
        words = " ".join("".join(t.itertext()) for t in region.iter(f"{SVG}text"))
        assert f"{count:,}" in words and f"{100 * count / total:.1f}%" in words and state in words
        # The label's box (its corners and edges) lies in exactly the circles of the state's dimensions
        if state == "U":
            box = region.find(f"{SVG}rect")
            assert box is not None
            x, y, w, h = (float(box.get(k, "0")) for k in ("x", "y", "width", "height"))
            points = [(x, y), (x + w, y), (x, y + h), (x + w, y + h), (x + w / 2, y)]
        else:
            text = region.find(f"{SVG}text")
            assert text is not None
            x, y = float(text.get("x", "0")), float(text.get("y", "0"))
            points = [(x, y - 14), (x, y + 32), (x - 18, y + 15), (x + 18, y + 15)]
        for px, py in points:
            holds = "".join(d for d in "ICT" if inside(px, py, circles[d]))
            assert holds == DIMENSIONS[state], (state, px, py, holds)


def test_the_page_needs_nothing_from_outside_and_no_script() -> None:
    html = render(reports())
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"\b(src|href)\s*=", html, re.I), "no resource to fetch, local or remote"
    assert not re.search(r"<script|<link|<iframe|@import|url\(", html, re.I)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg\")(?!abc123\.execute-api)", html), "only the source's URL"


def test_every_text_from_an_answer_is_escaped() -> None:
    hostile = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    given = reports(source=hostile)
    given["programs"]["programs"][0] |= {"program": hostile, "campaign_id": hostile}
    given["funnel"]["totals"].append(_move(hostile, "A", hostile, hostile, 3))
    given["data_quality"]["touchpoints"][0] |= {"channel": hostile, "action": hostile}
    given["data_quality"]["field_age"]["by_field"][hostile] = {"0-30": 1}
    given["contact_pressure"]["cap_hits"]["by_channel_and_campaign"][0]["campaign_id"] = hostile
    html = render(given)
    assert "<script" not in html and "<img" not in html, "no tag broke out"
    assert html.count("&lt;script&gt;alert(2)&lt;/script&gt;") >= 6


def test_the_sections_carry_the_apis_numbers() -> None:
    given = reports()
    html = render(given)
    moves = re.findall(r'<tr class="move" data-from="(\w+)" data-to="(\w+)"[^>]*data-count="(\d+)"', html)
    assert sorted((a, b, int(n)) for a, b, n in moves) == [("D", "gone", 2), ("G", "A", 25), ("none", "G", 40)]
    flows = dict(
        ((a, b), int(n))
        for a, b, n in re.findall(r'class="flow" data-from="(\w+)" data-to="(\w+)" data-count="(\d+)"', html)
    )
    assert {f"{a}>{b}": n for (a, b), n in flows.items()} == flows_of(given["funnel"]["totals"])
    assert 'data-program="ticket_registration"' in html and 'data-sent="1800"' in html
    assert 'data-moved-after-contact="25"' in html
    assert re.search(r'class="quality" data-channel="store" data-action="purchase" data-count="400"', html)
    assert 'data-window="last_30_days" data-contacts="3" data-count="12"' in html
    assert re.search(r'class="cap-hit" data-channel="email" data-campaign="bf-2026" data-count="5"', html)
    assert re.search(r'id="figure-into-a" data-count="25"', html) and re.search(
        r'id="figure-cap-hits" data-count="5"', html
    )


def test_programs_absent_or_empty_are_said_plainly() -> None:
    absent = render(reports(programs=None))
    assert 'id="programs-absent"' in absent and 'class="program"' not in absent
    empty = render(reports(programs={"from": "2026-12-01", "to": "2026-12-07", "attribution_days": 14, "programs": []}))
    assert 'id="programs-empty"' in empty and 'class="program"' not in empty


def test_a_quiet_stack_renders_zeros_without_dividing_by_them() -> None:
    quiet = reports()
    quiet["states"] |= {"total": 0, "by_state": dict.fromkeys(MEANING, 0)}
    quiet["funnel"] |= {"days": [], "totals": []}
    quiet["data_quality"] |= {"touchpoints": [], "field_age": {"profiles": 0, "buckets": [], "by_field": {}}}
    quiet["contact_pressure"] |= {"people_by_contacts": {}, "people_contacted": {}, "cap_hits": {"since": "x"}}
    html = render(quiet)
    assert "No profile changed state in this period." in html
    assert all(g.get("data-count") == "0" for g in venn(html).iter(f"{SVG}g"))


def test_the_distribution_over_time_walks_back_from_today_through_the_daily_moves() -> None:
    given = reports()
    history = walk_back(given["states"]["by_state"], given["funnel"])
    assert [d.isoformat() for d in history.days] == [f"2026-12-0{n}" for n in range(1, 8)]
    today = given["states"]["by_state"]
    assert history.counts[-1] == today
    # Before the 5th: the 25 G -> A undone, the 2 erased D back; before the 2nd: the 40 new G not yet there
    assert history.counts[3] == today | {"A": 1175, "G": 2925, "D": 452}
    assert history.counts[0] == today | {"A": 1175, "G": 2885, "D": 452}
    assert history.start == history.counts[0] and not history.clamped
    # Counters that disagree with the moves show as zero and are flagged, never negative
    moves = [{"day": "2026-12-07", "transitions": [_move("G", "A", "web", "ticket_registration", 25)]}]
    inconsistent = walk_back({"A": 1}, {"from": "2026-12-06", "to": "2026-12-07", "days": moves})
    assert inconsistent.clamped and min(min(c.values()) for c in inconsistent.counts) == 0


def test_the_file_is_readable_by_all_and_kept_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    written = write_report(path, "<p>one</p>", replace=False)
    assert written == path.resolve() and stat.S_IMODE(path.stat().st_mode) & 0o644 == 0o644
    with pytest.raises(FileExists):
        write_report(path, "<p>two</p>", replace=False)
    write_report(path, "<p>two</p>", replace=True)
    assert path.read_text() == "<p>two</p>"


def test_a_period_out_of_range_is_refused_before_any_call(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = argparse.Namespace(days=0, local=True, url=None, stack=None, principal="developer")
    assert run(arguments) == 2
    assert "--days" in capsys.readouterr().err
