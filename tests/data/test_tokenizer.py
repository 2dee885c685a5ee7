import pytest

from lipreading.data.tokenizer import (
    BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_CHAR, UNK_ID, CharTokenizer, TokenizerError, normalise_text,
    units_from_dict,
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
