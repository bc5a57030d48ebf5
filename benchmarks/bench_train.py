"""Overhead of ``regopt.fit`` against a plain PyTorch loop doing the same work.

Set-up (issue 2): the course's ConvNet on 1,000 MNIST training images, 50
epochs, SGD with lr 0.1, batch 100, the whole test set evaluated after every
epoch in both loops (a plain loop that reports test error per epoch must do this
too). Both loops start from the same initial weights and see the same minibatch
order. The two are run alternately, several rounds, in one process, so that load
on the machine affects both alike; the reported figure is the median over rounds
of the ratio regopt / plain. Target: at most 1.05.

    .venv/bin/python benchmarks/bench_train.py [--rounds 3] [--epochs 50] [--n-test 10000]

Each run adds a row to this benchmark's table in ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from _results import machine, record_row, today
from torch import nn

import regopt
from regopt.models import ConvNet
from regopt.train import fit

SECTION = "## bench_train.py: regopt.fit vs a plain loop"
TABLE_HEADER = "| date | machine | epochs | rounds | plain s | regopt s | ratio regopt/plain |"


def plain_loop(model, data, optimizer, epochs, batch_size, seed):
    """What a reader would write by hand: same work as regopt.fit, no abstraction."""
    torch.manual_seed(seed)
    order_generator = torch.Generator().manual_seed(seed)
    x_train, y_train, x_test, y_test = data.x_train, data.y_train, data.x_test, data.y_test
    n = len(x_train)
    history = []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=order_generator)
        loss_sum, wrong = torch.zeros(()), torch.zeros((), dtype=torch.long)
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size]
            xb, yb = x_train[index], y_train[index]
            out = model(xb)
            loss = nn.functional.cross_entropy(out, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(index)
            wrong += (out.detach().argmax(1) != yb).sum()
        model.eval()
        with torch.no_grad():
            test_wrong, test_loss = 0, 0.0
            for start in range(0, len(x_test), 2000):
                out = model(x_test[start:start + 2000])
                test_loss += float(nn.functional.cross_entropy(out, y_test[start:start + 2000])) * len(out)
                test_wrong += int((out.argmax(1) != y_test[start:start + 2000]).sum())
        history.append((float(loss_sum) / n, float(wrong) / n, test_loss / len(x_test), test_wrong / len(x_test)))
    return history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = regopt.load_mnist(n_train=1000, n_test=args.n_test, seed=0)
    regopt.set_seed(0)
    initial = ConvNet().state_dict()

    def fresh():
        model = ConvNet()
        model.load_state_dict(copy.deepcopy(initial))
        return model, torch.optim.SGD(model.parameters(), lr=0.1)

    ratios, plain_times, regopt_times = [], [], []
    for round_number in range(args.rounds):
        model, opt = fresh()
        start = time.perf_counter()
        plain_history = plain_loop(model, data, opt, args.epochs, 100, seed=0)
        plain_times.append(time.perf_counter() - start)

        model, opt = fresh()
        start = time.perf_counter()
        history = fit(model, data, opt, epochs=args.epochs, batch_size=100, seed=0, progress=False)
        regopt_times.append(time.perf_counter() - start)

        same = abs(history.test_error[-1] - plain_history[-1][3]) < 1e-12
        ratios.append(regopt_times[-1] / plain_times[-1])
        print(f"round {round_number + 1}: plain {plain_times[-1]:.2f} s, regopt {regopt_times[-1]:.2f} s, "
              f"ratio {ratios[-1]:.3f}, identical final test error: {same}")

    median = statistics.median(ratios)
    print(f"median ratio regopt/plain = {median:.3f} (target <= 1.05)")
    record_row(SECTION, TABLE_HEADER,
               f"| {today()} | {machine()} | {args.epochs} "
               f"| {args.rounds} | {_per_round(plain_times, 2)} | {_per_round(regopt_times, 2)} "
               f"| {_per_round(ratios, 3)}, median {median:.3f} |")


def _per_round(values: list[float], digits: int) -> str:
    return " / ".join(f"{value:.{digits}f}" for value in values)



if __name__ == "__main__":
    main()
