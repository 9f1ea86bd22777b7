"""Safe extraction of an SVG's title, description and keywords (its Dublin Core metadata).

The parser is stdlib expat driven directly (what ``xml.etree`` uses underneath) so that it can be
made defusedxml-strict: any DTD entity declaration, external entity or external DTD aborts the
parse instead of being expanded, and parsing stops as soon as the metadata block has been read,
so a multi-megabyte drawing is never parsed past its header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

CHUNK_BYTES = 64 * 1024
MAX_FIELD_CHARS = 300
DC = "http://purl.org/dc/elements/1.1/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
SVG = "http://www.w3.org/2000/svg"
_SPACE = re.compile(r"\s+")


class SvgMetadataError(ValueError):
    """The SVG could not be read safely; the message names the file and the reason."""


@dataclass(frozen=True)
class SvgMetadata:
    """What an SVG says about itself."""

    title: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()


class _Done(Exception):
    """Raised from a handler to stop parsing once the metadata has been read."""


class _Collector:
    def __init__(self) -> None:
        self.stack: list[str] = []
        self.text: list[str] = []
        self.fields: dict[str, list[str]] = {"title": [], "desc": [], "keyword": []}

    def start(self, name: str, _attrs: dict[str, str]) -> None:
        self.stack.append(name)
        self.text = []

    def end(self, name: str) -> None:
        text = clean_text("".join(self.text))
        parents = self.stack[:-1]
        if name == f"{DC} title" and _inside(parents, f"{SVG} metadata") and not _inside(
            parents, f"{DC} creator", f"{DC} publisher", f"{DC} rights"
        ):
            self.fields["title"].append(text)
        elif name == f"{DC} description":
            self.fields["desc"].append(text)
        elif name == f"{RDF} li" and _inside(parents, f"{DC} subject"):
            self.fields["keyword"].append(text)
        elif name in (f"{SVG} title", f"{SVG} desc") and len(parents) == 1:
            self.fields["title" if name.endswith("title") else "desc"].append(text)
        self.stack.pop()
        self.text = []
        if name == f"{SVG} metadata":
            raise _Done

    def chars(self, data: str) -> None:
        self.text.append(data)


def _inside(stack: list[str], *names: str) -> bool:
    return any(name in stack for name in names)


def clean_text(text: str) -> str:
    """Collapse whitespace, drop control characters, cap the length."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return _SPACE.sub(" ", text).strip()[:MAX_FIELD_CHARS]


def _forbid(kind: str, path: Path):  # noqa: ANN202 - expat handler factory
    def handler(*_args: object) -> None:
        raise SvgMetadataError(f"{path}: {kind} is forbidden (no entity expansion)")

    return handler


def read_svg_metadata(path: Path) -> SvgMetadata:
    """Parse ``path`` up to its ``</metadata>`` and return title, description and keywords.

    Raises :class:`SvgMetadataError` (naming the file) when the file is missing, is not
    well-formed XML, or declares entities or external DTD subsets.
    """
    collector = _Collector()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = _forbid("an entity declaration", path)
    parser.UnparsedEntityDeclHandler = _forbid("an unparsed entity", path)
    parser.ExternalEntityRefHandler = _forbid("an external entity", path)
    parser.StartElementHandler = collector.start
    parser.EndElementHandler = collector.end
    parser.CharacterDataHandler = collector.chars
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except _Done:
        pass
    except OSError as err:
        raise SvgMetadataError(f"{path}: cannot read: {err.strerror or err}") from err
    except expat.ExpatError as err:
        raise SvgMetadataError(f"{path}: not well-formed XML: {err}") from err
    fields = collector.fields
    title = next((t for t in fields["title"] if t), "")
    description = next((d for d in fields["desc"] if d), "")
    keywords = tuple(dict.fromkeys(k for k in fields["keyword"] if k))
    return SvgMetadata(title=title, description=description, keywords=keywords)
