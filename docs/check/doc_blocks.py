#!/usr/bin/env python3
"""The docs' shell blocks and their static checks.

Every ```sh block in README.md and docs/*.md carries, on the line above it,
`<!-- run-by: PATH#ID -->`: the test at PATH runs the block, and names it by ID (as a quoted
string), so a block no test runs fails the check. `python3 docs/check/doc_blocks.py check` also
checks that README.md stays under 200 lines and that every relative link (and its #anchor)
resolves. `doc_blocks.py show ID` prints a block, for a test written in another language.
"""

import pathlib
import re
import sys
import unicodedata

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!-- run-by: (\S+)#([a-z0-9-]+) -->$")
README_LIMIT = 200


class Block:
    def __init__(self, doc, line, runner, block_id, text):
        self.doc, self.line, self.runner, self.id, self.text = doc, line, runner, block_id, text

    def where(self):
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(docs=DOCS):
    """Every ```sh block, with its marker (runner and id None when it has none)."""
    found = []
    for doc in docs:
        lines = doc.read_text(encoding="utf-8").split("\n")
        i = 0
        while i < len(lines):
            if lines[i].startswith("```"):
                fence = lines[i]
                end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
                if fence.strip() == "```sh":
                    marker = MARKER.match(lines[i - 1]) if i else None
                    found.append(Block(doc, i + 1, marker and marker.group(1), marker and marker.group(2),
                                       "\n".join(lines[i + 1:end]) + "\n"))
                i = end + 1
            else:
                i += 1
    return found


def block(block_id):
    """The text of the block named `block_id`."""
    [only] = [b for b in blocks() if b.id == block_id] or [None]
    if only is None:
        raise KeyError(f"no ```sh block is named {block_id!r} in README.md or docs/")
    return only.text


def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = "".join(c for c in text if c in " -" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(doc):
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def problems():
    out = []
    readme_lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    if readme_lines > README_LIMIT:
        out.append(f"README.md has {readme_lines} lines; keep it to {README_LIMIT} (the rest goes in docs/)")
    seen = {}
    for b in blocks():
        if b.id is None:
            out.append(f"{b.where()}: a ```sh block without <!-- run-by: PATH#ID --> on the line above")
            continue
        if b.id in seen:
            out.append(f"{b.where()}: block id {b.id!r} is also used at {seen[b.id]}")
        seen[b.id] = b.where()
        runner = ROOT / b.runner
        if not runner.is_file():
            out.append(f"{b.where()}: its runner {b.runner} does not exist")
        elif f'"{b.id}"' not in runner.read_text(encoding="utf-8"):
            out.append(f"{b.where()}: {b.runner} does not name the block \"{b.id}\"")
    for doc in [*DOCS, *sorted(ROOT.glob("*/README.md"))]:
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (doc.parent / path).resolve() if path else doc
            if not linked.exists():
                out.append(f"{doc.relative_to(ROOT)}: link {target!r}: {path} does not exist")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                out.append(f"{doc.relative_to(ROOT)}: link {target!r}: no heading #{anchor} in {path or doc.name}")
    return out


def main(argv):
    if argv[1:2] == ["check"]:
        found = problems()
        for p in found:
            print(f"doc check: {p}", file=sys.stderr)
        if found:
            return 1
        print(f"doc check: {len(blocks())} shell blocks, each named by the test that runs it; links resolve")
        return 0
    if argv[1:2] == ["show"] and len(argv) == 3:
        sys.stdout.write(block(argv[2]))
        return 0
    print("usage: doc_blocks.py check | show ID", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
