"""The repository is self-contained: nothing in it points at files outside it, and every link
between its documents leads to a file that exists."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "out", "__pycache__", ".pytest_cache", ".hypothesis", "build", "dist"}
TEXT = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".html", ".css", ".json", ""}
# Built from pieces so that this file does not match itself.
OUTSIDE = re.compile("|".join([re.escape(".." + "/shared"), "shared" + r"/(reference|validation|DESIGN)",
                               r"dojo-specs\.md", r"other-systems\.md", r"fsd-network\.md"]))


def repo_files():
    for p in ROOT.rglob("*"):
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in p.relative_to(ROOT).parts):
            continue
        if p.is_file() and p.suffix in TEXT:
            yield p


def test_nothing_refers_to_files_outside_the_repository():
    hits = []
    for p in repo_files():
        for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()[:100]}")
    assert not hits, "\n".join(hits)


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_relative_link_in_the_docs_exists():
    missing = []
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in LINK.findall(md.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (md.parent / target).exists():
                missing.append(f"{md.relative_to(ROOT)} -> {target}")
    assert not missing, "\n".join(missing)


def test_preset_sources_cite_the_repository():
    presets = ROOT / "src" / "dojosim" / "hardware" / "presets"
    text = "\n".join(p.read_text() for p in presets.glob("*.yaml"))
    assert "docs/sources.md §" in text
    sources = (ROOT / "docs" / "sources.md").read_text()
    for n in re.findall(r"docs/sources\.md §(\d+)", text):
        assert re.search(rf"^### {n}\. ", sources, re.M), f"docs/sources.md has no section §{n}"
