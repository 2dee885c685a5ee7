"""The worst utterances of a sentence evaluation."""

from lipreading.reports.sentences import worst_utterances, write_worst_utterances

CSV = """id,path,reference,hypothesis,cer
a,a.npz,我们今天,我们今天,0.0000
b,b.npz,他在学校,她在学校,0.2500
c,c.npz,上课,唱歌,1.0000
d,d.npz,学习,学,0.5000
"""


def test_worst_utterances_are_sorted_by_cer(tmp_path):
    assert [row["id"] for row in worst_utterances(CSV, top=3)] == ["c", "d", "b"]
    write_worst_utterances(tmp_path, CSV, top=2)
    lines = (tmp_path / "worst_utterances.md").read_text().splitlines()
    assert len(lines) == 4 and "| c | 1.0000 | 上课 | 唱歌 |" == lines[2]
