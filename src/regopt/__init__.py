"""Helpers for the course *Regularization and Optimization for Deep Learning*.

The package hides boilerplate only (data loading, training loops, plotting,
widgets, grading); what the course teaches (penalties, update rules, attacks)
stays visible in the notebooks.
"""

from . import config, data, models, penalties, train
from .config import pick
from .data import Dataset, load_mnist
from .models import MLP, ConvNet
from .train import History, evaluate, fit, set_seed

__version__ = "0.1.0"

__all__ = [
    "config",
    "data",
    "models",
    "penalties",
    "train",
    "pick",
    "Dataset",
    "load_mnist",
    "MLP",
    "ConvNet",
    "History",
    "evaluate",
    "fit",
    "set_seed",
    "__version__",
]
