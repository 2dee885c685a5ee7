"""Decoding: CTC greedy, attention greedy, and batched beam search with optional CTC prefix scores.

Joint CTC/attention beam search follows Watanabe et al., "Hybrid CTC/Attention Architecture for
End-to-End Speech Recognition", IEEE JSTSP 2017 (Algorithm 2: CTC prefix scoring): a hypothesis
scores ``(1 - ctc_weight) * log p_att + ctc_weight * log p_ctc(prefix) + length_bonus * tokens``; as in
ESPnet's ``BeamSearch`` (the search of Auto-AVSR, github.com/mpc001/auto_avsr ``espnet/nets/beam_search.py``),
only the ``int(1.5 * beam_size)`` best tokens of the attention decoder (and ``<eos>``) are scored by CTC at a
step when both are used (its pre-beam), and every emitted token, ``<eos>`` included, earns the
``length_bonus`` (its ``LengthBonus`` scorer). Hypotheses end as in that search too: of the best
``beam_size`` extensions of a step, those ending with ``<eos>`` are finished and the others continue
(the beam refills from the next step's best extensions); at ``max_length`` tokens the live ones
finish as they are; a sentence is done when none is live, or when for three lengths in a row its
best finished hypothesis of that length trails its best one by more than 10 (ESPnet's
``end_detect``, Watanabe et al. 2017, eq. 50). With ``beam_size=1`` this is exactly greedy decoding.
Decoders provide ``init_state(memory, lengths)`` and ``step(tokens, state) -> (logits, state)``,
with every state tensor batch-first so hypotheses can be reordered.

Shallow fusion (Gulcehre et al., 2015; Kannan et al., "An analysis of incorporating an external
language model into a sequence-to-sequence model", ICASSP 2018; ESPnet's ``BatchBeamSearch`` with an
``lm`` scorer): a token language model (``init_state(n, device)`` and ``step``, e.g.
:class:`~lipreading.models.language_model.LSTMLanguageModel`) adds ``lm_weight * log p_lm(prefix)``
to every hypothesis' score, its ``<eos>`` probability included when a hypothesis ends.
"""

from __future__ import annotations

from typing import Protocol

import torch

from lipreading.models.masks import padding_mask

State = dict[str, torch.Tensor]
PRE_BEAM_RATIO = 1.5
"""CTC scores the decoder's best ``int(PRE_BEAM_RATIO * beam_size)`` tokens of each step (ESPnet's ``pre_beam_ratio``)."""


class StepDecoder(Protocol):
    def init_state(self, memory: torch.Tensor, memory_lengths: torch.Tensor) -> State: ...

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]: ...


class StepLanguageModel(Protocol):
    vocab_size: int

    def init_state(self, batch: int, device: torch.device) -> State: ...

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]: ...


def ctc_greedy(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path of (B, T, V) CTC log-probs: argmax per frame, repeats merged, blanks dropped."""
    best = log_probs.argmax(-1)  # (B, T)
    out = []
    for b in range(best.shape[0]):
        path = best[b, : int(lengths[b])].tolist()
        out.append([t for i, t in enumerate(path) if t != blank and (i == 0 or t != path[i - 1])])
    return out


@torch.no_grad()
def greedy_decode(
    decoder: StepDecoder, memory: torch.Tensor, memory_lengths: torch.Tensor, bos: int, eos: int, max_length: int
) -> list[list[int]]:
    """Argmax token by token until ``<eos>`` (or ``max_length`` tokens), for a whole batch at once."""
    batch = memory.shape[0]
    state = decoder.init_state(memory, memory_lengths)
    tokens = torch.full((batch,), bos, dtype=torch.long, device=memory.device)
    done = torch.zeros(batch, dtype=torch.bool, device=memory.device)
    out: list[list[int]] = [[] for _ in range(batch)]
    for _ in range(max_length):
        logits, state = decoder.step(tokens, state)
        tokens = logits.argmax(-1)
        for b in (~done).nonzero().flatten().tolist():
            if int(tokens[b]) != eos:
                out[b].append(int(tokens[b]))
        done |= tokens == eos
        if bool(done.all()):
            break
    return out


class CTCPrefixScorer:
    """Log-probability under CTC of every one-token extension of each hypothesis' prefix.

    ``log_probs`` (B, T, V) and ``lengths`` (B,); hypotheses ``n`` belong to utterance
    ``n // hyps_per_utterance``. Frames past an utterance's length are made certain blanks, so
    the forward variables at the last frame hold the value at the utterance's own end.
    """

    def __init__(self, log_probs: torch.Tensor, lengths: torch.Tensor, hyps_per_utterance: int, blank: int, eos: int) -> None:
        steps = log_probs.shape[1]
        past_end = padding_mask(lengths, steps)  # (B, T)
        x = log_probs.float().masked_fill(past_end[..., None], float("-inf"))
        x[..., blank] = x[..., blank].masked_fill(past_end, 0.0)
        self.x = x.repeat_interleave(hyps_per_utterance, dim=0)  # (N, T, V)
        self.blank, self.eos = blank, eos

    def initial_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward variables of the empty prefix: (N, T, 2) [non-blank end, blank end] and last token (N,)."""
        r_blank = self.x[..., self.blank].cumsum(dim=1)
        r = torch.stack([torch.full_like(r_blank, float("-inf")), r_blank], dim=-1)
        return r, torch.full((self.x.shape[0],), -1, dtype=torch.long, device=self.x.device)

    def extend(self, r: torch.Tensor, last: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefix log-probs (N, V) of each extension and their forward variables (N, T, V, 2)."""
        x = self.x  # (N, T, V)
        n, steps, vocab = x.shape
        r_nonblank, r_blank = r[..., 0], r[..., 1]  # (N, T)
        # phi[t, c]: mass of the prefix ending at frame t from which c can start a new symbol
        # (after a blank only, when c repeats the prefix's last symbol).
        phi = torch.logaddexp(r_nonblank, r_blank)[:, :, None].expand(n, steps, vocab).clone()
        repeat = torch.nn.functional.one_hot(last.clamp(min=0), vocab).bool() & (last >= 0)[:, None]  # (N, V)
        phi = torch.where(repeat[:, None, :], r_blank[:, :, None], phi)
        empty = (last < 0)[:, None]  # the empty prefix may start at frame 0
        new = x.new_full((n, steps, vocab, 2), float("-inf"))
        new[:, 0, :, 0] = torch.where(empty, x[:, 0], torch.full_like(x[:, 0], float("-inf")))
        for t in range(1, steps):
            new[:, t, :, 0] = torch.logaddexp(new[:, t - 1, :, 0], phi[:, t - 1]) + x[:, t]
            new[:, t, :, 1] = torch.logaddexp(new[:, t - 1, :, 0], new[:, t - 1, :, 1]) + x[:, t, self.blank, None]
        start = torch.cat([new[:, :1, :, 0], phi[:, :-1] + x[:, 1:]], dim=1)  # (N, T, V)
        scores = torch.logsumexp(start, dim=1)  # (N, V)
        scores[:, self.eos] = torch.logaddexp(r_nonblank[:, -1], r_blank[:, -1])
        scores[:, self.blank] = float("-inf")
        return scores, new


END_DETECT_LENGTHS, END_DETECT_MARGIN = 3, -10.0


def ended_long_ago(best_ended_at: dict[int, float], step: int) -> bool:
    """ESPnet's ``end_detect`` (Watanabe et al. 2017, eq. 50) after ``step``: for each of the last three lengths
    its hypotheses ended at (steps ``step - 2 - m``, ``m`` < 3: ESPnet counts a hypothesis' length with its
    ``<sos>`` and ``<eos>``), the best that ended then trails the best of all by more than 10."""
    if not best_ended_at:
        return False
    best = max(best_ended_at.values())
    trailing = [best_ended_at.get(step - 2 - m, float("inf")) - best < END_DETECT_MARGIN for m in range(END_DETECT_LENGTHS)]
    return all(trailing)


@torch.no_grad()
def beam_search(
    decoder: StepDecoder | None,
    memory: torch.Tensor,
    memory_lengths: torch.Tensor,
    bos: int,
    eos: int,
    max_length: int,
    beam_size: int = 5,
    length_penalty: float = 0.0,
    ctc_log_probs: torch.Tensor | None = None,
    ctc_weight: float = 0.0,
    blank: int = 0,
    length_bonus: float = 0.0,
    lm: StepLanguageModel | None = None,
    lm_weight: float = 0.0,
) -> list[list[int]]:
    """Best hypothesis per utterance (token ids without ``<bos>``/``<eos>``).

    Finished hypotheses are ranked by ``score / length ** length_penalty`` (0: raw
    log-probability, 1: per token). ``ctc_weight`` > 0 needs ``ctc_log_probs`` (B, T, V);
    ``decoder=None`` with ``ctc_weight=1`` is CTC prefix beam search. ``bos`` may equal ``eos``
    (Auto-AVSR's units): predicting that id then ends a hypothesis. With ``lm``, each
    hypothesis' score gains ``lm_weight`` times its log-probability under that language model
    (over the same units: same vocabulary size).
    """
    if not 0.0 <= ctc_weight <= 1.0:
        raise ValueError(f"ctc_weight={ctc_weight}: use a value in [0, 1]")
    if ctc_weight > 0 and ctc_log_probs is None:
        raise ValueError("ctc_weight > 0 needs the CTC head's log-probs (this model has no CTC head)")
    if decoder is None and ctc_weight < 1.0:
        raise ValueError("without an attention decoder the search is CTC only: set ctc_weight=1")
    batch, device, k = memory.shape[0], memory.device, beam_size
    n = batch * k
    vocab = ctc_log_probs.shape[-1] if ctc_log_probs is not None else decoder.vocab_size
    if lm is not None and lm.vocab_size != vocab:
        raise ValueError(f"the language model predicts {lm.vocab_size} tokens but the model {vocab}: "
                         "fusion needs an LM trained on the same units")
    lm_state = lm.init_state(n, device) if lm is not None else None
    lm_scores = torch.zeros(n, device=device)
    state = decoder.init_state(memory.repeat_interleave(k, 0), memory_lengths.repeat_interleave(k, 0)) if decoder else None
    scorer = CTCPrefixScorer(ctc_log_probs, memory_lengths, k, blank, eos) if ctc_weight > 0 else None
    ctc_state = scorer.initial_state() if scorer else None
    att_scores = torch.zeros(n, device=device)
    dead = torch.ones(batch, k, dtype=torch.bool, device=device)
    dead[:, 0] = False  # one live hypothesis to begin with
    dead = dead.flatten()
    tokens = torch.full((n, 1), bos, dtype=torch.long, device=device)
    never = [blank] + ([bos] if bos != eos else [])  # tokens no hypothesis continues with
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    best_ended_at: list[dict[int, float]] = [{} for _ in range(batch)]  # step -> best score of those ended then
    done = [False] * batch
    utterance = torch.arange(batch, device=device)[:, None] * k
    for step in range(max_length):
        if decoder is not None:
            logits, state = decoder.step(tokens[:, -1], state)
            step_log_p = logits.float().log_softmax(-1)
            log_p = step_log_p.clone()
            log_p[:, never] = float("-inf")
            att = att_scores[:, None] + log_p  # (N, V)
        if scorer is not None:
            ctc, ctc_extended = scorer.extend(*ctc_state)
            ctc[:, never] = float("-inf")
        if ctc_weight == 0.0:
            total = att
        elif ctc_weight == 1.0:
            total = ctc
        else:
            # Pre-beam (ESPnet's): CTC scores only the decoder's best PRE_BEAM_RATIO * K tokens, and <eos>.
            candidates = step_log_p.topk(min(int(PRE_BEAM_RATIO * k), vocab), dim=-1).indices  # (N, P), blank included
            pre_beam = torch.zeros_like(log_p, dtype=torch.bool).scatter_(1, candidates, True)
            pre_beam[:, eos] = True
            total = ((1.0 - ctc_weight) * att + ctc_weight * ctc).masked_fill(~pre_beam, float("-inf"))
        if lm is not None:
            lm_logits, lm_state = lm.step(tokens[:, -1], lm_state)
            lm_total = lm_scores[:, None] + lm_logits.float().log_softmax(-1)  # (N, V)
            total = total + lm_weight * lm_total
        if length_bonus:
            total = total + length_bonus * (step + 1)  # every token so far and the new one, <eos> included
        total = total.masked_fill(dead[:, None], float("-inf")).view(batch, k * vocab)
        values, indices = total.topk(k, dim=1)  # (B, K): the best extensions of each utterance's live hypotheses
        source = (indices // vocab + utterance).flatten()  # (N,)
        token = (indices % vocab).flatten()
        ends = (token == eos) | (step == max_length - 1)  # at max_length the live ones finish as they are
        for hyp in (ends & torch.isfinite(values.flatten())).nonzero().flatten().tolist():
            b = hyp // k
            if not done[b]:
                score = float(values.flatten()[hyp])
                kept = tokens[source[hyp], 1:].tolist() + ([] if int(token[hyp]) == eos else [int(token[hyp])])
                finished[b].append((score / (len(kept) + 1) ** length_penalty, kept))
                best_ended_at[b][step] = max(best_ended_at[b].get(step, float("-inf")), score)
        dead = ends | ~torch.isfinite(values.flatten())
        if decoder is not None:
            att_scores = att[source, token]
            state = {key: value.index_select(0, source) for key, value in state.items()}
        if scorer is not None:
            ctc_state = (ctc_extended[source, :, token], token)
        if lm is not None:
            lm_scores = lm_total[source, token]
            lm_state = {key: value.index_select(0, source) for key, value in lm_state.items()}
        tokens = torch.cat([tokens.index_select(0, source), token[:, None]], dim=1)
        live = (~dead).view(batch, k).any(dim=1).tolist()
        for b in range(batch):
            done[b] = done[b] or not live[b] or ended_long_ago(best_ended_at[b], step)
            if done[b]:
                dead[b * k:(b + 1) * k] = True
        if all(done):
            break
    best = []
    for b in range(batch):
        hyps = finished[b] or [(0.0, [])]
        best.append(max(hyps, key=lambda h: h[0])[1])
    return best
