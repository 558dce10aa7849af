from pathlib import Path

import pytest

from bridge.cli import main
from bridge.config import Config, config_to_toml, load_config
from bridge.errors import ConfigError


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('bpm = 90.0\nbars = 4\nkey = "D"\nalpha = 0.25\n')
    env = {"COEVO_BARS": "3", "COEVO_KEY": "E", "HOME": "/x"}
    cfg = load_config(toml, env=env, overrides={"key": "F", "bpm": None})
    assert cfg.bpm == 90.0  # file beats default, flag left out
    assert cfg.bars == 3  # env beats file
    assert cfg.key == "F"  # flag beats env
    assert cfg.alpha == 0.25
    assert cfg.osc_port == Config().osc_port


def test_resolved_config_round_trips_through_toml(tmp_path: Path) -> None:
    cfg = load_config(None, env={"COEVO_ALLOW": "10.0.0.2,10.0.0.3", "COEVO_CHANNELS": '{"melody": 5}'})
    path = tmp_path / "again.toml"
    path.write_text(config_to_toml(cfg))
    assert load_config(path, env={}) == cfg
    assert cfg.allow == ["10.0.0.2", "10.0.0.3"] and cfg.channels == {"melody": 5}


@pytest.mark.parametrize("text, message", [
    ("bmp = 100\n", "unknown key 'bmp'"),
    ("bpm = \"fast\"\n", "bpm expects float"),
    ("bpm = 1000.0\n", "bpm must be in [20.0, 400.0]"),
    ("clock = \"sundial\"\n", "clock must be one of internal, midi, link"),
    ("bpm = [\n", "cannot read config file"),
])
def test_bad_config_file_says_what_was_expected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(path, env={})


def test_unknown_environment_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="COEVO_TEMPO"):
        load_config(None, env={"COEVO_TEMPO": "120"})


def test_coevo_config_prints_resolved_values(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COEVO_BPM", "133")
    assert main(["config", "--bars", "5"]) == 0
    out = capsys.readouterr().out
    assert "bpm = 133.0\n" in out and "bars = 5\n" in out and 'clock = "internal"' in out


def test_cli_reports_bad_flag_value_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--bars", "12"]) == 2
    assert "bars must be in [1, 8]; got 12" in capsys.readouterr().err
