"""The privacy-core layer's size: each distribution shared/requirements.txt pulls in, unzipped, by size.

Measured on the distributions installed here (their RECORD files), which are what `sam build` installs for
the layer as long as the versions match; `.aws-sam/build/PrivacyCoreLayer`, when `make build` made it, is
measured as built instead.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "shared" / "requirements.txt"
BUILT = REPO / ".aws-sam" / "build" / "PrivacyCoreLayer"
_NAME = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(path: Path) -> list[tuple[str, set[str]]]:
    found = []
    for line in path.read_text().splitlines():
        match = _NAME.match(line.strip())
        if match and not line.lstrip().startswith("#"):
            extras = {e.strip() for e in (match[2] or "[]")[1:-1].split(",") if e.strip()}
            found.append((match[1], extras))
    return found


def _closure(roots: list[tuple[str, set[str]]]) -> tuple[dict[str, metadata.Distribution], list[str]]:
    seen: dict[str, metadata.Distribution] = {}
    missing: list[str] = []
    pending = list(roots)
    while pending:
        name, extras = pending.pop()
        key = _canonical(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if key in seen and not extras:
            continue
        seen[key] = dist
        for requirement in dist.requires or []:
            spec, _, marker = requirement.partition(";")
            wanted = re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
            if wanted and not set(wanted) & extras:
                continue
            if "python_version" in marker and "<" in marker:
                continue  # back-ports for older Pythons than the runtime's
            match = _NAME.match(spec.strip())
            if match:
                inner = {e.strip() for e in (match[2] or "[]")[1:-1].split(",") if e.strip()}
                if _canonical(match[1]) not in seen or inner:
                    pending.append((match[1], inner))
    return seen, missing


def _dist_bytes(dist: metadata.Distribution) -> int:
    total = 0
    for file in dist.files or []:
        if "__pycache__" in file.parts:
            continue  # sam build ships no bytecode
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
    return total


def measure(requirements: Path = REQUIREMENTS) -> dict[str, Any]:
    if BUILT.is_dir():
        sizes = {
            entry.name: sum(p.stat().st_size for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else 0
            for entry in (BUILT / "python").iterdir()
        }
        source = str(BUILT)
    else:
        dists, missing = _closure(_requirements(requirements))
        sizes = {f"{d.metadata['Name']} {d.version}": _dist_bytes(d) for d in dists.values()}
        source = "installed distributions" + (f" (not installed here: {', '.join(missing)})" if missing else "")
    ranked = dict(sorted(sizes.items(), key=lambda kv: -kv[1]))
    return {"source": source, "total_mb": sum(sizes.values()) / 1e6, "mb": {k: v / 1e6 for k, v in ranked.items()}}
