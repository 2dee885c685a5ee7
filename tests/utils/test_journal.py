"""The journal of a batch job: rows recorded as they finish; a torn last line and another job's journal."""

from lipreading.utils.journal import Journal


def test_rows_survive_a_torn_last_line_and_another_jobs_journal_is_set_aside(tmp_path):
    path = tmp_path / "mixtures.jsonl"
    journal = Journal(path, {"checkpoint": "a.ckpt"})
    journal.append([{"index": 0, "si_sdr": 1.5}, {"index": 1, "si_sdr": float("nan")}])
    with open(path, "a") as f:
        f.write('{"index": 2, "si_s')  # a kill in the middle of a line
    again = Journal(path, {"checkpoint": "a.ckpt"})
    assert sorted(again.done) == [0, 1] and again.done[0]["si_sdr"] == 1.5
    again.append([{"index": 2, "si_sdr": 3.0}])
    assert sorted(Journal(path, {"checkpoint": "a.ckpt"}).done) == [0, 1, 2]
    other = Journal(path, {"checkpoint": "b.ckpt"})  # another checkpoint: not the same job
    assert other.done == {} and (tmp_path / "mixtures.jsonl.old").is_file() and not path.exists()
