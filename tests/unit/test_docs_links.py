"""The documentation holds together: README.md is short and points at one page per reader, and every relative link
in it and in docs/*.md reaches a file that exists and, with an #anchor, a heading of that file (slugged as GitHub
slugs headings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = ["channel-teams.md", "compliance.md", "operators.md", "contributors.md"]
DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?P<label>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(?P<text>.+?)\s*#*\s*$", re.MULTILINE)
EXTERNAL = ("http://", "https://", "mailto:")


def without_code(markdown: str) -> str:
    """The text outside fenced blocks: a `# comment` in a bash block is no heading, a `[x](y)` in code no link."""
    return FENCE.sub("", markdown)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text lower-cased, punctuation dropped but hyphens and
    underscores, each space a hyphen."""
    text = LINK.sub(lambda m: m.group("label"), heading)
    text = re.sub(r"[`*]|<[^>]+>", "", text).lower()
    text = "".join(c for c in text if c.isalnum() or c in "-_ ")
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading's anchor; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(without_code(markdown)):
        base = slug(match.group("text"))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(document: Path, root: Path = REPO_ROOT) -> list[str]:
    """Each relative link of `document` that reaches no file, or no heading of the file it names."""
    text = INLINE_CODE.sub("", without_code(document.read_text(encoding="utf-8")))
    broken = []
    for match in LINK.finditer(text):
        target = match.group("target")
        if target.startswith(EXTERNAL):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (document.parent / path_part).resolve() if path_part else document.resolve()
        if not resolved.is_relative_to(root.resolve()):
            continue  # outside the repository (../shared/DOMAIN.md from the README): not ours to check
        if not resolved.exists():
            broken.append(f"{target}: no file {resolved.relative_to(root.resolve())}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(root.resolve())}")
    return broken


def test_the_readme_is_short_and_each_readers_page_exists():
    assert len((REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()) < 200
    for page in PAGES:
        assert (REPO_ROOT / "docs" / page).is_file(), page


def test_the_readme_links_every_readers_page():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    targets = {m.group("target").partition("#")[0] for m in LINK.finditer(without_code(readme))}
    assert {f"docs/{page}" for page in PAGES} <= targets


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_reaches_a_file_and_a_heading(document):
    assert broken_links(document) == []


def test_the_check_catches_a_missing_file_a_missing_heading_and_slugs_like_github(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(
        "# Page\n\n## Layout: where each capability lives\n\n## Notes\n\n## Notes\n\n"
        "```bash\n# not a heading\n```\n\n### Issue 14: cost (2026-11-30)\n\n## `make demo`, A…U & more\n"
    )
    (tmp_path / "README.md").write_text(
        "[ok](docs/page.md#layout-where-each-capability-lives) [dup](docs/page.md#notes-1)"
        " [issue](docs/page.md#issue-14-cost-2026-11-30) [code](docs/page.md#make-demo-au--more)"
        " [web](https://example.com/x#y) [outside](../elsewhere/DOMAIN.md) `[in code](nowhere.md)`\n\n"
        "[gone](docs/missing.md) [no heading](docs/page.md#not-a-heading) [self](#nothing-here)\n"
        "[split\nlabel](docs/page.md#notes-2)\n"
    )
    assert broken_links(tmp_path / "README.md", tmp_path) == [
        "docs/missing.md: no file docs/missing.md",
        "docs/page.md#not-a-heading: no heading #not-a-heading in docs/page.md",
        "#nothing-here: no heading #nothing-here in README.md",
        "docs/page.md#notes-2: no heading #notes-2 in docs/page.md",
    ]
