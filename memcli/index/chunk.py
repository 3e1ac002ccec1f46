"""Split a note into search chunks; a memory is one chunk. Pure text in, text out."""

from __future__ import annotations

import re

# all-MiniLM-L6-v2 reads 256 word pieces; English averages ~1.3 pieces a word, so 160 words
# (plus a title line) stays inside the window with room to spare.
MAX_WORDS = 160
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _split_long(paragraph: str, max_words: int) -> list[str]:
    """A paragraph over the limit: cut at sentence ends, then at word boundaries."""
    pieces: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        words = sentence.split()
        while len(words) > max_words:  # one very long sentence
            if current:
                pieces.append(" ".join(current))
                current = []
            pieces.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if len(current) + len(words) > max_words and current:
            pieces.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        pieces.append(" ".join(current))
    return pieces


def sections(body: str) -> list[tuple[str, str]]:
    """(heading, text) blocks of a markdown body, in order; text before any heading has heading ''."""
    blocks: list[tuple[str, list[str]]] = [("", [])]
    in_code = False
    for line in body.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            blocks.append((match.group(2).strip(), []))
        else:
            blocks[-1][1].append(line)
    return [(heading, "\n".join(lines).strip()) for heading, lines in blocks if heading or "\n".join(lines).strip()]


def chunk_note(title: str, body: str, max_words: int = MAX_WORDS) -> list[str]:
    """Chunks of a note, each starting with the note's title (and the section heading) for context."""
    chunks: list[str] = []
    for heading, text in sections(body):
        prefix = title if not heading or heading == title else f"{title} — {heading}"
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
        pieces: list[str] = []
        for paragraph in paragraphs:
            pieces.extend(_split_long(" ".join(paragraph.split()), max_words))
        # Pack small paragraphs together up to the limit.
        packed: list[str] = []
        for piece in pieces:
            if packed and len(packed[-1].split()) + len(piece.split()) <= max_words:
                packed[-1] = f"{packed[-1]}\n{piece}"
            else:
                packed.append(piece)
        chunks.extend(f"{prefix}\n{piece}" for piece in packed)
        if not packed and heading:
            chunks.append(prefix)
    return chunks or [title]
