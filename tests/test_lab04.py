"""Lab 4's tests catch the mistakes students make, and accept the solution.

Each case below replaces one answer of ``solutions/04_augmentation.ipynb`` by a plausible
mistake and runs that exercise's test cell in-process (the cells are plain Python), split into
its visible part and its hidden part. The case states which part must catch the mistake: a
mistake that only the hidden tests catch is one a student can submit believing it correct, so
the hidden tests must not be decoration.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch
from labexec import run_answer_and_tests, split_test

from regopt.instructor import labs

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "04_augmentation.ipynb"
NOTEBOOK = nbformat.read(SOLUTION, as_version=4)
CELLS = {c.metadata["nbgrader"]["grade_id"]: c for c in NOTEBOOK.cells
         if c.cell_type == "code" and "nbgrader" in c.metadata}
EXERCISES = ["ex1", "ex2", "ex3", "ex4", "ex5", "ex6"]


@pytest.fixture(scope="module")
def solved_namespace() -> dict:
    """Globals after running the solution's set-up, answer and test cells in order."""
    namespace: dict = {"__name__": "__lab04__"}
    threads = torch.get_num_threads()
    order = ["imports"] + [f"{ex}-{part}" for ex in EXERCISES for part in ("solution", "tests")]
    order.insert(order.index("ex3-solution"), "ex3-data")
    try:
        for grade_id in order:
            exec(compile(CELLS[grade_id].source, grade_id, "exec"), namespace)  # noqa: S102 - our own notebook
    finally:
        torch.set_num_threads(threads)  # the lab sets one thread; other modules keep their setting
    return namespace


def run_exercise(namespace: dict, exercise: str, answer: str) -> tuple[str, str] | None:
    """Run `answer` then the exercise's tests; return (failed part, error type), or None."""
    scope = {name: value.clone() if isinstance(value, torch.Tensor) else value for name, value in namespace.items()}
    return run_answer_and_tests(scope, exercise, answer, CELLS[f"{exercise}-tests"].source)


def test_every_test_cell_has_visible_and_hidden_parts():
    for exercise in EXERCISES:
        visible, hidden = split_test(CELLS[f"{exercise}-tests"].source)
        assert "assert" in visible and "assert" in hidden, exercise


def test_points_and_forbidden_names():
    points = {ex: CELLS[f"{ex}-tests"].metadata["nbgrader"]["points"] for ex in EXERCISES}
    assert sum(points.values()) >= 14 and min(points.values()) >= 1
    # Writing it yourself is the exercise: the library versions earn nothing.
    assert CELLS["ex1-tests"].metadata["regopt"]["forbidden"] == ["torchvision"]
    assert set(CELLS["ex5-tests"].metadata["regopt"]["forbidden"]) == {
        "torch.nn.functional.cross_entropy", "torch.nn.CrossEntropyLoss"}


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_every_test(solved_namespace, exercise):
    assert run_exercise(solved_namespace, exercise, CELLS[f"{exercise}-solution"].source) is None


ANSWERS = {
    "ex1": ["random_shift"],
    "ex2": ["kept_label_fraction", "shift_kept", "rotation_kept", "six_read_as_nine"],
    "ex3": ["noisy_input_loss", "bishop_penalty", "ridge_lambda"],
    "ex4": ["noisy_weight_loss", "weight_noise_constant", "excess_at_fit", "excess_at_zero"],
    "ex5": ["smoothed_cross_entropy"],
    "ex6": ["optimal_logit_gap"],
}


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_stub_fails(solved_namespace, exercise):
    # What the generated lab holds: the answer replaced by `raise NotImplementedError()`.
    blank = {c.metadata["nbgrader"]["grade_id"]: c.source for c in labs.generate_lab(SOLUTION).cells
             if c.cell_type == "code" and "nbgrader" in c.metadata}[f"{exercise}-solution"]
    scope = dict(solved_namespace)
    for name in ANSWERS[exercise]:  # the stub must not find the solution's answers
        scope.pop(name)
    with pytest.raises(Exception):  # noqa: B017, PT011 - a stub fails one way or another
        exec(compile(blank, "stub", "exec"), scope)  # noqa: S102
        visible, hidden = split_test(CELLS[f"{exercise}-tests"].source)
        exec(compile(visible + hidden, "tests", "exec"), scope)  # noqa: S102


EX2_RUN = """
shift_kept = kept_label_fraction(reference, mnist.x_test, mnist.y_test,
                                 lambda x: random_shift(x, 2, torch.Generator().manual_seed(0), background))
rotation_kept = kept_label_fraction(reference, mnist.x_test, mnist.y_test, rotate_180)
sixes = mnist.y_test == 6
six_read_as_nine = kept_label_fraction(reference, mnist.x_test[sixes], torch.full((int(sixes.sum()),), 9), rotate_180)
"""

MISTAKES = {
    "ex1 torch.roll wraps around": ("ex1", "visible", """
def random_shift(images, max_shift, generator, fill):
    out = images.clone()
    for i in range(len(images)):
        dx, dy = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
        out[i] = torch.roll(images[i], shifts=(dy, dx), dims=(1, 2))
    return out
"""),
    "ex1 border filled with zeros": ("ex1", "visible", """
def random_shift(images, max_shift, generator, fill):
    n, _, h, w = images.shape
    m = max_shift
    padded = F.pad(images, (m, m, m, m), value=0.0)
    dx = torch.randint(-m, m + 1, (n,), generator=generator)
    dy = torch.randint(-m, m + 1, (n,), generator=generator)
    rows = (m - dy)[:, None] + torch.arange(h)[None, :]
    cols = (m - dx)[:, None] + torch.arange(w)[None, :]
    return padded[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]
"""),
    "ex1 one shift for the whole batch": ("ex1", "hidden", """
def random_shift(images, max_shift, generator, fill):
    m = max_shift
    dx, dy = torch.randint(-m, m + 1, (2,), generator=generator).tolist()
    padded = F.pad(images, (m, m, m, m), value=fill)
    return padded[:, :, m - dy:m - dy + 28, m - dx:m - dx + 28].clone()
"""),
    "ex1 offsets never reach +max_shift": ("ex1", "hidden", """
def random_shift(images, max_shift, generator, fill):
    n, _, h, w = images.shape
    m = max_shift
    padded = F.pad(images, (m, m, m, m), value=fill)
    dx = torch.randint(-m, max(m, 1), (n,), generator=generator).clamp(max=m)
    dy = torch.randint(-m, max(m, 1), (n,), generator=generator).clamp(max=m)
    rows = (m - dy)[:, None] + torch.arange(h)[None, :]
    cols = (m - dx)[:, None] + torch.arange(w)[None, :]
    return padded[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]
"""),
    "ex2 a count instead of a fraction": ("ex2", "visible", """
def kept_label_fraction(classifier, images, labels, transform):
    with torch.no_grad():
        return float((classifier(transform(images)).argmax(1) == labels).sum())
""" + EX2_RUN),
    "ex2 agreement with the untransformed prediction": ("ex2", "visible", """
def kept_label_fraction(classifier, images, labels, transform):
    with torch.no_grad():
        before = classifier(images).argmax(1)
        return float((classifier(transform(images)).argmax(1) == before).float().mean())
""" + EX2_RUN),
    "ex2 the transform is never applied": ("ex2", "visible", """
def kept_label_fraction(classifier, images, labels, transform):
    with torch.no_grad():
        return float((classifier(images).argmax(1) == labels).float().mean())
""" + EX2_RUN),
    "ex2 nines among all rotated images": ("ex2", "hidden", """
def kept_label_fraction(classifier, images, labels, transform):
    with torch.no_grad():
        return float((classifier(transform(images)).argmax(1) == labels).float().mean())
shift_kept = kept_label_fraction(reference, mnist.x_test, mnist.y_test,
                                 lambda x: random_shift(x, 2, torch.Generator().manual_seed(0), background))
rotation_kept = kept_label_fraction(reference, mnist.x_test, mnist.y_test, rotate_180)
six_read_as_nine = kept_label_fraction(reference, mnist.x_test, torch.full((len(mnist.y_test),), 9), rotate_180)
"""),
    "ex3 mean over examples instead of the sum": ("ex3", "visible", """
def noisy_input_loss(X, y, w, sigma, n_draws, generator):
    noise = sigma * torch.randn(n_draws, *X.shape, generator=generator, dtype=X.dtype)
    return float(((y - (X + noise) @ w) ** 2).mean(dim=1).mean())
def bishop_penalty(X, w, sigma):
    return float(sigma**2 * (w @ w))
def ridge_lambda(n_examples, sigma):
    return n_examples * sigma**2
"""),
    "ex3 sigma instead of sigma squared": ("ex3", "visible", """
def noisy_input_loss(X, y, w, sigma, n_draws, generator):
    noise = sigma * torch.randn(n_draws, *X.shape, generator=generator, dtype=X.dtype)
    return float(((y - (X + noise) @ w) ** 2).sum(dim=1).mean())
def bishop_penalty(X, w, sigma):
    return float(len(X) * sigma * (w @ w))
def ridge_lambda(n_examples, sigma):
    return n_examples * sigma
"""),
    "ex3 lambda without the factor N": ("ex3", "visible", """
def noisy_input_loss(X, y, w, sigma, n_draws, generator):
    noise = sigma * torch.randn(n_draws, *X.shape, generator=generator, dtype=X.dtype)
    return float(((y - (X + noise) @ w) ** 2).sum(dim=1).mean())
def bishop_penalty(X, w, sigma):
    return float(len(X) * sigma**2 * (w @ w))
def ridge_lambda(n_examples, sigma):
    return sigma**2
"""),
    "ex3 lambda twice too large (the ½ forgotten)": ("ex3", "visible", """
def noisy_input_loss(X, y, w, sigma, n_draws, generator):
    noise = sigma * torch.randn(n_draws, *X.shape, generator=generator, dtype=X.dtype)
    return float(((y - (X + noise) @ w) ** 2).sum(dim=1).mean())
def bishop_penalty(X, w, sigma):
    return float(len(X) * sigma**2 * (w @ w))
def ridge_lambda(n_examples, sigma):
    return 2 * n_examples * sigma**2
"""),
    "ex4 the constant without the square of sigma_w": ("ex4", "visible", """
def noisy_weight_loss(X, y, w, sigma_w, n_draws, generator):
    noise = sigma_w * torch.randn(n_draws, len(w), generator=generator, dtype=X.dtype)
    return float(((y[None, :] - (w[None, :] + noise) @ X.T) ** 2).sum(dim=1).mean())
weight_noise_constant = 0.3 * float((X**2).sum())
excess_at_fit = noisy_weight_loss(X, y, w_fit, 0.3, 20000, torch.Generator().manual_seed(0)) - float(((y - X @ w_fit) ** 2).sum())
excess_at_zero = noisy_weight_loss(X, y, 0 * w_fit, 0.3, 20000, torch.Generator().manual_seed(0)) - float((y**2).sum())
"""),
    "ex4 the input-noise penalty as the constant": ("ex4", "visible", """
def noisy_weight_loss(X, y, w, sigma_w, n_draws, generator):
    noise = sigma_w * torch.randn(n_draws, len(w), generator=generator, dtype=X.dtype)
    return float(((y[None, :] - (w[None, :] + noise) @ X.T) ** 2).sum(dim=1).mean())
weight_noise_constant = len(X) * 0.3**2 * float(w_fit @ w_fit)
excess_at_fit = noisy_weight_loss(X, y, w_fit, 0.3, 20000, torch.Generator().manual_seed(0)) - float(((y - X @ w_fit) ** 2).sum())
excess_at_zero = noisy_weight_loss(X, y, 0 * w_fit, 0.3, 20000, torch.Generator().manual_seed(0)) - float((y**2).sum())
"""),
    "ex4 the loss averaged over examples": ("ex4", "visible", """
def noisy_weight_loss(X, y, w, sigma_w, n_draws, generator):
    noise = sigma_w * torch.randn(n_draws, len(w), generator=generator, dtype=X.dtype)
    return float(((y[None, :] - (w[None, :] + noise) @ X.T) ** 2).mean(dim=1).mean())
weight_noise_constant = 0.3**2 * float((X**2).sum())
excess_at_fit = noisy_weight_loss(X, y, w_fit, 0.3, 20000, torch.Generator().manual_seed(0)) - float(((y - X @ w_fit) ** 2).sum())
excess_at_zero = noisy_weight_loss(X, y, 0 * w_fit, 0.3, 20000, torch.Generator().manual_seed(0)) - float((y**2).sum())
"""),
    "ex5 Goodfellow et al.'s convention instead of torch's": ("ex5", "visible", """
def smoothed_cross_entropy(logits, labels, eps):
    k = logits.shape[1]
    q = (1 - eps) * F.one_hot(labels, k) + eps / (k - 1) * (1 - F.one_hot(labels, k))
    return -(q * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
"""),
    "ex5 summed over the batch": ("ex5", "visible", """
def smoothed_cross_entropy(logits, labels, eps):
    q = (1 - eps) * F.one_hot(labels, logits.shape[1]) + eps / logits.shape[1]
    return -(q * torch.log_softmax(logits, dim=1)).sum()
"""),
    "ex5 the one-hot part not scaled by 1 - eps": ("ex5", "visible", """
def smoothed_cross_entropy(logits, labels, eps):
    q = F.one_hot(labels, logits.shape[1]) + eps / logits.shape[1]
    return -(q * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
"""),
    "ex6 gap against the mean of all logits": ("ex6", "visible", """
def optimal_logit_gap(n_classes, eps, convention, steps=3000, lr=1.0):
    if convention == "torch":
        q = torch.full((n_classes,), eps / n_classes, dtype=torch.float64); q[0] += 1 - eps
    else:
        q = torch.full((n_classes,), eps / (n_classes - 1), dtype=torch.float64); q[0] = 1 - eps
    z = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    for _ in range(steps):
        (g,) = torch.autograd.grad(-(q * torch.log_softmax(z, 0)).sum(), z)
        with torch.no_grad():
            z -= lr * g
    return float(z.detach()[0] - z.detach().mean())
"""),
    "ex6 conventions swapped": ("ex6", "visible", """
def optimal_logit_gap(n_classes, eps, convention, steps=3000, lr=1.0):
    if convention == "gbc":
        q = torch.full((n_classes,), eps / n_classes, dtype=torch.float64); q[0] += 1 - eps
    else:
        q = torch.full((n_classes,), eps / (n_classes - 1), dtype=torch.float64); q[0] = 1 - eps
    z = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    for _ in range(steps):
        (g,) = torch.autograd.grad(-(q * torch.log_softmax(z, 0)).sum(), z)
        with torch.no_grad():
            z -= lr * g
    z = z.detach()
    return float(z[0] - z[1:].mean())
"""),
    "ex6 K = 10 hard-coded": ("ex6", "hidden", """
def optimal_logit_gap(n_classes, eps, convention, steps=3000, lr=1.0):
    k = 10
    if convention == "torch":
        q = torch.full((k,), eps / k, dtype=torch.float64); q[0] += 1 - eps
    else:
        q = torch.full((k,), eps / (k - 1), dtype=torch.float64); q[0] = 1 - eps
    z = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    for _ in range(steps):
        (g,) = torch.autograd.grad(-(q * torch.log_softmax(z, 0)).sum(), z)
        with torch.no_grad():
            z -= lr * g
    z = z.detach()
    return float(z[0] - z[1:].mean())
"""),
    "ex6 the closed-form gap instead of the minimization": ("ex6", "hidden", """
def optimal_logit_gap(n_classes, eps, convention, steps=5000, lr=1.0):
    if convention == "torch":
        return math.log(1 + n_classes * (1 - eps) / eps)
    return math.log((n_classes - 1) * (1 - eps) / eps)
"""),
    "ex6 L-BFGS to convergence, ignoring steps and lr": ("ex6", "hidden", """
def optimal_logit_gap(n_classes, eps, convention, steps=5000, lr=1.0):
    q = torch.full((n_classes,), eps / n_classes if convention == "torch" else eps / (n_classes - 1),
                   dtype=torch.float64)
    q[0] = 1 - eps + eps / n_classes if convention == "torch" else 1 - eps
    z = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([z], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = -(q * torch.log_softmax(z, 0)).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    z = z.detach()
    return float(z[0] - z[1:].mean())
"""),
    "ex1 offsets rounded from a uniform float (the ends half as likely)": ("ex1", "hidden", """
def random_shift(images, max_shift, generator, fill):
    n, _, h, w = images.shape
    m = max_shift
    padded = F.pad(images, (m, m, m, m), value=fill)
    dx = torch.round((2 * torch.rand(n, generator=generator) - 1) * m).long()
    dy = torch.round((2 * torch.rand(n, generator=generator) - 1) * m).long()
    rows = (m - dy)[:, None] + torch.arange(h)[None, :]
    cols = (m - dx)[:, None] + torch.arange(w)[None, :]
    return padded[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]
"""),
    "ex2 the classifier run with gradients on": ("ex2", "hidden", """
def kept_label_fraction(classifier, images, labels, transform):
    predicted = classifier(transform(images)).argmax(dim=1)
    return float((predicted == labels).float().mean())
""" + EX2_RUN),
    "ex3 the closed form instead of Monte Carlo": ("ex3", "hidden", """
def noisy_input_loss(X, y, w, sigma, n_draws, generator):
    return float(((y - X @ w) ** 2).sum() + len(X) * sigma**2 * (w @ w))
def bishop_penalty(X, w, sigma):
    return float(len(X) * sigma**2 * (w @ w))
def ridge_lambda(n_examples, sigma):
    return n_examples * sigma**2
"""),
    "ex3 one noise row shared by all examples": ("ex3", "hidden", """
def noisy_input_loss(X, y, w, sigma, n_draws, generator):
    noise = sigma * torch.randn(n_draws, 1, X.shape[1], generator=generator, dtype=X.dtype)
    return float(((y - (X + noise) @ w) ** 2).sum(dim=1).mean())
def bishop_penalty(X, w, sigma):
    return float(len(X) * sigma**2 * (w @ w))
def ridge_lambda(n_examples, sigma):
    return n_examples * sigma**2
"""),
    "ex3 one draw of the noise reused n_draws times": ("ex3", "hidden", """
def noisy_input_loss(X, y, w, sigma, n_draws, generator):
    noise = sigma * torch.randn(X.shape, generator=generator, dtype=X.dtype)
    return float(sum(float(((y - (X + noise) @ w) ** 2).sum()) for _ in range(n_draws)) / n_draws)
def bishop_penalty(X, w, sigma):
    return float(len(X) * sigma**2 * (w @ w))
def ridge_lambda(n_examples, sigma):
    return n_examples * sigma**2
"""),
    "ex3 the noise drawn from the global generator": ("ex3", "hidden", """
def noisy_input_loss(X, y, w, sigma, n_draws, generator):
    noise = sigma * torch.randn(n_draws, *X.shape, dtype=X.dtype)
    return float(((y - (X + noise) @ w) ** 2).sum(dim=1).mean())
def bishop_penalty(X, w, sigma):
    return float(len(X) * sigma**2 * (w @ w))
def ridge_lambda(n_examples, sigma):
    return n_examples * sigma**2
"""),
    "ex3 the closed form plus a normal scatter of the right size": ("ex3", "hidden", """
def noisy_input_loss(X, y, w, sigma, n_draws, generator):
    closed = float(((y - X @ w) ** 2).sum() + len(X) * sigma**2 * (w @ w))
    r, tau2 = y - X @ w, sigma**2 * float(w @ w)
    sd = math.sqrt(4 * tau2 * float(r @ r) + 2 * len(X) * tau2**2) / math.sqrt(n_draws)
    return closed + sd * float(torch.randn(1, generator=generator, dtype=X.dtype))
def bishop_penalty(X, w, sigma):
    return float(len(X) * sigma**2 * (w @ w))
def ridge_lambda(n_examples, sigma):
    return n_examples * sigma**2
"""),
    "ex4 the closed form instead of Monte Carlo": ("ex4", "hidden", """
def noisy_weight_loss(X, y, w, sigma_w, n_draws, generator):
    return float(((y - X @ w) ** 2).sum() + sigma_w**2 * (X**2).sum())
weight_noise_constant = 0.3**2 * float((X**2).sum())
excess_at_fit = noisy_weight_loss(X, y, w_fit, 0.3, 20000, torch.Generator().manual_seed(0)) - float(((y - X @ w_fit) ** 2).sum())
excess_at_zero = noisy_weight_loss(X, y, 0 * w_fit, 0.3, 20000, torch.Generator().manual_seed(0)) - float((y**2).sum())
"""),
    "ex4 a separate weight draw for every example": ("ex4", "hidden", """
def noisy_weight_loss(X, y, w, sigma_w, n_draws, generator):
    # x_n . xi_n with its own xi_n per example, drawn as N(0, s_w^2 |x_n|^2) to spare memory
    noise = sigma_w * X.norm(dim=1) * torch.randn(n_draws, len(X), generator=generator, dtype=X.dtype)
    return float(((y - X @ w - noise) ** 2).sum(dim=1).mean())
weight_noise_constant = 0.3**2 * float((X**2).sum())
excess_at_fit = noisy_weight_loss(X, y, w_fit, 0.3, 20000, torch.Generator().manual_seed(0)) - float(((y - X @ w_fit) ** 2).sum())
excess_at_zero = noisy_weight_loss(X, y, 0 * w_fit, 0.3, 20000, torch.Generator().manual_seed(0)) - float((y**2).sum())
"""),
    "ex4 the constant typed in for excess_at_zero": ("ex4", "hidden", """
def noisy_weight_loss(X, y, w, sigma_w, n_draws, generator):
    noise = sigma_w * torch.randn(n_draws, len(w), generator=generator, dtype=X.dtype)
    return float(((y[None, :] - (w[None, :] + noise) @ X.T) ** 2).sum(dim=1).mean())
weight_noise_constant = 0.3**2 * float((X**2).sum())
excess_at_fit = noisy_weight_loss(X, y, w_fit, 0.3, 20000, torch.Generator().manual_seed(0)) - float(((y - X @ w_fit) ** 2).sum())
excess_at_zero = weight_noise_constant
"""),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_a_plausible_mistake_is_caught_where_expected(solved_namespace, name):
    exercise, part, answer = MISTAKES[name]
    # An AssertionError: the tests reject the answer with their message, not by crashing on it.
    assert run_exercise(solved_namespace, exercise, answer) == (part, "AssertionError")
