"""The command line as a user meets it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.scheduler import realtime_available


def test_help_teaches_the_main_job(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "oscsend localhost 9100 /coevo/mood s calm" in out and "--clock" in out and "COEVO_" in out


def test_missing_or_corrupt_model_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--model", str(tmp_path / "nope.onnx"), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "generator model" in err and "does not exist" in err
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main(["run", "--model", str(bad), "--data-dir", str(tmp_path)]) == 2
    assert "not a readable ONNX model" in capsys.readouterr().err
    assert not (tmp_path / "sessions").exists()  # nothing was written


def test_replay_of_a_folder_that_is_no_session_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path)]) == 2
    assert f"{tmp_path} is not a Coevo session folder: journal.jsonl is missing" in capsys.readouterr().err
    (tmp_path / "journal.jsonl").write_text('{not json\n{"type": "session"}\n')
    assert main(["replay", str(tmp_path)]) == 2
    assert "line 1 is not JSON" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["journal.jsonl"]  # nothing was written


def test_doctor_reports_models_midi_and_ports(models, tmp_path: Path) -> None:
    env = {"MIDO_BACKEND": "mido.backends.coevo_test_no_such_backend", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "bridge.cli", "doctor", "--model", str(models.generator),
                          "--emotion-model", str(models.emotion), "--osc-port", "0"],
                         capture_output=True, text=True, env=env, cwd=Path(__file__).parent.parent)
    text = out.stdout
    assert "[!!] MIDI backend mido.backends.coevo_test_no_such_backend is not usable" in text
    assert "fix: start JACK" in text
    assert "execution providers: " in text and "CPUExecutionProvider" in text
    assert f"[ok] generator model {models.generator}" in text and "code_names = density,register,rhythm,brightness" in text
    assert "[ok] OSC port 127.0.0.1:0 is free" in text
    assert "visuals page port 127.0.0.1:8100" in text and "sound inputs: " in text
    if sys.platform.startswith("linux"):
        policy = os.sched_getscheduler(0)
        why = realtime_available()
        assert os.sched_getscheduler(0) == policy  # probed on its own thread
        expected = ("[ok] MIDI timing thread can run at realtime priority" if why is None
                    else f"[!!] MIDI timing thread will run at normal priority ({why})")
        assert expected in text, text
    assert out.returncode == 0, text


def test_daemon_imports_without_torch(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['torch'] = None\n"
            "import bridge.cli, bridge.daemon, bridge.doctor, bridge.replay, bridge.generation, bridge.visuals\n"
            "import bridge.web_view, bridge.visual_outputs, bridge.sound_in, bridge.bench_visuals\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "ok", out.stderr


def test_ship_checks_the_run_before_it_makes_the_folder_it_was_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run, dest = tmp_path / "run", tmp_path / "new" / "shipped"
    run.mkdir()
    (run / "emotion.pt").write_bytes(b"")
    assert main(["ship", str(run), "--dest", str(dest)]) == 2
    assert f"{run} lacks generator.pt, music_report.json: train first" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # nothing was made
    for name in ("generator.pt", "music_report.json"):
        (run / name).write_bytes(b"")
    (tmp_path / "file").write_text("")
    assert main(["ship", str(run), "--dest", str(tmp_path / "file" / "shipped")]) == 2
    assert "cannot make that folder" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)  # not the repository root: the default folder is not there
    assert main(["ship", str(run)]) == 2
    assert "models/shipped is not a folder" in capsys.readouterr().err and not (tmp_path / "models").exists()
