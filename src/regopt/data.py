"""Datasets of the course, as in-memory tensors.

MNIST is loaded through torchvision's own :class:`torchvision.datasets.MNIST`,
so the code a student runs in Colab (where it downloads) is the code the tests
run offline. Where the files are looked for, in order:

1. an explicit ``root`` argument;
2. the folder named by ``$REGOPT_DATA``;
3. the copy shipped inside this package (``regopt/_data``: 10,000 training
   images and the official 10,000-image test set, gzipped, 3.2 MB; see its
   README for the licence), uncompressed once into the cache; skipped when more
   images are asked for than it holds;
4. the cache (``$REGOPT_CACHE``, default: the platform's user cache folder,
   from ``platformdirs``, e.g. ``~/.cache/regopt``);
5. a download into the cache (when ``download=True`` and the network answers);
6. scikit-learn's bundled 8x8 digits, upsampled to 28x28, with a printed
   notice saying what is used instead and why.

Each folder must hold torchvision's layout, ``<folder>/MNIST/raw/*-ubyte``.
Files are checked before use, their IDX header and size first, then their MD5
(torchvision's ``check_integrity``) against MNIST's published MD5s or those of
the course's subset: a damaged file in a folder you own raises
:class:`DataError` naming the file; one in the cache is deleted and fetched again.
``REGOPT_NO_MNIST=1`` skips every MNIST source (as on a machine without the data),
to try the digits fallback.

**Subset rule.** ``n_train`` training images are the first ``n_train`` of a
permutation of the whole training file drawn with ``torch.Generator`` seeded by
``seed``; likewise ``n_test`` from the test file (all of it by default, in its
original order when ``n_test`` is the full size). Images are scaled to [0, 1]
then standardized with the mean and standard deviation of the chosen training
images, so no test statistic leaks into training.

The module also makes the small synthetic sets of chapters 1 and 2.
"""

from __future__ import annotations

import math
import shutil
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import config

__all__ = [
    "DataError",
    "Dataset",
    "load_mnist",
    "load_digits",
    "linear_regression",
    "polynomial_regression",
    "noisy_2d",
    "feature_crosses",
    "feature_cross_names",
]

# (file name, IDX magic number, number of dimensions after the count)
_MNIST_FILES = {
    "train": [("train-images-idx3-ubyte", 2051, (28, 28)), ("train-labels-idx1-ubyte", 2049, ())],
    "test": [("t10k-images-idx3-ubyte", 2051, (28, 28)), ("t10k-labels-idx1-ubyte", 2049, ())],
}


#: MD5 of each uncompressed file: MNIST's published ones (the whole official sets) and
#: those of the course's 10,000-image training subset (shipped in regopt/_data, and in the
#: shared data folder of the course's machines). Add yours to use a subset of your own.
MNIST_MD5: dict[str, dict[str, str]] = {
    "train-images-idx3-ubyte": {"6bbc9ace898e44ae57da46a324031adb": "official training set",
                                "ba56d58321ed8a4119a97efc84b7efe2": "course's 10,000-image subset"},
    "train-labels-idx1-ubyte": {"a25bea736e30d166cdddb491f175f624": "official training set",
                                "a5be4725df16ba24854951efe98b3af4": "course's 10,000-image subset"},
    "t10k-images-idx3-ubyte": {"2646ac647ad5339dbf082846283269ea": "official test set"},
    "t10k-labels-idx1-ubyte": {"27ae3e4e09519cfbb04c329615203637": "official test set"},
}
#: The gzipped files shipped with the package, and their MD5s.
SHIPPED_MNIST = Path(__file__).resolve().parent / "_data"
_SHIPPED_GZ_MD5 = {
    "train-images-idx3-ubyte.gz": "c5cd4bbc45bae0ad37baa2c1fb5eb794",
    "train-labels-idx1-ubyte.gz": "793ec0159f0e5facd5e8f52569e6d06b",
    "t10k-images-idx3-ubyte.gz": "ecff87aa27c74fbc2c1f97e89c19221d",
    "t10k-labels-idx1-ubyte.gz": "a38049bc042dc6e683842a84160daae1",
}
_SHIPPED_TRAIN = 10_000
_SHIPPED_TEST = 10_000
# (path, size, mtime) -> verified, so a notebook loading MNIST ten times hashes it once.
_VERIFIED: set[tuple[str, int, int]] = set()


class DataError(RuntimeError):
    """A dataset file is present but unusable (corrupt, truncated, inconsistent)."""


@dataclass
class Dataset:
    """Training and test tensors plus where they came from.

    ``x_*`` are float32 of shape ``(n, 1, 28, 28)``; ``y_*`` are int64 class labels.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str
    origin: str
    notes: list[str] = field(default_factory=list)

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.y_test.shape[0])

    @property
    def n_classes(self) -> int:
        return int(torch.cat([self.y_train, self.y_test]).max().item()) + 1

    def __repr__(self) -> str:
        return (
            f"Dataset(source={self.source!r}, n_train={self.n_train}, n_test={self.n_test}, "
            f"origin={self.origin!r})"
        )


def _check_positive_int(name: str, value: object, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        expected = "a positive integer" + (" or None" if allow_none else "")
        raise ValueError(f"{name}={value!r} is invalid; expected {expected}.")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is invalid; expected True or False.")


def _idx_problem(path: Path, magic: int, dims: tuple[int, ...]) -> str | None:
    """Describe what is wrong with an IDX file, or return None when it is sound."""
    if not path.is_file():
        return f"{path} is missing"
    size = path.stat().st_size
    header = 8 + 4 * len(dims)
    if size < header:
        return f"{path} is truncated ({size} bytes, shorter than its {header}-byte header)"
    with path.open("rb") as fh:
        found_magic, count = struct.unpack(">II", fh.read(8))
        shape = struct.unpack(">" + "I" * len(dims), fh.read(4 * len(dims))) if dims else ()
    if found_magic != magic:
        return f"{path} is not an MNIST IDX file (magic number {found_magic}, expected {magic})"
    if tuple(shape) != dims:
        return f"{path} holds images of shape {tuple(shape)}, expected {dims}"
    expected = header + count * math.prod(dims)
    if size != expected:
        return (
            f"{path} is truncated or corrupt: its header announces {count} items "
            f"({expected} bytes) but the file has {size} bytes"
        )
    return _md5_problem(path)


def _md5_problem(path: Path) -> str | None:
    """None when ``path`` has one of the known MD5s of its file name, else what is wrong."""
    from torchvision.datasets.utils import check_integrity

    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return None
    known = MNIST_MD5.get(path.name, {})
    if any(check_integrity(str(path), md5) for md5 in known):
        _VERIFIED.add(key)
        return None
    return (
        f"{path} has the right size but not the content of any known MNIST file (its MD5 is none "
        f"of {', '.join(f'{md5} ({what})' for md5, what in known.items())}): it is corrupt"
    )


def _mnist_state(folder: Path) -> tuple[str, list[str]]:
    """Return ("ok" | "absent" | "corrupt", problems) for ``folder/MNIST/raw``."""
    raw = folder / "MNIST" / "raw"
    problems = []
    present = 0
    for split in ("train", "test"):
        for name, magic, dims in _MNIST_FILES[split]:
            path = raw / name
            if path.is_file():
                present += 1
            problem = _idx_problem(path, magic, dims)
            if problem:
                problems.append(problem)
    if not problems:
        return "ok", []
    if present == 0:
        return "absent", problems
    return "corrupt", problems


def _shipped_folder() -> Path | None:
    """The shipped gzipped copy, uncompressed (once) into ``<cache>/shipped``; checked by MD5.

    None when the package was installed without it.
    """
    import gzip

    from torchvision.datasets.utils import check_integrity

    if not all((SHIPPED_MNIST / "MNIST" / "raw" / name).is_file() for name in _SHIPPED_GZ_MD5):
        return None
    target = config.cache_dir() / "shipped"
    if _mnist_state(target)[0] == "ok":
        return target
    raw = target / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, md5 in _SHIPPED_GZ_MD5.items():
        source = SHIPPED_MNIST / "MNIST" / "raw" / name
        if not check_integrity(str(source), md5):
            raise DataError(
                f"The MNIST copy shipped with regopt, {source}, is missing or damaged (expected MD5 "
                f"{md5}). Reinstall the package (pip install --force-reinstall regopt) or set "
                "REGOPT_DATA to a folder holding MNIST/raw."
            )
        partial = raw / (name.removesuffix(".gz") + ".partial")
        with gzip.open(source, "rb") as packed, partial.open("wb") as out:
            shutil.copyfileobj(packed, out)
        partial.replace(raw / name.removesuffix(".gz"))
    state, problems = _mnist_state(target)
    if state != "ok":
        raise DataError("The MNIST copy shipped with regopt did not uncompress cleanly: " + "; ".join(problems))
    return target


def _read_torchvision(folder: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    train = MNIST(str(folder), train=True, download=False)
    test = MNIST(str(folder), train=False, download=False)
    if len(train.data) != len(train.targets) or len(test.data) != len(test.targets):
        raise DataError(f"MNIST in {folder} has different numbers of images and labels.")
    return train.data, train.targets, test.data, test.targets


def _notice(message: str) -> None:
    # Printed (not only warned) so that it shows in Colab, in a terminal and in
    # the executed notebook alike.
    print(f"[regopt] NOTICE: {message}", file=sys.stdout, flush=True)


def _subset(n_available: int, n: int | None, seed: int, keep_order: bool) -> torch.Tensor:
    if n is None or (keep_order and n == n_available):
        return torch.arange(n_available)
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n_available, generator=generator)[:n]


def _standardize(
    x_train: torch.Tensor, x_test: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    mean = x_train.mean()
    std = x_train.std().clamp_min(1e-8)
    return (x_train - mean) / std, (x_test - mean) / std


def load_mnist(
    n_train: int | None = 1000,
    n_test: int | None = None,
    seed: int = 0,
    root: str | Path | None = None,
    download: bool = True,
    allow_fallback: bool = True,
    standardize: bool = True,
) -> Dataset:
    """Load MNIST as in-memory tensors, standardized unless ``standardize=False``.

    Parameters
    ----------
    n_train, n_test:
        How many training and test images to keep (``None``: all available).
        See the module docstring for the subset rule.
    seed:
        Seed of the subset permutation.
    root:
        A folder holding ``MNIST/raw`` in torchvision's layout, tried first.
    download:
        Whether to try downloading into the cache when no folder has the data.
    allow_fallback:
        Whether to fall back to scikit-learn's digits (with a printed notice)
        when MNIST cannot be found or fetched. With ``False`` a
        :class:`FileNotFoundError` is raised instead.
    standardize:
        Shift and scale the pixels by the training images' mean and standard
        deviation (the default, what training likes); with ``False`` pixels stay
        in [0, 1] (black 0, white 1), the units in which an adversarial
        perturbation or an augmentation is usually stated.
    """
    _check_positive_int("n_train", n_train, allow_none=True)
    _check_bool("standardize", standardize)
    _check_positive_int("n_test", n_test, allow_none=True)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed={seed!r} is invalid; expected an integer.")

    searched: list[str] = []
    candidates: list[tuple[str, Path | None]] = []
    if root is not None:
        candidates.append(("root argument", Path(root).expanduser()))
    env_dir = config.data_dir()
    if env_dir is not None:
        candidates.append(("$REGOPT_DATA", env_dir))
    fits_shipped = (n_train or math.inf) <= _SHIPPED_TRAIN and (n_test or _SHIPPED_TEST) <= _SHIPPED_TEST
    if fits_shipped:
        candidates.append(("copy shipped with regopt", None))
    else:
        searched.append(f"the copy shipped with regopt (it holds {_SHIPPED_TRAIN} training images, "
                        f"n_train={n_train} asked for)")
    cache = config.cache_dir()
    candidates.append(("cache", cache))
    if config.no_mnist():
        candidates, download = [], False
        searched.append(f"nowhere ({config.NO_MNIST_ENV} is set)")

    folder: Path | None = None
    origin = ""
    notes: list[str] = []
    for label, candidate in candidates:
        if candidate is None:
            candidate = _shipped_folder()
            if candidate is None:
                searched.append(f"the {label} (absent from {SHIPPED_MNIST})")
                continue
            folder, origin = candidate, f"{label} ({SHIPPED_MNIST}, uncompressed into {candidate})"
            break
        state, problems = _mnist_state(candidate)
        if state == "ok":
            folder, origin = candidate, f"{label} ({candidate})"
            break
        if state == "corrupt":
            if label == "cache":
                shutil.rmtree(candidate / "MNIST" / "raw", ignore_errors=True)
                notes.append(f"removed a damaged MNIST cache in {candidate}: " + "; ".join(problems))
                _notice(notes[-1] + ". It will be fetched again.")
            else:
                raise DataError(
                    f"MNIST in the {label} folder {candidate} is damaged: "
                    + "; ".join(problems)
                    + ". Replace these files with a fresh copy (torchvision downloads one when "
                    "online), or point the loader elsewhere."
                )
        searched.append(f"{label} {candidate}")

    if folder is None and download:
        try:
            from torchvision.datasets import MNIST

            cache.mkdir(parents=True, exist_ok=True)
            MNIST(str(cache), train=True, download=True)
            MNIST(str(cache), train=False, download=True)
        except Exception as exc:  # noqa: BLE001 (no network, a mirror down, a disk full...)
            searched.append(f"download ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
        else:
            state, problems = _mnist_state(cache)
            if state != "ok":
                shutil.rmtree(cache / "MNIST" / "raw", ignore_errors=True)
                raise DataError(
                    "The MNIST download is incomplete or corrupt: " + "; ".join(problems)
                    + ". The partial files were removed; run again to fetch them anew."
                )
            folder, origin = cache, f"download into the cache ({cache})"

    if folder is None:
        reason = "MNIST was not found in: " + "; ".join(searched)
        if not allow_fallback:
            raise FileNotFoundError(
                reason + ". Set REGOPT_DATA to a folder holding MNIST/raw, pass root=..., "
                "or allow the download."
            )
        _notice(
            reason
            + ". Using scikit-learn's bundled 8x8 digits (1,797 images, upsampled to 28x28) "
            "instead: numbers will differ from the course text. Connect to the internet "
            "or set REGOPT_DATA to use MNIST."
        )
        dataset = load_digits(n_train=n_train, n_test=n_test, seed=seed, standardize=standardize)
        dataset.notes = notes + [reason] + dataset.notes
        return dataset

    x_train_all, y_train_all, x_test_all, y_test_all = _read_torchvision(folder)
    for name, wanted, available in (
        ("n_train", n_train, len(y_train_all)),
        ("n_test", n_test, len(y_test_all)),
    ):
        if wanted is not None and wanted > available:
            raise ValueError(
                f"{name}={wanted} but the MNIST files in {folder} hold only {available} "
                f"images; ask for at most {available}, or use a folder with the full set "
                "(torchvision downloads it when online)."
            )
    train_index = _subset(len(y_train_all), n_train, seed, keep_order=False)
    test_index = _subset(len(y_test_all), n_test, seed + 1, keep_order=True)
    x_train = x_train_all[train_index].float().div_(255.0).unsqueeze(1)
    x_test = x_test_all[test_index].float().div_(255.0).unsqueeze(1)
    if standardize:
        x_train, x_test = _standardize(x_train, x_test)
    return Dataset(
        x_train=x_train.contiguous(),
        y_train=y_train_all[train_index].long().contiguous(),
        x_test=x_test.contiguous(),
        y_test=y_test_all[test_index].long().contiguous(),
        source="MNIST",
        origin=origin,
        notes=notes,
    )


def load_digits(n_train: int | None = 1000, n_test: int | None = None, seed: int = 0,
                standardize: bool = True) -> Dataset:
    """scikit-learn's 1,797 bundled 8x8 digits, upsampled to 28x28 like MNIST.

    Pixels are standardized like :func:`load_mnist`'s, or left in [0, 1] with
    ``standardize=False``.

    The images are shuffled with ``seed``; the first ``n_train`` train and the
    next ``n_test`` (default: all the rest) test. If fewer images remain than
    asked for, the split is shrunk and a note says so.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    _check_positive_int("n_train", n_train, allow_none=True)
    _check_positive_int("n_test", n_test, allow_none=True)
    _check_bool("standardize", standardize)
    bunch = _sk_load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    # 8x8 -> 20x20 then a 4-pixel border, mirroring how MNIST digits sit in 28x28.
    images = torch.nn.functional.interpolate(images, size=(20, 20), mode="bilinear", align_corners=False)
    images = torch.nn.functional.pad(images, (4, 4, 4, 4))
    labels = torch.tensor(bunch.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    notes = []
    total = len(labels)
    n_tr = total // 2 if n_train is None else n_train
    if n_tr >= total:
        n_tr = total * 3 // 4
        notes.append(f"digits has {total} images: n_train reduced to {n_tr}")
    remaining = total - n_tr
    n_te = remaining if n_test is None else min(n_test, remaining)
    if n_test is not None and n_test > remaining:
        notes.append(f"digits has {total} images: n_test reduced to {n_te}")
    train_index, test_index = order[:n_tr], order[n_tr : n_tr + n_te]
    x_train, x_test = images[train_index], images[test_index]
    if standardize:
        x_train, x_test = _standardize(x_train, x_test)
    return Dataset(
        x_train=x_train.contiguous(),
        y_train=labels[train_index].contiguous(),
        x_test=x_test.contiguous(),
        y_test=labels[test_index].contiguous(),
        source="digits",
        origin="scikit-learn's bundled digits",
        notes=notes,
    )


def linear_regression(
    n_samples: int = 50,
    n_features: int = 200,
    n_informative: int = 10,
    noise: float = 0.5,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""A high-dimensional linear regression with few samples.

    :math:`y = X w^\star + \varepsilon` with :math:`X_{ij} \sim \mathcal N(0, 1)`,
    :math:`\varepsilon \sim \mathcal N(0, \text{noise}^2)` and a sparse
    :math:`w^\star` whose first ``n_informative`` entries are drawn from
    :math:`\pm(1 + |\mathcal N(0,1)|)` and the rest are zero. With
    ``n_features > n_samples`` least squares alone cannot recover ``w_star``.

    Returns ``(X, y, w_star)`` as float64 tensors.
    """
    _check_positive_int("n_samples", n_samples)
    _check_positive_int("n_features", n_features)
    _check_positive_int("n_informative", n_informative)
    if n_informative > n_features:
        raise ValueError(
            f"n_informative={n_informative} exceeds n_features={n_features}; "
            "expected n_informative <= n_features."
        )
    if noise < 0:
        raise ValueError(f"noise={noise!r} is invalid; expected a non-negative standard deviation.")
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n_samples, n_features, generator=g, dtype=torch.float64)
    w_star = torch.zeros(n_features, dtype=torch.float64)
    signs = torch.randint(0, 2, (n_informative,), generator=g).double() * 2 - 1
    w_star[:n_informative] = signs * (1 + torch.randn(n_informative, generator=g, dtype=torch.float64).abs())
    y = X @ w_star + noise * torch.randn(n_samples, generator=g, dtype=torch.float64)
    return X, y, w_star


def polynomial_regression(
    n_samples: int = 20,
    noise: float = 0.2,
    seed: int = 0,
    n_test: int = 200,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""A 1-D regression :math:`y = \sin(2\pi x) + \varepsilon`, :math:`x \sim U[0, 1]`.

    The classic set-up for over-fitting with a high-degree polynomial: few noisy
    training points, a dense noiseless test grid. Returns
    ``(x_train, y_train, x_test, y_test)`` as 1-D float64 tensors.
    """
    _check_positive_int("n_samples", n_samples)
    _check_positive_int("n_test", n_test)
    if noise < 0:
        raise ValueError(f"noise={noise!r} is invalid; expected a non-negative standard deviation.")
    g = torch.Generator().manual_seed(seed)
    x_train = torch.rand(n_samples, generator=g, dtype=torch.float64)
    y_train = torch.sin(2 * math.pi * x_train) + noise * torch.randn(n_samples, generator=g, dtype=torch.float64)
    x_test = torch.linspace(0, 1, n_test, dtype=torch.float64)
    y_test = torch.sin(2 * math.pi * x_test)
    return x_train, y_train, x_test, y_test


_2D_KINDS = ("circle", "xor", "gauss", "spiral")


def noisy_2d(
    n_samples: int = 200,
    kind: str = "circle",
    noise: float = 0.2,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A small noisy 2-D binary classification set, after the TensorFlow Playground.

    ``kind`` is one of ``"circle"`` (a disc inside a ring), ``"xor"`` (the four
    quadrants), ``"gauss"`` (two blobs) or ``"spiral"`` (two interleaved
    spirals). Points lie in about [-1, 1]^2; ``noise`` is the standard deviation
    of Gaussian jitter added to them (label noise comes from points jittered
    across the boundary). Returns ``(x, y)`` with x float32 ``(n, 2)`` and y
    int64 in {0, 1}.
    """
    _check_positive_int("n_samples", n_samples)
    if kind not in _2D_KINDS:
        raise ValueError(f"kind={kind!r} is unknown; expected one of {_2D_KINDS}.")
    if noise < 0:
        raise ValueError(f"noise={noise!r} is invalid; expected a non-negative standard deviation.")
    g = torch.Generator().manual_seed(seed)
    n0 = n_samples // 2
    y = torch.cat([torch.zeros(n0), torch.ones(n_samples - n0)]).long()
    if kind == "circle":
        radius = torch.where(y == 0, torch.rand(n_samples, generator=g) * 0.5, 0.7 + torch.rand(n_samples, generator=g) * 0.3)
        angle = torch.rand(n_samples, generator=g) * 2 * math.pi
        x = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
    elif kind == "xor":
        x = torch.rand(n_samples, 2, generator=g) * 2 - 1
        x = x + torch.sign(x) * 0.05  # keep points off the axes
        y = ((x[:, 0] * x[:, 1]) > 0).long()
    elif kind == "gauss":
        centre = torch.where(y[:, None] == 0, torch.tensor([-0.5, -0.5]), torch.tensor([0.5, 0.5]))
        x = centre + 0.25 * torch.randn(n_samples, 2, generator=g)
    else:  # spiral
        t = torch.rand(n_samples, generator=g) * 3 * math.pi / 2 + 0.3
        phase = y.float() * math.pi
        x = torch.stack([t * torch.cos(t + phase), t * torch.sin(t + phase)], dim=1) / (3 * math.pi / 2)
    x = x + noise * torch.randn(n_samples, 2, generator=g)
    order = torch.randperm(n_samples, generator=g)
    return x[order].float(), y[order]


def feature_crosses(x: torch.Tensor, degree: int = 3) -> torch.Tensor:
    r"""All monomials :math:`x_1^a x_2^b` with :math:`1 \le a + b \le` ``degree``.

    The Playground's "feature crosses": a linear model on these features draws
    polynomial decision boundaries. Columns are ordered by total degree, then by
    decreasing power of :math:`x_1` (:math:`x_1, x_2, x_1^2, x_1x_2, x_2^2, \dots`);
    see :func:`feature_cross_names`.
    """
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (n, 2).")
    _check_positive_int("degree", degree)
    columns = [x[:, 0] ** (d - b) * x[:, 1] ** b for d in range(1, degree + 1) for b in range(d + 1)]
    return torch.stack(columns, dim=1)


def feature_cross_names(degree: int = 3) -> list[str]:
    """Names of the columns of :func:`feature_crosses`, such as ``"x1^2 x2"``."""
    _check_positive_int("degree", degree)

    def term(var: str, power: int) -> str:
        return "" if power == 0 else (var if power == 1 else f"{var}^{power}")

    return [
        " ".join(t for t in (term("x1", d - b), term("x2", b)) if t)
        for d in range(1, degree + 1)
        for b in range(d + 1)
    ]

