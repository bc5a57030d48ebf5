import copy
import hashlib
import os
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from regopt import config, data

SHARED = Path(os.environ.get("REGOPT_DATA", "")) if os.environ.get("REGOPT_DATA") else None
needs_shared_mnist = pytest.mark.skipif(
    SHARED is None or not (SHARED / "MNIST" / "raw").is_dir(),
    reason="REGOPT_DATA does not point at MNIST (../shared/data)",
)


def write_idx_mnist(folder: Path, n_train: int = 60, n_test: int = 40, seed: int = 0) -> Path:
    """Write a tiny MNIST in torchvision's raw layout (real IDX format, random pixels)."""
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())
    for path in raw.iterdir():  # a subset of one's own: its MD5s are made known to the loader
        data.MNIST_MD5[path.name] = {**data.MNIST_MD5[path.name],
                                     hashlib.md5(path.read_bytes()).hexdigest(): "a test's own"}
    return folder


@pytest.fixture(autouse=True)
def _known_md5s_restored():
    saved = copy.deepcopy(data.MNIST_MD5)
    yield
    data.MNIST_MD5.clear()
    data.MNIST_MD5.update(saved)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No REGOPT_DATA, an empty cache, no shipped copy: only what a test puts in place is found."""
    monkeypatch.delenv("REGOPT_DATA", raising=False)
    monkeypatch.delenv(config.NO_MNIST_ENV, raising=False)
    monkeypatch.setenv("REGOPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "SHIPPED_MNIST", tmp_path / "not-shipped")
    return tmp_path


@pytest.fixture
def only_shipped(monkeypatch, tmp_path):
    """A fresh clone offline: no REGOPT_DATA, an empty cache (tests pass download=False)."""
    monkeypatch.delenv("REGOPT_DATA", raising=False)
    monkeypatch.delenv(config.NO_MNIST_ENV, raising=False)
    monkeypatch.setenv("REGOPT_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_shipped_copy_is_found_with_every_other_source_removed(only_shipped, capsys):
    ds = data.load_mnist(n_train=10_000, download=False, allow_fallback=False)
    assert ds.source == "MNIST" and "shipped" in ds.origin
    assert (ds.n_train, ds.n_test) == (10_000, 10_000)
    assert ds.y_train.bincount(minlength=10).min() > 800  # every digit, about 1,000 each
    assert "NOTICE" not in capsys.readouterr().out
    # Uncompressed once into the cache, then reused.
    assert (only_shipped / "cache" / "shipped" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()


@needs_shared_mnist
def test_shipped_copy_gives_the_same_numbers_as_the_shared_data(only_shipped, monkeypatch):
    shipped = data.load_mnist(n_train=2000, seed=5, download=False, allow_fallback=False)
    monkeypatch.setenv("REGOPT_DATA", str(SHARED))
    shared = data.load_mnist(n_train=2000, seed=5, download=False, allow_fallback=False)
    assert "shipped" in shipped.origin and "REGOPT_DATA" in shared.origin
    assert torch.equal(shipped.x_train, shared.x_train) and torch.equal(shipped.y_train, shared.y_train)
    assert torch.equal(shipped.x_test, shared.x_test) and torch.equal(shipped.y_test, shared.y_test)


def test_shipped_copy_is_skipped_when_more_images_are_asked_for(only_shipped, capsys):
    ds = data.load_mnist(n_train=20_000, download=False)
    assert ds.source == "digits"
    assert "holds 10000 training images" in capsys.readouterr().out


def test_damaged_shipped_copy_is_a_clear_error(only_shipped, monkeypatch):
    shipped = only_shipped / "shipped-copy"
    shutil.copytree(data.SHIPPED_MNIST, shipped)
    labels = shipped / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-10] + b"0123456789")  # same size, other bytes
    monkeypatch.setattr(data, "SHIPPED_MNIST", shipped)
    with pytest.raises(data.DataError, match=r"t10k-labels-idx1-ubyte.gz, is missing or damaged"):
        data.load_mnist(download=False)


def test_same_size_file_with_other_content_is_caught_by_its_md5(isolated):
    root = write_idx_mnist(isolated / "root")
    images = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    content = bytearray(images.read_bytes())
    content[-784:] = bytes(784)  # the last image zeroed: header and size still right
    images.write_bytes(bytes(content))
    with pytest.raises(data.DataError, match=r"train-images-idx3-ubyte has the right size but not the content"):
        data.load_mnist(root=root, download=False)


def test_no_mnist_switch_falls_back_to_digits(only_shipped, monkeypatch, capsys):
    monkeypatch.setenv(config.NO_MNIST_ENV, "1")
    ds = data.load_mnist(n_train=300, n_test=200)
    assert ds.source == "digits" and config.NO_MNIST_ENV in capsys.readouterr().out


def test_cache_is_the_platforms_user_cache_folder(monkeypatch, tmp_path):
    from platformdirs import user_cache_path

    from regopt import config

    monkeypatch.delenv("REGOPT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.cache_dir() == user_cache_path("regopt", appauthor=False)
    if os.name == "posix" and sys.platform != "darwin":
        assert config.cache_dir() == tmp_path / "xdg" / "regopt"


def test_explicit_root_comes_first(isolated, monkeypatch):
    root = write_idx_mnist(isolated / "root", n_train=30)
    env = write_idx_mnist(isolated / "env", n_train=50)
    monkeypatch.setenv("REGOPT_DATA", str(env))
    ds = data.load_mnist(n_train=None, root=root, download=False)
    assert ds.source == "MNIST" and ds.n_train == 30 and "root argument" in ds.origin


def test_regopt_data_then_cache(isolated, monkeypatch):
    write_idx_mnist(isolated / "cache", n_train=20)
    env = write_idx_mnist(isolated / "env", n_train=50)
    monkeypatch.setenv("REGOPT_DATA", str(env))
    assert data.load_mnist(n_train=None, download=False).n_train == 50
    monkeypatch.delenv("REGOPT_DATA")
    ds = data.load_mnist(n_train=None, download=False)
    assert ds.n_train == 20 and "cache" in ds.origin


def test_missing_root_falls_through_to_later_places(isolated):
    write_idx_mnist(isolated / "cache", n_train=20)
    ds = data.load_mnist(n_train=None, root=isolated / "nothing-here", download=False)
    assert ds.n_train == 20


def test_subset_is_seeded_and_standardized(isolated):
    root = write_idx_mnist(isolated / "root", n_train=60)
    a = data.load_mnist(n_train=25, root=root, seed=3, download=False)
    b = data.load_mnist(n_train=25, root=root, seed=3, download=False)
    c = data.load_mnist(n_train=25, root=root, seed=4, download=False)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.y_train, c.y_train) or not torch.equal(a.x_train, c.x_train)
    assert a.x_train.shape == (25, 1, 28, 28) and a.x_train.dtype == torch.float32
    assert abs(float(a.x_train.mean())) < 1e-5 and abs(float(a.x_train.std()) - 1) < 1e-4
    assert a.n_test == 40  # default: the whole test file, in its order
    assert torch.equal(a.y_test, torch.arange(40) % 10)


def test_unstandardized_pixels_are_in_the_unit_interval(isolated):
    root = write_idx_mnist(isolated / "root", n_train=60)
    standardized = data.load_mnist(n_train=25, root=root, seed=3, download=False)
    pixels = data.load_mnist(n_train=25, root=root, seed=3, download=False, standardize=False)
    assert float(pixels.x_train.min()) >= 0 and float(pixels.x_train.max()) <= 1
    # The same images: standardizing the [0, 1] pixels gives load_mnist's default tensors.
    again = (pixels.x_train - pixels.x_train.mean()) / pixels.x_train.std()
    assert torch.allclose(again, standardized.x_train, atol=1e-5)
    digits = data.load_digits(n_train=50, n_test=20, standardize=False)
    assert float(digits.x_train.min()) >= 0 and float(digits.x_train.max()) <= 1


def test_asking_for_more_than_available_says_how_many_exist(isolated):
    root = write_idx_mnist(isolated / "root", n_train=60)
    with pytest.raises(ValueError, match=r"n_train=61 .* only 60 images"):
        data.load_mnist(n_train=61, root=root, download=False)


def test_truncated_file_in_a_user_folder_is_a_clear_error(isolated):
    root = write_idx_mnist(isolated / "root")
    images = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(data.DataError, match=r"train-images-idx3-ubyte is truncated or corrupt"):
        data.load_mnist(root=root, download=False)
    assert images.exists(), "a user's file must never be deleted"


def test_corrupt_cache_is_removed_then_fetched_again_or_replaced(isolated, capsys):
    cache = write_idx_mnist(isolated / "cache")
    labels = cache / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(b"\x00\x00\x08\x01garbage")
    ds = data.load_mnist(n_train=100, download=False)
    out = capsys.readouterr().out
    assert "removed a damaged MNIST cache" in out and "digits" in out
    assert not labels.exists()
    assert ds.source == "digits"


def test_offline_fallback_to_digits_prints_a_notice(isolated, capsys):
    ds = data.load_mnist(n_train=500, n_test=300, download=False)
    out = capsys.readouterr().out
    assert "NOTICE" in out and "scikit-learn's bundled 8x8 digits" in out and "REGOPT_DATA" in out
    assert ds.source == "digits" and ds.n_train == 500 and ds.n_test == 300
    assert ds.x_train.shape == (500, 1, 28, 28)
    assert set(ds.y_train.tolist()) == set(range(10))


def test_failed_download_is_reported_in_the_notice(isolated, capsys, monkeypatch):
    import torchvision.datasets

    class Offline:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    ds = data.load_mnist(n_train=100, download=True)
    out = capsys.readouterr().out
    assert ds.source == "digits" and "download (RuntimeError: Error downloading" in out


def test_fallback_can_be_refused(isolated):
    with pytest.raises(FileNotFoundError, match=r"REGOPT_DATA"):
        data.load_mnist(download=False, allow_fallback=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_train": 0}, r"n_train=0"),
    ({"n_test": -5}, r"n_test=-5"),
    ({"n_train": 2.5}, r"n_train=2.5"),
    ({"seed": "zero"}, r"seed='zero'"),
    ({"standardize": "no"}, r"standardize='no'.*True or False"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.load_mnist(**kwargs)


@needs_shared_mnist
def test_real_mnist_from_regopt_data():
    ds = data.load_mnist(n_train=1000, seed=0, download=False, allow_fallback=False)
    assert ds.source == "MNIST" and ds.n_train == 1000 and ds.n_test == 10_000
    assert ds.y_train.bincount(minlength=10).min() > 60  # every digit present
    assert abs(float(ds.x_train.mean())) < 1e-5


def test_linear_regression_is_sparse_and_underdetermined():
    X, y, w = data.linear_regression(n_samples=30, n_features=100, n_informative=5, noise=0.0, seed=1)
    assert X.shape == (30, 100) and (w != 0).sum() == 5
    assert torch.allclose(X @ w, y)
    with pytest.raises(ValueError, match=r"n_informative=200 exceeds n_features=100"):
        data.linear_regression(n_features=100, n_informative=200)


def test_polynomial_regression_targets():
    x_tr, y_tr, x_te, y_te = data.polynomial_regression(n_samples=15, noise=0.0, seed=2)
    assert x_tr.shape == (15,) and torch.allclose(y_tr, torch.sin(2 * torch.pi * x_tr))
    assert torch.all((0 <= x_te) & (x_te <= 1))


@pytest.mark.parametrize("kind", ["circle", "xor", "gauss", "spiral"])
def test_noisy_2d_sets_are_balanced_enough(kind):
    x, y = data.noisy_2d(200, kind=kind, noise=0.1, seed=0)
    assert x.shape == (200, 2) and set(y.tolist()) == {0, 1}
    assert 60 <= int(y.sum()) <= 140
    assert float(x.abs().max()) < 2.5


def test_noisy_2d_rejects_unknown_kind():
    with pytest.raises(ValueError, match=r"kind='moons' is unknown"):
        data.noisy_2d(kind="moons")


def test_feature_crosses_match_their_names():
    x = torch.tensor([[2.0, 3.0]])
    feats = data.feature_crosses(x, degree=2)
    names = data.feature_cross_names(2)
    assert names == ["x1", "x2", "x1^2", "x1 x2", "x2^2"]
    assert feats.tolist() == [[2.0, 3.0, 4.0, 6.0, 9.0]]


@pytest.mark.slow
@pytest.mark.notebook
def test_a_chapter_runs_on_the_digits_fallback_and_says_so_on_the_page(tmp_path):
    """A reader without MNIST (REGOPT_NO_MNIST=1: no data folder, no shipped copy, no network)
    still gets the chapter, with the loader's notice in a visible output of the cell that loads."""
    import nbclient
    import nbformat

    chapter = Path(__file__).resolve().parents[1] / "book" / "06_momentum_adam.ipynb"
    nb = nbformat.read(chapter, as_version=4)
    env = {**os.environ, "REGOPT_NO_MNIST": "1", "REGOPT_FAST": "1", "REGOPT_STATIC": "1",
           "REGOPT_CACHE": str(tmp_path / "cache")}
    env.pop("REGOPT_DATA", None)
    from unittest import mock

    with mock.patch.dict(os.environ, env, clear=True):
        nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(chapter.parent)}}).execute()
    shown = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "load_mnist" not in cell.source:
            continue
        tags = set(cell.metadata.get("tags", []))
        for output in cell.outputs:
            if output.get("name") == "stdout" and not tags & {"remove-output", "remove-cell"}:
                shown.append(output["text"])
    assert any("8x8 digits" in text and "NOTICE" in text for text in shown), (
        "the digits fallback must be announced in a visible output of the cell that loads the data")
