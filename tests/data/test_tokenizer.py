import json

import pytest

from lipreading.data.tokenizer import (
    BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_CHAR, UNK_ID, CharListUnits, CharTokenizer, SentencePieceUnits,
    TokenizerError, listed_characters, load_units, normalise_text, units_from_dict,
)


def test_round_trip_and_special_tokens(tmp_path):
    tokenizer = CharTokenizer.build(["我们今天上课。", "他们今天唱歌！"])
    assert tokenizer.tokens[:4] == list(SPECIAL_TOKENS) and (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    ids = (tokenizer.blank_id, tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id)
    assert ids == (0, 0, 1, 2, 3), "the units interface: the CTC blank shares id 0 with <pad>"
    assert tokenizer.tokens[4:6] == ["今", "们"]  # most frequent first (ties by code point)
    ids = tokenizer.encode("我们今天唱歌")
    assert min(ids) > UNK_ID and tokenizer.decode(ids) == "我们今天唱歌"
    assert tokenizer.decode([BOS_ID, *ids, EOS_ID, *ids]) == "我们今天唱歌"  # stops at <eos>
    tokenizer.save(tmp_path / "tokenizer.json")
    assert CharTokenizer.load(tmp_path / "tokenizer.json") == tokenizer


def test_out_of_vocabulary_characters_become_unk():
    tokenizer = CharTokenizer.build(["我们上课"])
    assert tokenizer.encode("我们跳舞") [2:] == [UNK_ID, UNK_ID]
    assert tokenizer.decode(tokenizer.encode("我们跳舞")) == "我们" + UNK_CHAR * 2  # one edit per unknown character
    assert tokenizer.oov_characters("我们跳舞") == ["跳", "舞"]


def test_punctuation_is_configurable():
    assert normalise_text("你好，世界！ ＡＢ  cd,ef", "remove") == "你好世界AB cd ef"
    keep = CharTokenizer.build(["你好，世界！"], punctuation="keep")
    assert "," in keep.tokens and keep.decode(keep.encode("你好，世界！")) == "你好,世界!"  # NFKC: full-width -> ASCII
    with pytest.raises(ValueError, match="punctuation"):
        CharTokenizer.build(["x"], punctuation="drop")


def test_a_damaged_tokenizer_file_is_named(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text("{not json")
    with pytest.raises(TokenizerError, match="tokenizer.json"):
        CharTokenizer.load(path)


def test_units_come_back_from_their_dict_and_an_unknown_type_is_named():
    tokenizer = CharTokenizer.build(["我们上课"], punctuation="keep")
    assert units_from_dict(tokenizer.to_dict()) == tokenizer
    with pytest.raises(TokenizerError, match=r"ckpt.*'bpe'.*known types: char"):
        units_from_dict({"type": "bpe"}, "ckpt")
ENGLISH = ["we're going to the park today", "the dog runs in the park", "don't stop the music now",
           "my friend cooked dinner at home", "they read a book in the garden"] * 8


def test_sentencepiece_units_in_auto_avsr_layout():
    units = SentencePieceUnits.build(ENGLISH, vocab_size=60)
    assert units.tokens[0] == "<blank>" and units.tokens[1] == "<unk>" and units.tokens[-1] == "<eos>"
    assert (units.blank_id, units.pad_id, units.unk_id) == (0, 0, 1)
    assert units.bos_id == units.eos_id == len(units) - 1  # Auto-AVSR: sos = eos = odim - 1
    pieces = units.tokens[2:-1]
    assert pieces == sorted(pieces, key=lambda p: p.encode("utf-8")) and "<s>" not in pieces
    ids = units.encode("We’re going to the PARK!")  # ’ is an apostrophe; punctuation and case normalised
    assert min(ids) > units.unk_id and units.decode(ids) == "WE'RE GOING TO THE PARK"
    assert units.decode([*ids, units.eos_id, *ids]) == "WE'RE GOING TO THE PARK"  # stops at <eos>
    assert units.decode([0, *ids[:2], 0]) == units.decode(ids[:2])  # blanks skipped
    assert units.oov_characters("the quiz") == ["Q", "Z"] and units.unk_id in units.encode("the quiz")
    assert units.decode(units.encode("quiz")).count(UNK_CHAR) >= 1


def test_units_round_trip_through_their_dict_and_file(tmp_path):
    spm = SentencePieceUnits.build(ENGLISH, vocab_size=60, uppercase=False)
    chars = CharTokenizer.build(["我们上课"])
    for units in (spm, chars):
        again = units_from_dict(json.loads(json.dumps(units.to_dict())))
        assert again == units and again.encode("we read") == units.encode("we read")
        units.save(tmp_path / "tokenizer.json")
        assert load_units(tmp_path / "tokenizer.json") == units
    with pytest.raises(TokenizerError, match="known types: char, sentencepiece"):
        units_from_dict({"type": "bpe"})
    with pytest.raises(TokenizerError, match="SentencePiece"):
        units_from_dict({"type": "sentencepiece", "model": "not base64!", "pieces": []})
    with pytest.raises(TokenizerError, match="vocab_size=8"):
        SentencePieceUnits.build(ENGLISH, vocab_size=8)  # fewer pieces than the transcripts' characters


def write_auto_avsr_units(path, pieces):
    """A units list as Auto-AVSR's spm/train.sh writes it: '<unk> 1', then 'PIECE N'."""
    path.write_text("".join(f"{piece} {n}\n" for n, piece in enumerate(["<unk>", *pieces], start=1)), encoding="utf-8")


def test_a_model_file_with_auto_avsrs_units_list_uses_its_ids(tmp_path):
    trained = SentencePieceUnits.build(ENGLISH, vocab_size=60)
    (tmp_path / "unigram.model").write_bytes(trained.model)
    listed = ["'", "123", *trained.tokens[3:-1]]  # a unit the model lacks shifts every later id, as in Auto-AVSR's
    write_auto_avsr_units(tmp_path / "units.txt", listed)
    units = SentencePieceUnits.from_files(tmp_path / "unigram.model", tmp_path / "units.txt")
    assert units.tokens == ["<blank>", "<unk>", *listed, "<eos>"] and len(units) == len(trained) + 1
    text = "they read a book in the park"
    assert [units.tokens[i] for i in units.encode(text)] == [trained.tokens[i] for i in trained.encode(text)]
    assert units.decode(units.encode(text)) == text.upper()
    assert SentencePieceUnits.from_files(tmp_path / "unigram.model") == trained  # no list: the model's pieces
    (tmp_path / "bad.txt").write_text("<unk> 1\nTHE 3\n", encoding="utf-8")
    with pytest.raises(TokenizerError, match="bad.txt:2"):
        SentencePieceUnits.from_files(tmp_path / "unigram.model", tmp_path / "bad.txt")
    (tmp_path / "broken.model").write_bytes(b"\x00not a model")
    with pytest.raises(TokenizerError, match="broken.model"):
        SentencePieceUnits.from_files(tmp_path / "broken.model")


def test_english_punctuation_keeps_word_apostrophes():
    assert normalise_text("We’re here, aren't we? 'Tis 'quoted' ' x", "keep_apostrophes") == "We're here aren't we 'Tis 'quoted' x"
    assert normalise_text("aren't", "remove") == "aren t"


def test_listed_characters_keep_the_lists_ids_and_layout(tmp_path):
    """A CNVSRC baseline char_units.txt ('<unk> 1', 'CHAR N'): its ids as listed, blank 0, <eos> = <sos> last."""
    path = tmp_path / "char_units.txt"
    write_auto_avsr_units(path, list("我们今天上课"))
    units = CharListUnits.from_file(path)
    assert units.tokens[:3] == ["<blank>", "<unk>", "我"] and units.tokens[-1] == "<eos>" and len(units) == 9
    assert (units.blank_id, units.pad_id, units.unk_id, units.bos_id, units.eos_id) == (0, 0, 1, 8, 8)
    assert units.encode("我们，今天 跳课！") == [2, 3, 4, 5, 1, 7]  # punctuation and spaces beside CJK dropped
    assert units.decode([2, 0, 3, 1, 8, 4]) == "我们" + UNK_CHAR and units.oov_characters("我跳") == ["跳"]
    assert units_from_dict(units.to_dict()) == units and listed_characters(["我们"], units_file=path) == units
    write_auto_avsr_units(path, ["我", "们", "我"])
    with pytest.raises(TokenizerError, match=r"char_units\.txt: the units must be distinct single characters.*\['我'\]"):
        CharListUnits.from_file(path)
