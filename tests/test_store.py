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


# -- step 10: one writer, unique side files, resume that knows what it resumes ---------------------


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path):
    import subprocess
    import sys

    run = RunDir.create(tmp_path, "locked", RUN_INFO)  # this process holds the lock now
    other = subprocess.run([sys.executable, "-c", "import sys\nfrom benchharness.store import RunDir\n"
                            "from benchharness.errors import UserError\ntry:\n    RunDir.open(sys.argv[1]).lock()\n"
                            "except UserError as e:\n    print(e.lines[0])\n", str(run.path)],
                           capture_output=True, text=True, timeout=60)
    assert other.stdout.startswith(f"{run.path}: run.lock: this run directory is being written by benchharness pid ")
    assert "wait for it to end" in other.stdout
    run.lock()  # the holder itself may ask again


def test_torn_tails_set_aside_in_one_second_never_overwrite_each_other(tmp_path):
    run = RunDir.create(tmp_path, "r", RUN_INFO)
    sides = []
    for text in ('{"trial_id": "a"', '{"trial_id": "b"'):
        run.trials_path.write_text(text)
        sides.append(run.set_aside_torn_tail(text))
    assert sides[0] != sides[1] and [s.read_text() for s in sides] == ['{"trial_id": "a"', '{"trial_id": "b"']


def test_a_retried_trial_supersedes_its_earlier_attempt(tmp_path):
    run = RunDir.create(tmp_path, "r", RUN_INFO)
    run.append_record(record("t1", status="failed"))
    run.append_record(record("t2"))
    run.append_record(make_record("t1", 32, "ok", attempt=2))
    contents = run.read_trials()
    assert [(r["trial_id"], r["attempt"], r["status"]) for r in contents.records] == [("t2", 1, "ok"), ("t1", 2, "ok")]
    assert [(r["trial_id"], r["attempt"]) for r in contents.superseded] == [("t1", 1)]


def test_resume_with_retry_failed_runs_failed_and_timed_out_trials_again(tmp_path, scenario_file):
    from benchharness.execute import ResumeOptions

    loaded = scenario_file("name: r\nsweep:\n  batch_size: [32, 64, 128]\n")
    trials = expand(loaded.scenario)
    run, _ = open_run(loaded, trials, tmp_path, None, warn=print)
    for trial, status in zip(trials, ("failed", "ok", "timeout")):
        run.append_record(record(trial.trial_id, status=status))
    _, todo = open_run(loaded, trials, tmp_path, run.path, warn=print)
    assert todo == []
    _, todo = open_run(loaded, trials, tmp_path, run.path, warn=print, options=ResumeOptions(retry_failed=True))
    assert todo == [trials[0], trials[2]]
    assert json.loads((run.path / "run.json").read_text())["planned_trials"] == [t.trial_id for t in trials]


def test_resume_on_another_host_is_refused_unless_allowed(tmp_path, scenario_file):
    from benchharness.execute import ResumeOptions

    loaded = scenario_file("name: r\nsweep:\n  batch_size: [32]\n")
    run, _ = open_run(loaded, expand(loaded.scenario), tmp_path, None, warn=print)
    run.update_info(environment=run.info["environment"] | {"host": "elsewhere"},
                    peak={"device": "/CPU:0", "dtype": "float32", "matmul_n": 8, "tf32": None,
                          "peak_flops_per_s": 1e9, "memory_bandwidth_bytes_per_s": 1e9, "method": "test"})
    with pytest.raises(UserError, match=r"environment: this run started on elsewhere .* --allow-different-host"):
        open_run(loaded, expand(loaded.scenario), tmp_path, run.path, warn=print)
    again, _ = open_run(loaded, expand(loaded.scenario), tmp_path, run.path, warn=print,
                        options=ResumeOptions(allow_different_host=True))
    assert again.info["peak"] is None and again.info["environment"]["host"] != "elsewhere"  # probed again here


# -- step 10: results files validated on read -----------------------------------------------------


def test_nan_and_infinities_are_refused_with_file_line_and_key(tmp_path):
    path = tmp_path / "trials.jsonl"
    good = record("t1").model_dump(mode="json")
    marked = json.loads(json.dumps(good)) | {"trial_id": "t2", "throughput_sps": 12345.5}
    marked["epochs"][1]["seconds"] = 23456.5
    for raw, key, shown in (("NaN", "throughput_sps", "NaN"), ("1e999", "throughput_sps", "1e999"),
                            ("-Infinity", "epochs.1.seconds", "-Infinity")):
        bad = json.dumps(marked).replace("12345.5" if key == "throughput_sps" else "23456.5", raw)
        path.write_text(json.dumps(good) + "\n" + bad + "\n")
        with pytest.raises(UserError) as caught:
            read_trials(path)
        assert caught.value.lines == [f"{path}:2: {key}: {shown} is not a finite number (NaN and infinities are "
                                      "refused: they are no measurement); the file is damaged"]


def test_every_bad_record_is_one_line_and_many_are_capped(tmp_path):
    path = tmp_path / "trials.jsonl"
    lines = [json.dumps(record(f"t{i}").model_dump(mode="json") | {"status": "crashed"}) for i in range(30)]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as caught:
        read_trials(path)
    assert len(caught.value.lines) == 21 and caught.value.lines[-1] == f"{path}: 10 more problems like these"
    assert all(line.startswith(f"{path}:{i}: status: ") for i, line in enumerate(caught.value.lines[:20], start=1))


def test_a_trial_id_never_becomes_a_path_outside_the_run_directory(tmp_path):
    run = RunDir.create(tmp_path, "r", RUN_INFO)
    for unsafe in ("../x", "/etc/passwd", "..", ".hidden", "a/b", "a\nb", "x" * 129):
        with pytest.raises(UserError, match="trial_id: .* is not a trial id"):
            run.samples_path(unsafe)
    assert run.samples_path("0123456789ab") == run.path / "samples" / "0123456789ab.csv"
    with open(run.trials_path, "a") as f:
        f.write(json.dumps(record("t1").model_dump(mode="json") | {"trial_id": "../../t1"}) + "\n")
    with pytest.raises(UserError) as caught:
        run.read_trials()
    assert caught.value.lines[0].startswith(f"{run.trials_path}:1: trial_id: '../../t1' is not a trial id")


def test_a_torn_last_record_cut_inside_a_character_is_still_a_torn_tail(tmp_path):
    path = tmp_path / "trials.jsonl"
    tail = '{"trial_id": "t2", "error": "caf\u00e9'.encode()[:-1]  # the crash split the two bytes of "é"
    path.write_bytes(record("t1").model_dump_json().encode() + b"\n" + tail)
    contents = read_trials(path)
    assert [r["trial_id"] for r in contents.records] == ["t1"] and contents.torn_tail.startswith('{"trial_id": "t2"')


def test_run_json_problems_name_their_line(tmp_path):
    run = RunDir.create(tmp_path, "r", RUN_INFO)
    info = json.loads((run.path / "run.json").read_text())
    (run.path / "run.json").write_text(json.dumps(info | {"scenario": info["scenario"] | {"sha256": 5}}, indent=2))
    line = next(i for i, text in enumerate((run.path / "run.json").read_text().splitlines(), 1) if '"sha256"' in text)
    with pytest.raises(UserError) as caught:
        RunDir.open(run.path)
    assert caught.value.lines[0].startswith(f"{run.path / 'run.json'}:{line}: scenario.sha256: input should be a valid string")
    (run.path / "run.json").write_bytes(b'{"schema_version": 3, "benchharness": "0.1\xff"}')
    with pytest.raises(UserError, match=r"run.json:1: benchharness: not UTF-8 text \(byte 0xff"):
        RunDir.open(run.path)


def test_atomic_files_get_the_mode_a_plain_write_would(tmp_path):
    import os

    from benchharness.atomic import write_text_atomically

    old = os.umask(0o022)
    try:
        write_text_atomically(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644  # mkstemp alone would give 0600


def test_resuming_a_finished_run_marks_it_incomplete_until_it_ends(tmp_path, scenario_file):
    from benchharness.execute import ResumeOptions

    loaded = scenario_file("name: r\nsweep:\n  batch_size: [32]\n")
    trials = expand(loaded.scenario)
    run, _ = open_run(loaded, trials, tmp_path, None, warn=print)
    run.append_record(record(trials[0].trial_id, status="failed"))
    run.update_info(complete=True, finished_utc="2026-11-28T00:00:00+00:00")
    again, todo = open_run(loaded, trials, tmp_path, run.path, warn=print, options=ResumeOptions(retry_failed=True))
    assert todo == trials and again.info["complete"] is False and again.info["finished_utc"] is None
