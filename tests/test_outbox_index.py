"""A line id is written once however the outbox is shared: the process's record of what it has
read (``whereabouts/outbox_index.py``) follows appends by other processes, a file replaced or
cut shorter, and a digest collision never costs a line."""

from __future__ import annotations

import os
import subprocess
import sys

from whereabouts import outbox_index
from whereabouts.mis_outbox import append_new, read_lines


def ids(path) -> list[str]:
    return [line.id for line in read_lines(path).lines]


def test_a_line_another_process_wrote_is_not_written_again(tmp_path):
    path = tmp_path / "out.jsonl"
    assert append_new(path, [{"id": "a"}, {"id": "b"}]) == ["a", "b"]
    # Another worker (its own process) takes a retry of this batch and one line more.
    code = "import sys; from pathlib import Path; from whereabouts.mis_outbox import append_new; "
    code += "print(append_new(Path(sys.argv[1]), [{'id': 'b'}, {'id': 'c'}]))"
    argv = [sys.executable, "-c", code, str(path)]
    other = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert other.stdout.strip() == "['c']"
    assert append_new(path, [{"id": "b"}, {"id": "c"}, {"id": "d"}]) == ["d"]
    assert ids(path) == ["a", "b", "c", "d"]


def test_a_replaced_or_shortened_file_is_read_again(tmp_path):
    path = tmp_path / "out.jsonl"
    append_new(path, [{"id": "a"}, {"id": "b"}])
    # Replaced by another file holding only b (a restore from a backup, a rotation by hand).
    fresh = tmp_path / "fresh.jsonl"
    fresh.write_bytes(b'{"id": "b"}\n')
    os.replace(fresh, path)
    assert append_new(path, [{"id": "a"}, {"id": "b"}]) == ["a"]
    assert ids(path) == ["b", "a"]
    # Cut back to its first line, in place.
    os.truncate(path, len(b'{"id": "b"}\n'))
    assert append_new(path, [{"id": "a"}, {"id": "b"}]) == ["a"]
    assert ids(path) == ["b", "a"]


def test_a_digest_collision_never_drops_a_line(tmp_path, monkeypatch):
    monkeypatch.setattr(outbox_index, "digest", lambda line_id: 0)  # every id collides
    path = tmp_path / "out.jsonl"
    assert append_new(path, [{"id": "a"}]) == ["a"]
    assert append_new(path, [{"id": "b"}, {"id": "a"}]) == ["b"]  # b read for, found absent
    assert append_new(path, [{"id": "a"}, {"id": "b"}]) == []
    assert ids(path) == ["a", "b"]


def test_lines_after_a_torn_one_are_still_known(tmp_path):
    path = tmp_path / "out.jsonl"
    append_new(path, [{"id": "a"}])
    with path.open("ab") as fh:
        fh.write(b'{"id": "tor')  # a crash mid-line
    assert append_new(path, [{"id": "a"}, {"id": "b"}]) == ["b"]
    assert append_new(path, [{"id": "b"}, {"id": "c"}]) == ["c"]
    read = read_lines(path)
    assert [line.id for line in read.lines] == ["a", "b", "c"] and read.damaged == [2]


def test_a_damaged_line_naming_an_id_does_not_stop_the_id_being_written(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"id": "b", "kind": "case_outc\n')  # cut short, then ended by a later append
    assert append_new(path, [{"id": "a"}]) == ["a"]
    assert append_new(path, [{"id": "b"}]) == ["b"]  # the damaged line is not b's line
    read = read_lines(path)
    assert [line.id for line in read.lines] == ["a", "b"] and read.damaged == [1]
