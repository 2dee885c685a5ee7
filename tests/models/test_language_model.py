"""The token language model and its shallow fusion in the beam search."""

import pytest
import torch

from lipreading.models.decoders.search import beam_search
from lipreading.models.language_model import LSTMLanguageModel
from tests.models.test_seq2seq_net import BLANK_ID, BOS_ID, DECODERS, EOS_ID, VOCAB, tiny_net


def tiny_lm(seed: int = 0) -> LSTMLanguageModel:
    torch.manual_seed(seed)
    return LSTMLanguageModel(VOCAB, embed_dim=8, hidden_dim=16, num_layers=2, dropout=0.0,
                             blank_id=BLANK_ID, bos_id=BOS_ID, eos_id=EOS_ID).eval()


def test_lm_ignores_padding_and_steps_as_it_reads_whole_sentences():
    lm = tiny_lm()
    sentence = torch.tensor([[BOS_ID, 3, 5, 4, 7]])
    padded = torch.randint(3, VOCAB, (2, 9))
    padded[0, :5] = sentence[0]  # sentence 0 then 4 positions of junk
    with torch.no_grad():
        alone, batched = lm(sentence), lm(padded)
        assert torch.allclose(alone[0], batched[0, :5], atol=1e-6)
        state = lm.init_state(2, torch.device("cpu"))
        for t in range(9):
            logits, state = lm.step(padded[:, t], state)
            assert torch.allclose(logits, batched[:, t], atol=1e-5)


def _search(seed: int, decoder: str | None, lm: LSTMLanguageModel | None, lm_weight: float) -> list[list[int]]:
    torch.manual_seed(seed)
    net = tiny_net(decoder).eval()
    memory, lengths = torch.randn(3, 8, net.backend.output_dim), torch.tensor([8, 6, 3])
    ctc = net.ctc_log_probs(memory)
    weight = 0.3 if decoder else 1.0
    return beam_search(net.decoder, memory, lengths, BOS_ID, EOS_ID, max_length=6, beam_size=4,
                       ctc_log_probs=ctc, ctc_weight=weight, blank=BLANK_ID, lm=lm, lm_weight=lm_weight)


@pytest.mark.parametrize("decoder", [*DECODERS, None])
def test_fusion_at_weight_zero_is_the_search_without_a_language_model(decoder):
    lm = tiny_lm()
    with torch.no_grad():
        lm.output.bias[3:] = torch.linspace(-4, 4, VOCAB - 3)  # a strong, non-uniform LM
    plain = [_search(seed, decoder, None, 0.0) for seed in range(6)]
    assert plain == [_search(seed, decoder, lm, 0.0) for seed in range(6)]
    # The same LM at weight 2 changes some hypothesis: the test above would see a fusion that leaks at weight 0.
    assert plain != [_search(seed, decoder, lm, 2.0) for seed in range(6)]


def test_an_lm_that_prefers_a_continuation_changes_the_hypothesis_to_it():
    # CTC reads token 3, then 4 or 5 (0.55 against 0.45), then blanks: "3 4" without a language model.
    a, b, c = 3, 4, 5
    probs = torch.full((1, 4, VOCAB), 1e-6)
    probs[0, 0, a] = 1.0
    probs[0, 1, b], probs[0, 1, c] = 0.55, 0.45
    probs[0, 2:, BLANK_ID] = 1.0
    log_probs = (probs / probs.sum(-1, keepdim=True)).log()
    lm = tiny_lm()
    with torch.no_grad():  # an LM that always prefers token 5 to token 4 (by 2 nats): logits = bias
        lm.output.weight.zero_()
        lm.output.bias.zero_()
        lm.output.bias[c] = 2.0
    memory, lengths = torch.zeros(1, 4, 1), torch.tensor([4])
    search = dict(max_length=4, beam_size=3, ctc_log_probs=log_probs, ctc_weight=1.0, blank=BLANK_ID)
    assert beam_search(None, memory, lengths, BOS_ID, EOS_ID, **search) == [[a, b]]
    assert beam_search(None, memory, lengths, BOS_ID, EOS_ID, **search, lm=lm, lm_weight=0.05) == [[a, b]]  # 0.1 < log(.55/.45)
    assert beam_search(None, memory, lengths, BOS_ID, EOS_ID, **search, lm=lm, lm_weight=0.5) == [[a, c]]


def test_fusion_needs_the_models_units_and_the_beam_search():
    net = tiny_net().eval()
    other = LSTMLanguageModel(VOCAB + 2, embed_dim=8, hidden_dim=16, blank_id=BLANK_ID, bos_id=BOS_ID, eos_id=EOS_ID)
    video, lengths = torch.randn(1, 1, 6, 44, 44), torch.tensor([6])
    with pytest.raises(ValueError, match="predicts 11 tokens but the model 9"):
        net.decode(video, lengths, method="beam", lm=other, lm_weight=0.3)
    with pytest.raises(ValueError, match="method='greedy': use beam"):
        net.decode(video, lengths, method="greedy", lm=tiny_lm(), lm_weight=0.3)
    assert len(net.decode(video, lengths, method="beam", beam_size=2, lm=tiny_lm(), lm_weight=0.3)) == 1
