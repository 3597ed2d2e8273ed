"""Turn extracted API records, shipped documentation files and task guides into chunks.

One chunk per API symbol; a long docstring is split at paragraph boundaries into parts of at most
``MAX_PART_CHARS`` (each part repeats the symbol as its title). Markdown is split by heading.

Each chunk carries three texts:
- ``text``: what a prompt shows (symbol, signature, documentation);
- ``embed_text``: a short summary (the symbol as words + the first paragraph) that is embedded;
  short on purpose, the embedding cost grows with length and the opening paragraph says what it is;
- ``fts_text``: the full text plus identifier words (``log_metric`` -> ``log metric``,
  ``MlflowClient`` -> ``Mlflow Client``) so BM25 matches a query written in plain words.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Iterable

MAX_PART_CHARS = 1500
MAX_SECTION_CHARS = 1500


@dataclass
class Chunk:
    library: str
    symbol: str
    kind: str
    source: str
    text: str
    embed_text: str
    fts_text: str
    aliases: list[str] = field(default_factory=list)
    part: int = 0

    @property
    def chunk_id(self) -> str:
        return f"{self.library}:{self.symbol}#{self.part}"

    def content_hash(self) -> str:
        return hashlib.sha1(self.embed_text.encode("utf-8")).hexdigest()


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def identifier_words(text: str) -> str:
    """``mlflow.MlflowClient.create_model_version`` -> ``mlflow Mlflow Client create model version``."""
    words: list[str] = []
    for token in re.findall(r"[A-Za-z][A-Za-z0-9_]*", text):
        for piece in token.split("_"):
            if piece:
                words.extend(_CAMEL.split(piece))
    return " ".join(words)


def _split_paragraphs(doc: str, limit: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for paragraph in re.split(r"\n\s*\n", doc):
        paragraph = paragraph.strip("\n")
        if not paragraph:
            continue
        while len(paragraph) > limit:  # a single giant paragraph: hard-split at a line break
            cut = paragraph.rfind("\n", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                parts.append(current)
                current = ""
            parts.append(paragraph[:cut])
            paragraph = paragraph[cut:].lstrip("\n")
        if current and len(current) + len(paragraph) + 2 > limit:
            parts.append(current)
            current = paragraph
        else:
            current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        parts.append(current)
    return parts or [""]


_RST_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_PROSE_SKIP = re.compile(r"^(usage:|\.\. |>>>|Example|Args:|Arguments:|Parameters|Returns|Raises|:param|:return|-{3,})")


def clean_rst(text: str) -> str:
    """Docstring markup off: ``:class:`~optuna.study.Study``` -> ``Study``, ````x```` -> ``x``."""
    text = _RST_ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return re.sub(r"`{1,2}([^`]+)`{1,2}_?", r"\1", text)


def _first_paragraph(doc: str, max_chars: int = 400) -> str:
    """The opening prose paragraph (argparse help starts with a usage block: skip it)."""
    for paragraph in re.split(r"\n\s*\n", doc.strip()):
        paragraph = " ".join(paragraph.split())
        if paragraph and not paragraph.startswith("usage:"):
            return paragraph[:max_chars]
    return ""


def description(doc: str, max_chars: int = 320) -> str:
    """What the symbol does, in prose: the opening paragraphs of the docstring up to ``max_chars``,
    without usage blocks, examples, parameter lists or markup. A one-line opening ("Create a new
    Study.") says too little on its own, so the next prose paragraph is added while it fits."""
    pieces: list[str] = []
    used = 0
    for paragraph in re.split(r"\n\s*\n", doc.strip()):
        paragraph = " ".join(clean_rst(paragraph).split())
        if not paragraph or _PROSE_SKIP.match(paragraph) or paragraph.startswith(("positional arguments", "options:")):
            if pieces:
                break
            continue
        pieces.append(paragraph)
        used += len(paragraph)
        if used >= max_chars // 2:
            break
    return " ".join(pieces)[:max_chars]


def cli_backed_docs(records: list[dict[str, Any]], program: str, class_symbol: str) -> list[dict[str, Any]]:
    """Give undocumented methods of ``class_symbol`` the help of the CLI command of the same name.

    DVC's ``Repo.add``/``Repo.push``... carry no docstring but are the Python side of ``dvc add``/
    ``dvc push``: the command's help is their documentation."""
    cli_help = {r["symbol"]: r["doc"] for r in records if r["kind"] == "cli"}
    enriched = []
    for record in records:
        prefix = f"{class_symbol}."
        if record["kind"] == "method" and record["symbol"].startswith(prefix) and not record["doc"].strip():
            command = f"{program} {record['symbol'][len(prefix):].replace('_', '-')}"
            if command in cli_help:
                record = {**record, "doc": f"Python API of the `{command}` command. {_first_paragraph(cli_help[command])}"
                                           f"\n\n{cli_help[command]}"}
        enriched.append(record)
    return enriched


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets and quotes: annotations like ``dict[str, Any]`` stay whole."""
    parts, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _signature_names(signature: str) -> str:
    """Parameter names only (no annotations/defaults): they carry the meaning, cost few tokens."""
    inner = signature[1:signature.rfind(")")] if signature.startswith("(") else signature
    names = []
    for parameter in _split_top_level(inner):
        match = re.match(r"\s*\**([A-Za-z_][A-Za-z0-9_]*)", parameter)
        if match and match.group(1) not in {"self", "cls"}:
            names.append(match.group(1))
    return ", ".join(names)


def _short_name(symbol: str, kind: str) -> str:
    """The name a user would say: the member, with its class for methods (``Trial suggest categorical``)."""
    parts = symbol.split(".")
    if kind == "module":
        return identifier_words(symbol)
    keep = 2 if kind in {"method", "property"} and len(parts) > 2 else 1
    return identifier_words(".".join(parts[-keep:]))


def summary_text(symbol: str, kind: str, params: str, doc: str, module: str) -> str:
    """The text that is embedded: summary first (what it does), then the name as words, the
    parameters and the module path. MiniLM was trained on natural sentences, and the dotted name
    is the noisiest part for it, so it comes last where the 128-token cut falls."""
    kind_word = {"cli": "command line", "module": "module", "property": "property"}.get(kind, kind)
    text = f"{_short_name(symbol, kind)} ({kind_word}): {description(doc)}".rstrip()
    if params:
        text += f" Parameters: {params}."
    if module:
        text += f" Module {module}."
    return text


def chunks_from_records(library: str, records: Iterable[dict[str, Any]]) -> list[Chunk]:
    chunks: list[Chunk] = []
    for record in records:
        symbol = record["symbol"]
        kind = record["kind"]
        signature = record.get("signature") or ""
        doc = record.get("doc") or ""
        aliases = list(record.get("aliases") or [])
        source = f"api:{record.get('defined_in') or symbol}"
        if kind == "cli":
            source = f"cli:{symbol}"
        header = f"{symbol}{signature}" if kind in {"function", "method", "class"} else symbol
        alias_text = f"\nAlso available as: {', '.join(aliases)}" if aliases else ""
        words = identifier_words(" ".join([symbol, *aliases]))
        params = _signature_names(signature)
        # The public path the symbol is used under (``mlflow.pytorch`` for ``mlflow.pytorch.log_model``).
        drop = 2 if kind in {"method", "property"} else 1
        module = "" if kind in {"cli", "module"} else ".".join(symbol.split(".")[:-drop])
        summary = summary_text(symbol, kind, params, doc, module)
        for part_index, part in enumerate(_split_paragraphs(doc, MAX_PART_CHARS)):
            title = header if part_index == 0 else f"{symbol} (continued, part {part_index + 1})"
            text = f"{title}{alias_text if part_index == 0 else ''}\n{part}".rstrip()
            chunks.append(
                Chunk(
                    library=library,
                    symbol=symbol,
                    kind=kind,
                    source=source,
                    text=text,
                    embed_text=summary if part_index == 0 else f"{symbol} {words}: {_first_paragraph(part)}",
                    fts_text=f"{words} {params}\n{text}",
                    aliases=aliases,
                    part=part_index,
                )
            )
    return chunks


def chunks_from_markdown(library: str, name: str, source: str, markdown: str) -> list[Chunk]:
    """Split a markdown document by headings; each section is one chunk (split further if long)."""
    chunks: list[Chunk] = []
    sections: list[tuple[str, str]] = []
    heading = name
    body: list[str] = []
    in_fence = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else re.match(r"^(#{1,4})\s+(.*)", line)
        if match:
            if "\n".join(body).strip():
                sections.append((heading, "\n".join(body).strip()))
            heading = match.group(2).strip()
            body = []
        else:
            body.append(line)
    if "\n".join(body).strip():
        sections.append((heading, "\n".join(body).strip()))
    seen: dict[str, int] = {}
    for heading, text in sections:
        symbol = f"{name}: {heading}"
        seen[symbol] = seen.get(symbol, 0) + 1
        if seen[symbol] > 1:
            symbol = f"{symbol} ({seen[symbol]})"
        for part_index, part in enumerate(_split_paragraphs(text, MAX_SECTION_CHARS)):
            full = f"{symbol}\n{part}"
            chunks.append(
                Chunk(
                    library=library,
                    symbol=symbol,
                    kind="doc",
                    source=source,
                    text=full,
                    embed_text=f"{symbol}: {_first_paragraph(part)}",
                    fts_text=f"{identifier_words(symbol)}\n{full}",
                    part=part_index,
                )
            )
    return chunks


def readme_chunks(library: str, distribution: str) -> list[Chunk]:
    """The package README shipped in the distribution's METADATA (read from disk, no import)."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return []
    raw = dist.read_text("METADATA") or ""
    # The long description follows the header block, after the first blank line.
    _, _, body = raw.partition("\n\n")
    if not body.strip():
        return []
    # Drop badge/image/HTML lines: noise for both retrievers.
    lines = [ln for ln in body.splitlines() if not re.match(r"^\s*(\[!\[|!\[|<)", ln)]
    return chunks_from_markdown(library, f"{library} README", f"file:{distribution}-{dist.version}.dist-info/METADATA",
                                "\n".join(lines))


def guide_chunks(library: str, guides: dict[str, str]) -> list[Chunk]:
    chunks: list[Chunk] = []
    for action, guide in guides.items():
        title = guide.splitlines()[0].lstrip("# ").strip()
        symbol = f"guide:{action}"
        chunks.append(
            Chunk(
                library=library,
                symbol=symbol,
                kind="guide",
                source=f"guide:{action}",
                text=guide.strip(),
                embed_text=f"{title}. {_first_paragraph(guide.split(chr(10), 1)[1])}",
                fts_text=f"{identifier_words(guide)}\n{guide}",
            )
        )
    return chunks
