"""Task files: both formats, defaults, validation errors that name the place, scoring."""
from __future__ import annotations

import pytest

from ponder.errors import UsageError
from ponder.taskfile import load_tasks, numbers_in, parse_tasks, score

YAML = """
- id: amd-ceo
  question: Who is the current CEO of AMD, and where did they study?
  tools: [search]
  expected: ["MIT", "University of Texas"]
  max_steps: 12
- question: What is 48271 multiplied by 9973?
  expected: 481406683
"""


def test_yaml_list_with_defaults():
    tasks = parse_tasks(YAML, "t.yaml")
    assert [t.id for t in tasks] == ["amd-ceo", "2"]
    assert tasks[0].tools == ["search"] and tasks[0].max_steps == 12
    assert tasks[0].expected == ["MIT", "University of Texas"]
    assert tasks[1].tools is None and tasks[1].expected == 481406683


def test_yaml_tasks_mapping_and_jsonl(tmp_path):
    (tmp_path / "a.yml").write_text("tasks:\n  - question: hi\n  - {id: 7, question: there}\n")
    assert [t.id for t in load_tasks(tmp_path / "a.yml")] == ["1", "7"]
    (tmp_path / "b.jsonl").write_text('{"question": "one"}\n\n# comment\n{"id": "x", "question": "two"}\n')
    tasks = load_tasks(tmp_path / "b.jsonl")
    assert [(t.id, t.question) for t in tasks] == [("1", "one"), ("x", "two")]


def test_content_detection_without_extension(tmp_path):
    (tmp_path / "tasks").write_text('{"question": "a"}\n{"question": "b"}\n')
    assert [t.id for t in load_tasks(tmp_path / "tasks")] == ["1", "2"]
    (tmp_path / "tasks2").write_text("- question: a\n")
    assert load_tasks(tmp_path / "tasks2")[0].question == "a"


@pytest.mark.parametrize("text,name,needle", [
    ('{"question": "ok"}\n{"question": "bad",\n', "t.jsonl", "line 2"),
    ('{"question": "ok"}\n\n{"id": "q3"}\n', "t.jsonl", "line 3"),
    ("- question: ok\n- id: second\n  tools: [vm]\n", "t.yaml", "task 2 (id 'second')"),
    ("- question: ok\n- question: x\n  tools: [calculator]\n", "t.yaml", "unknown tool 'calculator'"),
    ("- question: ok\n  expected: {a: 1}\n", "t.yaml", "'expected' must be"),
    ("- question: ok\n  max_steps: 0\n", "t.yaml", "'max_steps'"),
    ("- question: ok\n  expect: 3\n", "t.yaml", "unknown key(s) 'expect'"),
    ("- question: [unclosed\n", "t.yaml", "flow sequence at line 1"),
    ("question: not a list\n", "t.yaml", "expected a list of tasks"),
    ("- id: a\n  question: x\n- id: a\n  question: y\n", "t.yaml", "duplicate id 'a'"),
    ("", "t.yaml", "no tasks found"),
])
def test_errors_name_the_place(text, name, needle):
    with pytest.raises(UsageError) as e:
        parse_tasks(text, name)
    msg = str(e.value)
    assert needle in msg and name in msg and "\n" not in msg


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_tasks(tmp_path / "nope.yaml")
    with pytest.raises(UsageError, match="is a folder"):
        load_tasks(tmp_path)


def test_numbers_in():
    assert numbers_in("48271 * 9973 = 481,406,683.") == [48271, 9973, 481406683]
    assert numbers_in("about -3.5e2 or .25; v1.2.3 x2") == [-350.0, 0.25]
    assert numbers_in("5-3") == [5, 3]


@pytest.mark.parametrize("answer,expected,ok", [
    ("Lisa Su studied at MIT.", "mit", True),
    ("Lisa   Su", "lisa su", True),
    ("Lisa Su studied at MIT.", ["MIT", "University of Texas"], False),
    ("MIT and the university of  texas", ["MIT", "University of Texas"], True),
    ("The product is 481,406,683.", 481406683, True),
    ("The product is 481406684.", 481406683, True),  # 2e-9 relative: within 1e-6
    ("The product is 481906683.", 481406683, False),
    ("pi is 3.1415926", 3.14159265, True),
    ("no number here", 3, False),
    ("0", 0, True),
    (None, "x", False),
    ("anything", None, None),
])
def test_score(answer, expected, ok):
    assert score(answer, expected) is ok
