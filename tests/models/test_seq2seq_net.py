import itertools
import math
from functools import partial

import pytest
import torch

from lipreading.models.backends.recurrent import BiGRU, BiLSTM
from lipreading.models.backends.stack import BackendStack
from lipreading.models.backends.tcn import TemporalConvNet
from lipreading.models.decoders.attention_lstm import AttentionLSTMDecoder
from lipreading.models.decoders.search import CTCPrefixScorer, beam_search, ctc_greedy, greedy_decode
from lipreading.models.decoders.transformer import TransformerDecoder
from lipreading.models.frontends.small import SmallFrontend
from lipreading.models.seq2seq import Seq2SeqNet

VOCAB = 9
BLANK_ID, BOS_ID, EOS_ID = 0, 1, 2  # the character tokenizer's layout; the network takes whatever it is given
DECODERS = {
    "attention_lstm": partial(AttentionLSTMDecoder, embed_dim=16, hidden_dim=32, num_heads=4, dropout=0.0),
    "transformer": partial(TransformerDecoder, d_model=32, num_heads=4, num_layers=2, ffn_dim=64, dropout=0.0),
}


def tiny_net(decoder="attention_lstm", ctc=True, vocab=VOCAB, blank_id=BLANK_ID, bos_id=BOS_ID, eos_id=EOS_ID) -> Seq2SeqNet:
    backend = partial(BackendStack, stages={
        "tcn": partial(TemporalConvNet, kernel_sizes=(3,), branch_channels=16, num_layers=1, dropout=0.0, activation="relu"),
        "bigru": partial(BiGRU, hidden_size=16, num_layers=2),
    })
    frontend = SmallFrontend(stem_channels=8, stages=((16, 2), (24, 2)))
    return Seq2SeqNet(frontend, backend, vocab, DECODERS[decoder] if decoder else None, ctc=ctc,
                      blank_id=blank_id, bos_id=bos_id, eos_id=eos_id)


@pytest.mark.parametrize("cell", [BiGRU, BiLSTM])
def test_recurrent_backends_ignore_padding(cell):
    torch.manual_seed(0)
    rnn = cell(input_dim=6, hidden_size=5, num_layers=2).eval()
    x = torch.randn(1, 7, 6)
    padded = torch.randn(2, 11, 6) * 10
    padded[0, :7] = x[0]
    out = rnn(padded, torch.tensor([7, 11]))
    assert out.shape == (2, 11, 10) and rnn.output_dim == 10
    assert torch.allclose(rnn(x, torch.tensor([7]))[0], out[0, :7], atol=1e-6) and out[0, 7:].abs().max() == 0


def test_encoder_is_padding_invariant():
    torch.manual_seed(0)
    net = tiny_net().eval()
    clip = torch.randn(1, 1, 12, 44, 44)
    padded = torch.randn(2, 1, 20, 44, 44) * 5
    padded[0, :, :12] = clip[0]
    with torch.no_grad():
        alone = net.encode(clip, torch.tensor([12]))
        batched = net.encode(padded, torch.tensor([12, 20]))
    assert torch.allclose(alone[0], batched[0, :12], atol=1e-5)


@pytest.mark.parametrize("name", DECODERS)
def test_decoder_shapes_and_memory_padding(name):
    torch.manual_seed(0)
    decoder = DECODERS[name](input_dim=12, vocab_size=VOCAB).eval()
    memory = torch.randn(3, 10, 12)
    lengths = torch.tensor([10, 6, 3])
    tokens = torch.randint(3, VOCAB, (3, 5))
    logits = decoder(memory, lengths, tokens)
    assert logits.shape == (3, 5, VOCAB)
    garbage = memory.clone()
    garbage[1, 6:] = 100.0  # beyond clip 1's length
    assert torch.allclose(decoder(garbage, lengths, tokens)[1], logits[1], atol=1e-5)
    # Step-by-step decoding gives the teacher-forced logits.
    state = decoder.init_state(memory, lengths)
    for t in range(5):
        step_logits, state = decoder.step(tokens[:, t], state)
        assert torch.allclose(step_logits, logits[:, t], atol=1e-5)


@pytest.mark.parametrize("name", DECODERS)
def test_beam_of_one_is_greedy(name):
    torch.manual_seed(1)
    decoder = DECODERS[name](input_dim=12, vocab_size=VOCAB).eval()
    last = decoder.output[-1] if isinstance(decoder.output, torch.nn.Sequential) else decoder.output
    with torch.no_grad():
        last.bias[EOS_ID] += 1.0  # so that some hypotheses end before max_length
    memory, lengths = torch.randn(4, 9, 12), torch.tensor([9, 7, 5, 2])
    greedy = greedy_decode(decoder, memory, lengths, BOS_ID, EOS_ID, max_length=8)
    assert greedy == beam_search(decoder, memory, lengths, BOS_ID, EOS_ID, max_length=8, beam_size=1)
    assert any(len(g) < 8 for g in greedy), "some hypotheses should end with <eos>"
    wide = beam_search(decoder, memory, lengths, BOS_ID, EOS_ID, max_length=8, beam_size=4)
    assert len(wide) == 4


def test_length_bonus_trades_score_for_length():
    """A bonus per token (ESPnet's LengthBonus, <eos> included) lengthens the best hypotheses."""
    torch.manual_seed(1)
    decoder = DECODERS["transformer"](input_dim=12, vocab_size=VOCAB).eval()
    with torch.no_grad():
        decoder.output.bias[EOS_ID] += 0.5
    memory, lengths = torch.randn(4, 9, 12), torch.tensor([9, 7, 5, 2])
    search = partial(beam_search, decoder, memory, lengths, BOS_ID, EOS_ID, 8, beam_size=3)
    plain, some, large = search(), search(length_bonus=0.5), search(length_bonus=5.0)
    totals = [sum(len(h) for h in hyps) for hyps in (plain, some, large)]
    assert totals[0] < totals[1] < totals[2], totals
    assert all(len(h) == 8 for h in large), "a large bonus runs every hypothesis to max_length"


def test_ctc_scores_only_the_decoders_pre_beam():
    """Joint search (ESPnet's pre-beam): a token outside the decoder's best int(1.5 * beam) is never emitted, however
    likely CTC finds it; with CTC alone it is."""
    torch.manual_seed(2)
    favourite = 5
    decoder = DECODERS["transformer"](input_dim=12, vocab_size=VOCAB).eval()
    with torch.no_grad():
        decoder.output.bias[favourite] -= 30.0  # the decoder's last choice
    memory, lengths = torch.randn(2, 9, 12), torch.tensor([9, 6])
    ctc = torch.full((2, 9, VOCAB), -20.0)
    ctc[:, :, favourite], ctc[:, 1::2, BLANK_ID] = 0.0, 0.0  # CTC's certain reading: favourite, blank, favourite ...
    ctc = ctc.log_softmax(-1)
    joint = beam_search(decoder, memory, lengths, BOS_ID, EOS_ID, 6, beam_size=2, ctc_log_probs=ctc, ctc_weight=0.9)
    assert joint and not any(favourite in h for h in joint)
    alone = beam_search(None, memory, lengths, BOS_ID, EOS_ID, 6, beam_size=2, ctc_log_probs=ctc, ctc_weight=1.0)
    assert all(h and set(h) == {favourite} for h in alone)


@pytest.mark.parametrize("name", DECODERS)
def test_beam_search_when_start_and_end_share_an_id(name):
    """Auto-AVSR's units: <sos> = <eos> = the last id. The search must still end hypotheses with it."""
    torch.manual_seed(1)
    end = VOCAB - 1
    decoder = DECODERS[name](input_dim=12, vocab_size=VOCAB).eval()
    last = decoder.output[-1] if isinstance(decoder.output, torch.nn.Sequential) else decoder.output
    with torch.no_grad():
        last.bias[end] += 1.0
    memory, lengths = torch.randn(4, 9, 12), torch.tensor([9, 7, 5, 2])
    ctc = torch.randn(4, 9, VOCAB).log_softmax(-1)
    greedy = greedy_decode(decoder, memory, lengths, end, end, max_length=8)
    assert greedy == beam_search(decoder, memory, lengths, end, end, max_length=8, beam_size=1)
    assert any(len(g) < 8 for g in greedy) and not any(end in g for g in greedy)
    joint = beam_search(decoder, memory, lengths, end, end, 8, beam_size=3, ctc_log_probs=ctc, ctc_weight=0.3, blank=0)
    assert any(len(h) < 8 for h in joint) and not any({0, end} & set(h) for h in joint)


def _brute_force_prefix(probs: torch.Tensor, prefix: tuple[int, ...], blank: int) -> tuple[float, float]:
    """P(labelling starts with prefix), P(labelling == prefix), summing every CTC path."""
    steps, vocab = probs.shape
    starts = exact = 0.0
    for path in itertools.product(range(vocab), repeat=steps):
        labels = tuple(c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1]))
        p = math.prod(float(probs[t, c]) for t, c in enumerate(path))
        starts += p * (labels[: len(prefix)] == prefix)
        exact += p * (labels == prefix)
    return starts, exact


def test_ctc_prefix_scores_on_a_hand_case():
    # Two frames, each blank or 'a' with p = 0.5: "a" is a, a-, -a, aa (0.75); "" is -- (0.25).
    blank, eos, a = 0, 2, 3
    probs = torch.full((1, 2, 5), 1e-12)
    probs[0, :, blank] = probs[0, :, a] = 0.5
    scorer = CTCPrefixScorer(probs.log(), torch.tensor([2]), 1, blank, eos)
    scores, _ = scorer.extend(*scorer.initial_state())
    assert scores[0, a].exp().item() == pytest.approx(0.75, abs=1e-6)
    assert scores[0, eos].exp().item() == pytest.approx(0.25, abs=1e-6)
    assert scores[0, blank].item() == float("-inf")


def test_ctc_prefix_scores_match_brute_force_and_padding():
    torch.manual_seed(0)
    blank, eos = 0, 2
    probs = torch.softmax(torch.randn(1, 3, 4), -1)
    padded = torch.cat([probs, torch.softmax(torch.randn(1, 2, 4), -1)], dim=1)  # 2 frames of padding
    scorer = CTCPrefixScorer(padded.log(), torch.tensor([3]), 1, blank, eos)
    r, last = scorer.initial_state()
    scores, extended = scorer.extend(r, last)
    for c in (1, 3):
        starts, _ = _brute_force_prefix(probs[0], (c,), blank)
        assert scores[0, c].exp().item() == pytest.approx(starts, rel=1e-5)
    # Extend "3" by each token: the prefix "3 c" and the end of "3".
    scores, _ = scorer.extend(extended[:, :, 3], torch.tensor([3]))
    for c in (1, 3):
        assert scores[0, c].exp().item() == pytest.approx(_brute_force_prefix(probs[0], (3, c), blank)[0], rel=1e-5)
    assert scores[0, eos].exp().item() == pytest.approx(_brute_force_prefix(probs[0], (3,), blank)[1], rel=1e-5)


def test_ctc_greedy_keeps_a_label_repeated_across_a_blank_and_stops_at_the_length():
    """(The exported models' CTC path, run/sentence_onnx.py, decodes with this function too.)"""
    log_probs = torch.log(torch.eye(4)[[1, 1, 0, 1, 2, 2, 3]] + 1e-6)[None]  # argmax 1 1 _ 1 2 2 3
    assert ctc_greedy(log_probs, torch.tensor([7]), blank=0) == [[1, 1, 2, 3]]
    assert ctc_greedy(log_probs, torch.tensor([4]), blank=0) == [[1, 1]]


def test_ctc_greedy_merges_repeats_and_drops_blanks():
    frames = torch.tensor([[3, 3, 0, 3, 4, 4, 0, 5]])
    log_probs = torch.nn.functional.one_hot(frames, 6).float().log()
    assert ctc_greedy(log_probs, torch.tensor([7])) == [[3, 3, 4]]


def test_the_network_decodes_with_the_special_ids_it_is_given():
    """The blank and <eos> are the units' (passed down), not constants: a SentencePiece-like layout
    (blank 0, <bos> = <eos> = the last id) decodes by it."""
    net = tiny_net(None, ctc=True, blank_id=4).eval()
    with torch.no_grad():
        net.ctc_head.weight.zero_()
        net.ctc_head.bias.copy_(torch.nn.functional.one_hot(torch.tensor(4), VOCAB).float() * 5)  # every frame: 4
    video, lengths = torch.randn(1, 1, 6, 44, 44), torch.tensor([6])
    assert net.decode(video, lengths, method="ctc_greedy") == [[]]  # 4 is the blank
    net.blank_id = 0
    assert net.decode(video, lengths, method="ctc_greedy") == [[4]]
    last = VOCAB - 1
    hybrid = tiny_net("transformer", ctc=False, bos_id=last, eos_id=last).eval()
    output = hybrid.decoder.output[-1] if isinstance(hybrid.decoder.output, torch.nn.Sequential) else hybrid.decoder.output
    with torch.no_grad():
        output.bias[last] += 100.0  # <eos> first: the empty sentence
    assert hybrid.decode(video, lengths, method="greedy") == [[]]
    assert hybrid.decode(video, lengths, method="beam", beam_size=2) == [[]]


@pytest.mark.parametrize("decoder,ctc", [("attention_lstm", True), ("transformer", True), (None, True), ("transformer", False)])
def test_seq2seq_net_decodes_every_way(decoder, ctc):
    net = tiny_net(decoder, ctc).eval()
    video, lengths = torch.randn(2, 1, 10, 44, 44), torch.tensor([10, 6])
    out = net(video, lengths, torch.full((2, 4), BOS_ID))
    assert ("ctc_log_probs" in out) == ctc and ("decoder_logits" in out) == (decoder is not None)
    methods = ["greedy", "beam"] + (["ctc_greedy"] if ctc else [])
    for method in methods:
        hyps = net.decode(video, lengths, method=method, beam_size=3, max_length=6)
        assert len(hyps) == 2 and all(len(h) <= 10 for h in hyps)
    with pytest.raises(ValueError, match="valid"):
        net.decode(video, lengths, method="viterbi")
