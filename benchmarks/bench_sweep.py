"""A sweep of K small MLPs trained at once (``regopt.experiments.batched_sweep``) against K plain loops.

Set-up (issue 19): K = 6 MLPs 784-100-10 (a λ-sweep of an L2 penalty, one seed), 1,000 MNIST
training images, batch 100, SGD lr 0.1, the same initial weights and minibatch order in both.
The baseline is what a reader writes by hand: one plain PyTorch loop per model, one after the
other. The two are run alternately, several rounds, in one process, so that load on the machine
affects both alike; the reported figure is the median over rounds of the speed-up
plain / batched. Target: at least 3x on 2 cores.

``--model convnet`` runs the same comparison with the course's ConvNet, which gains nothing on a
CPU (vmap turns its convolutions into batched convolutions of the same total cost), which is why
convnet sweeps stay sequential (``penalty_sweep``).

    .venv/bin/python benchmarks/bench_sweep.py [--rounds 3] [--epochs 5] [--model mlp|convnet]

Each run adds a row to this benchmark's table in ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from _results import machine, record_row, today
from torch import nn

import regopt
from regopt.experiments import batched_sweep
from regopt.models import MLP, ConvNet
from regopt.penalties import l2_penalty

SECTION = "## bench_sweep.py: K models at once (vmap) vs K plain loops"
TABLE_HEADER = "| date | machine | model | K | epochs | rounds | plain s | batched s | speed-up plain/batched |"
LAMBDAS = [0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2]


def plain_loops(make_model, data, epochs: int, batch_size: int = 100, seed: int = 0) -> list[float]:
    """K separate runs written by hand; returns each run's final test error."""
    x, y = data.x_train, data.y_train
    errors = []
    for lam in LAMBDAS:
        regopt.set_seed(seed)
        model = make_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        order_generator = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=order_generator)
            for start in range(0, len(x), batch_size):
                index = order[start:start + batch_size]
                loss = nn.functional.cross_entropy(model(x[index]), y[index])
                if lam > 0:
                    loss = loss + lam * l2_penalty(model.parameters())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            errors.append(float((model(data.x_test).argmax(1) != data.y_test).double().mean()))
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--model", choices=["mlp", "convnet"], default="mlp")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    make_model = {"mlp": lambda: MLP(784, [100], 10), "convnet": ConvNet}[args.model]
    data = regopt.load_mnist(n_train=1000, n_test=2000, seed=0)

    speedups, plain_times, batched_times = [], [], []
    for round_number in range(args.rounds):
        start = time.perf_counter()
        plain_errors = plain_loops(make_model, data, args.epochs)
        plain_times.append(time.perf_counter() - start)

        start = time.perf_counter()
        batched = batched_sweep(make_model, data, LAMBDAS, lambda params: torch.optim.SGD(params, lr=0.1),
                                epochs=args.epochs, penalty=lambda p, lam: lam * l2_penalty(p.values()),
                                progress=False)
        batched_times.append(time.perf_counter() - start)
        gap = float(np.max(np.abs(batched.test_error[0] - np.array(plain_errors))))
        speedups.append(plain_times[-1] / batched_times[-1])
        print(f"round {round_number + 1}: {len(LAMBDAS)} plain loops {plain_times[-1]:.2f} s, batched "
              f"{batched_times[-1]:.2f} s, speed-up {speedups[-1]:.2f}x, largest test-error gap {gap:.4f}")

    median = statistics.median(speedups)
    print(f"median speed-up plain/batched = {median:.2f}x (target >= 3 for the MLP)")

    def per_round(values: list[float], digits: int) -> str:
        return " / ".join(f"{value:.{digits}f}" for value in values)

    record_row(SECTION, TABLE_HEADER,
               f"| {today()} | {machine()} | {args.model} | {len(LAMBDAS)} | {args.epochs} | {args.rounds} "
               f"| {per_round(plain_times, 2)} | {per_round(batched_times, 2)} "
               f"| {per_round(speedups, 2)}, median {median:.2f} |")


if __name__ == "__main__":
    main()
