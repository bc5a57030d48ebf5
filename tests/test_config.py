import pytest

from regopt import config


def test_pick_follows_regopt_fast(monkeypatch):
    monkeypatch.setenv("REGOPT_FAST", "1")
    assert config.fast() and config.pick(50, 2) == 2
    monkeypatch.setenv("REGOPT_FAST", "0")
    assert not config.fast() and config.pick(50, 2) == 50
    monkeypatch.delenv("REGOPT_FAST")
    assert config.pick("full", "fast") == "full"


def test_bad_flag_names_the_variable_and_value(monkeypatch):
    monkeypatch.setenv("REGOPT_FAST", "maybe")
    with pytest.raises(ValueError, match=r"REGOPT_FAST='maybe'"):
        config.fast()


def test_data_and_cache_dirs(monkeypatch, tmp_path):
    monkeypatch.setenv("REGOPT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("REGOPT_CACHE", str(tmp_path / "cache"))
    assert config.data_dir() == tmp_path / "data"
    assert config.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("REGOPT_DATA")
    monkeypatch.delenv("REGOPT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.data_dir() is None
    assert config.cache_dir() == tmp_path / "xdg" / "regopt"
