from functools import partial

import pytest
import torch
from torchmetrics.text import CharErrorRate

from lipreading.data.tokenizer import BOS_ID, EOS_ID, PAD_ID, CharTokenizer, SentencePieceUnits
from lipreading.run.sentences import sentence_predictions
from lipreading.tasks.seq2seq import IGNORE_INDEX, Seq2SeqTask, decoder_io
from tests.models.test_seq2seq_net import tiny_net


def test_cer_on_a_hand_computed_example():
    # 我们今天上课 -> 我们明天课: one substitution (今->明) and one deletion (上): 2 edits / 6 characters.
    metric = CharErrorRate()
    metric.update(["我们明天课"], ["我们今天上课"])
    assert float(metric.compute()) == pytest.approx(2 / 6)
    # Corpus CER pools edits: (2 + 0) / (6 + 3), not the mean of 1/3 and 0.
    metrics, table = sentence_predictions([
        {"hypothesis": ["我们明天课", "他唱歌"], "reference": ["我们今天上课", "他唱歌"], "id": ["a", "b"], "path": ["a", "b"]}
    ])
    assert metrics["cer"] == pytest.approx(2 / 9) and metrics["sentence_accuracy"] == 0.5
    assert table.splitlines()[1] == "a,a,我们今天上课,我们明天课,0.3333"


def test_decoder_inputs_and_targets():
    tokens = torch.tensor([[5, 6, 7], [8, PAD_ID, PAD_ID]])
    decoder_input, target = decoder_io(tokens, torch.tensor([3, 1]), BOS_ID, EOS_ID)
    assert decoder_input.tolist() == [[BOS_ID, 5, 6, 7], [BOS_ID, 8, EOS_ID, EOS_ID]]
    assert target.tolist() == [[5, 6, 7, EOS_ID], [8, EOS_ID, IGNORE_INDEX, IGNORE_INDEX]]


def test_decoder_io_with_one_start_and_end_id_and_any_padding():
    """Auto-AVSR's units: <sos> = <eos> = the last id; what the batch was padded with never matters."""
    tokens = torch.tensor([[5, 6], [7, 0]])
    decoder_input, target = decoder_io(tokens, torch.tensor([2, 1]), 9, 9)
    assert decoder_input.tolist() == [[9, 5, 6], [9, 7, 9]]
    assert target.tolist() == [[5, 6, 9], [7, 9, IGNORE_INDEX]]
    again = decoder_io(torch.tensor([[5, 6], [7, 3]]), torch.tensor([2, 1]), 9, 9)
    assert torch.equal(again[0], decoder_input) and torch.equal(again[1], target)


def _task(tokenizer=None, **kwargs) -> Seq2SeqTask:
    tokenizer = tokenizer or CharTokenizer(list("我们他上课"))  # 9 tokens
    net = tiny_net("attention_lstm", vocab=len(tokenizer), blank_id=tokenizer.blank_id, bos_id=tokenizer.bos_id,
                   eos_id=tokenizer.eos_id)
    return Seq2SeqTask(net, tokenizer, optimizer=partial(torch.optim.AdamW, lr=3e-3), **kwargs)


UNITS = {  # characters (<bos> 1, <eos> 2), and SentencePiece pieces in Auto-AVSR's layout (<sos> = <eos> = last)
    "char": (lambda: CharTokenizer(list("我们他上课")), ["我们上课", "他上课", "我们"]),
    "sentencepiece": (lambda: SentencePieceUnits.build(["WE READ", "THEY READ", "WE SANG", "THEY"] * 4, vocab_size=20),
                      ["WE READ", "THEY READ", "WE"]),
}


@pytest.mark.parametrize("kind", UNITS)
def test_a_tiny_hybrid_model_overfits_one_batch(kind):
    torch.manual_seed(0)
    make_units, texts = UNITS[kind]
    task = _task(make_units(), ctc_weight=0.5, label_smoothing=0.0, teacher_forcing={"initial": 0.8, "final": 0.8})
    tokens = [task.tokenizer.encode(t) for t in texts]
    width = max(map(len, tokens))
    batch = {
        "video": torch.randn(3, 1, 12, 44, 44), "lengths": torch.tensor([12, 10, 8]),
        "tokens": torch.tensor([t + [task.tokenizer.pad_id] * (width - len(t)) for t in tokens]),
        "token_lengths": torch.tensor([len(t) for t in tokens]), "text": texts, "skipped": 0,
    }
    optimizer = torch.optim.AdamW(task.parameters(), lr=3e-3)
    task.train()
    first = None
    for _ in range(100):
        loss = task._losses(batch, task.teacher_forcing_ratio())["loss"]
        first = first if first is not None else float(loss.detach())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.1 * first
    task.eval()
    assert task.transcribe(batch["video"], batch["lengths"], method="greedy") == texts
    assert task.transcribe(batch["video"], batch["lengths"], method="ctc_greedy") == texts
    assert task.transcribe(batch["video"], batch["lengths"], method="beam", beam_size=3, ctc_weight=0.3) == texts


def test_teacher_forcing_decays_on_its_schedule():
    task = _task(teacher_forcing={"initial": 1.0, "final": 0.6, "decay_start": 1.0, "decay_end": 3.0})

    class FakeTrainer:
        num_training_batches, accumulate_grad_batches = 10, 1
        global_step = 0

    task._trainer = FakeTrainer()
    ratios = []
    for step in (0, 10, 20, 30, 40):
        FakeTrainer.global_step = step
        ratios.append(task.teacher_forcing_ratio())
    assert ratios == pytest.approx([1.0, 1.0, 0.8, 0.6, 0.6])


def test_unknown_decoding_method_lists_the_valid_ones():
    with pytest.raises(ValueError, match="greedy"):
        _task(decoding={"method": "viterbi"})
