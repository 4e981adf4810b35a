from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchharness.errors import UserError
from benchharness.execute import open_run
from benchharness.plan import expand
from benchharness.store import RunDir, load_frame, read_trials
from helpers.records import RUN_INFO, make_record


def record(tid, batch=32, status="ok"):
    return make_record(tid, batch, status)


def test_create_never_overwrites(tmp_path):
    a = RunDir.create(tmp_path, "same", RUN_INFO)
    b = RunDir.create(tmp_path, "same", RUN_INFO)
    assert a.path != b.path
    assert a.path.name.startswith("same-") and (a.path / "run.json").is_file()
    assert {p.name for p in a.path.iterdir()} >= {"run.json", "logs", "samples", "tensorboard"}


def test_name_is_made_directory_safe(tmp_path):
    run = RunDir.create(tmp_path, "a/b <script>", RUN_INFO)
    assert run.path.parent == tmp_path and "/" not in run.path.name and "<" not in run.path.name


def test_append_and_read_back(tmp_path):
    run = RunDir.create(tmp_path, "r", RUN_INFO)
    run.append_record(record("t1", 32))
    run.append_record(record("t2", 64))
    contents = run.read_trials()
    assert [r["trial_id"] for r in contents.records] == ["t1", "t2"] and contents.torn_tail is None
    frame = load_frame(run.path)
    assert list(frame["params.batch_size"]) == [32, 64]
    assert "epoch_time_s" in frame.columns


def test_torn_last_line_is_reported_and_set_aside(tmp_path):
    run = RunDir.create(tmp_path, "r", RUN_INFO)
    run.append_record(record("t1"))
    with open(run.trials_path, "a") as f:
        f.write('{"trial_id": "t2", "stat')  # a crash mid-write
    contents = run.read_trials()
    assert [r["trial_id"] for r in contents.records] == ["t1"]
    assert contents.torn_tail == '{"trial_id": "t2", "stat'
    side = run.set_aside_torn_tail(contents.torn_tail)
    assert side.read_text() == contents.torn_tail
    run.append_record(record("t2"))
    assert [r["trial_id"] for r in run.read_trials().records] == ["t1", "t2"]


def test_corrupt_middle_line_is_a_user_error_with_line(tmp_path):
    path = tmp_path / "trials.jsonl"
    path.write_text(record("t1").model_dump_json() + "\n{broken\n" + record("t3").model_dump_json() + "\n")
    with pytest.raises(UserError) as caught:
        read_trials(path)
    assert caught.value.lines[0].startswith(f"{path}:2: not a valid trial record")


def test_open_rejects_non_run_dirs_and_newer_schema(tmp_path):
    with pytest.raises(UserError, match="not a run directory"):
        RunDir.open(tmp_path)
    run = RunDir.create(tmp_path, "r", RUN_INFO)
    info = json.loads((run.path / "run.json").read_text()) | {"schema_version": 999}
    (run.path / "run.json").write_text(json.dumps(info))
    with pytest.raises(UserError, match="schema_version: 999 is newer"):
        RunDir.open(run.path)


def test_resume_skips_recorded_trials_and_reruns_torn_one(tmp_path, scenario_file):
    loaded = scenario_file("name: r\nsweep:\n  batch_size: [32, 64, 128]\n")
    trials = expand(loaded.scenario)
    run, todo = open_run(loaded, trials, tmp_path / "results", None, warn=print)
    assert todo == trials
    run.append_record(record(trials[0].trial_id))
    with open(run.trials_path, "a") as f:
        f.write(record(trials[1].trial_id).model_dump_json()[:40])
    notices = []
    again, todo = open_run(loaded, trials, tmp_path / "ignored", run.path, warn=notices.append)
    assert again.path == run.path
    assert [t.trial_id for t in todo] == [trials[1].trial_id, trials[2].trial_id]
    assert "cut off mid-write" in notices[0]


def test_resume_refuses_a_changed_scenario(tmp_path, scenario_file):
    loaded = scenario_file("name: r\nsweep:\n  batch_size: [32]\n")
    run, _ = open_run(loaded, expand(loaded.scenario), tmp_path, None, warn=print)
    changed = scenario_file("name: r\nsweep:\n  batch_size: [32, 64]\n")
    with pytest.raises(UserError, match="scenario.sha256: .* changed since this run started"):
        open_run(changed, expand(changed.scenario), tmp_path, run.path, warn=print)


def test_resume_refuses_a_run_directory_of_an_older_schema(tmp_path, scenario_file):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(Path(__file__).parent / "golden" / "cpu_run", old)
    loaded = scenario_file("name: r\nsweep:\n  batch_size: [32]\n")
    with pytest.raises(UserError, match=r"run.json:1: schema_version: 1 was written by an older benchharness"):
        open_run(loaded, expand(loaded.scenario), tmp_path, old, warn=print)
    assert json.loads((old / "run.json").read_text())["schema_version"] == 1  # untouched
