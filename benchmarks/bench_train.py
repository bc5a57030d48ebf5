"""Overhead of ``regopt.fit`` against a plain PyTorch loop doing the same work.

Set-up (issue 2): the course's ConvNet on 1,000 MNIST training images, 50
epochs, SGD with lr 0.1, batch 100, the whole test set evaluated after every
epoch in both loops (a plain loop that reports test error per epoch must do this
too). Both loops start from the same initial weights and see the same minibatch
order. The two are run alternately, several rounds, in one process, so that load
on the machine affects both alike; the reported figure is the median over rounds
of the ratio regopt / plain. Target: at most 1.05, judged only on a quiet machine
(load average at most 1 before and after the run; ``_results.py``).

Roofline: the float32 GEMM throughput of this machine at the size of the
network's largest product (the second convolution as a matrix product, im2col:
1,600 x 800 by 800 x 64 for a batch of 100), measured in the same run; the
training's achieved GFLOP/s (flops counted by ``torch.utils.flop_counter``) is
reported as a fraction of it.

    .venv/bin/python benchmarks/bench_train.py [--rounds 3] [--epochs 50] [--n-test 10000]

Each run adds a row to this benchmark's table in ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import _results
import torch
from _results import Summary, gemm_gflops, record_row, today, write_summary
from torch import nn

import regopt
from regopt.models import ConvNet
from regopt.train import fit

SECTION = "## bench_train.py: regopt.fit vs a plain loop"
TABLE_HEADER = ("| date | machine | epochs | rounds | plain s | regopt s | ratio regopt/plain "
                "| achieved of roofline |")


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


def training_flops(data, epochs: int, batch_size: int = 100) -> float:
    """Flops of ``epochs`` epochs of training (forward and backward) plus the per-epoch test pass."""
    from torch.utils.flop_counter import FlopCounterMode

    model = ConvNet()
    counter = FlopCounterMode(display=False)
    with counter:
        out = model(data.x_train[:batch_size])
        nn.functional.cross_entropy(out, data.y_train[:batch_size]).backward()
    per_batch = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(data.x_test[:batch_size])
    per_test_batch = counter.get_total_flops()
    n_batches = -(-len(data.x_train) // batch_size)
    return epochs * (n_batches * per_batch + len(data.x_test) / batch_size * per_test_batch)


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

    state = _results.start(own=args.threads)
    roofline = gemm_gflops(1600, 800, 64)
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

    state.finish()
    median = statistics.median(ratios)
    achieved = training_flops(data, args.epochs) / statistics.median(regopt_times) / 1e9
    fraction = f"{achieved:.1f} of {roofline:.1f} GFLOP/s ({achieved / roofline:.0%})"
    print(f"median ratio regopt/plain = {median:.3f} (target <= 1.05); {state.label()}")
    print(f"training throughput {fraction} of a float32 GEMM 1600x800x64")
    record_row(SECTION, TABLE_HEADER,
               f"| {today()} | {state.label()} | {args.epochs} "
               f"| {args.rounds} | {_per_round(plain_times, 2)} | {_per_round(regopt_times, 2)} "
               f"| {_per_round(ratios, 3)}, median {median:.3f} | {fraction} |")
    write_summary(Summary("bench_train", f"regopt/plain {median:.3f}", "<= 1.05", median <= 1.05,
                          state.loaded, f"{state.load_before:.1f} → {state.load_after:.1f}", fraction))


def _per_round(values: list[float], digits: int) -> str:
    return " / ".join(f"{value:.{digits}f}" for value in values)



if __name__ == "__main__":
    main()
