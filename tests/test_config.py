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


def test_environment_variable_names_are_defined_once_in_config():
    """Code outside regopt.config reads or sets REGOPT_* variables through its constants, never by a literal
    name (messages may mention them)."""
    import ast
    from pathlib import Path

    package = Path(config.__file__).resolve().parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path == Path(config.__file__).resolve():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value in (config.FAST_ENV, config.STATIC_ENV, config.DATA_ENV, config.CACHE_ENV):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not offenders, f"REGOPT_* names written out instead of regopt.config's constants: {offenders}"
