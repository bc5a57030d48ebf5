"""The written-answer cells for Labs 1, 3, 6 and 8 (issue 27 item 2), for the coordinator to add once.

    python tests/submissions/add_written_cells.py solutions && regopt labs

Each goes right after the named test cell: a locked markdown prompt (its heading is the title the
grader shows), then nbgrader's manually graded answer cell (markdown, solution and grade true, its
points, the model answer between the solution delimiters, the rubric as ``regopt.rubric``).
Running it twice adds nothing. See book/instructors.md, "Written answers"."""
import sys
from pathlib import Path

import nbformat

CELLS = {
    "01_penalties": ("ex6-tests", "ex6-written", 2,
        "## Exercise 6, in words (2 points)\n\n"
        "Compare `proximal_zeros` and `subgradient_zeros` of your exercise 6 at the largest λ. In two or\n"
        "three sentences, explain from the two update rules why one method ends with many weights exactly\n"
        "0 and the other with almost none.",
        "The proximal step soft-thresholds: every weight whose magnitude is at most ηλ becomes exactly 0,\n"
        "and a weight whose loss gradient is too weak to push it past the threshold stays there. The\n"
        "subgradient step moves every weight by ηλ·sign(w), past zero when |w| < ηλ, so small weights\n"
        "oscillate around 0 and are exactly 0.0 only by chance: their fraction stays near 0.",
        "1 point: the proximal (soft-thresholding) step maps |w| <= ηλ to exactly 0 (and keeps it there while the "
        "gradient is small). 1 point: the subgradient step is a fixed move of ηλ toward 0 that overshoots, so weights "
        "oscillate around 0 instead of landing on it. Reading the student's own numbers is expected; a formula "
        "alone without the mechanism gets at most 1 point."),
    "03_dropout": ("ex5-tests", "ex5-written", 2,
        "## Exercise 5, in words (2 points)\n\n"
        "For a softmax of a linear layer, your geometric mean equals the weight-scaled prediction; for the\n"
        "tanh network of the hidden test it does not. In two or three sentences, explain why.",
        "For a softmax of a linear layer, log P(y | r) is the logit (W(r ⊙ x) + b)_y minus a normalizer\n"
        "that does not depend on y. The logit is linear in the mask, so its average over the masks is its\n"
        "value at the mean mask p·x (weight scaling), and the normalizer cancels when the geometric mean is\n"
        "renormalized. A tanh between the mask and the output makes the log-prediction nonlinear in r, so\n"
        "the average over masks is no longer the value at the mean mask: weight scaling is then only an\n"
        "approximation.",
        "1 point: linearity of the log-probability (logit) in the mask makes its mask average equal to its value at "
        "E[r] = p, and the y-independent normalizer cancels on renormalizing. 1 point: the nonlinearity (tanh) between "
        "mask and output breaks this, so the two predictions differ."),
    "06_momentum_adam": ("ex8-tests", "ex8-written", 2,
        "## Exercise 8, in words (2 points)\n\n"
        "Write the prediction you made before running exercise 8 (which weight Adam moves fastest, which\n"
        "plain SGD would), then compare it with your measured steps. In two or three sentences, say what\n"
        "Adam's step measures that SGD's does not.",
        "SGD steps in proportion to the mean gradient: w1 (mean 1.0) fastest, then w2 (0.1), w3 (0.05)\n"
        "slowest. Adam steps by the running mean of the gradient over the root of the running mean of its\n"
        "square: about 1 for w2 (small but constant) and w1 (nearly constant), about 0.05/√0.5 ≈ 0.07 for\n"
        "w3, whose gradient swings around a small mean. Adam's step measures how consistent the gradient\n"
        "is (its signal-to-noise ratio), not its size.",
        "1 point: SGD's step is proportional to the mean gradient (w1 fastest, w3 slowest). 1 point: Adam's step is "
        "mean / sqrt(mean square), so w2's small constant gradient moves as fast as w1's and w3's noisy one slowest; "
        "the answer checks the prediction against the student's measured steps (a wrong prediction honestly "
        "compared with the measurement earns the point)."),
    "08_no_free_lunch": ("ex2-tests", "ex2-written", 2,
        "## Exercise 2, in words (2 points)\n\n"
        "Every learner of exercise 2 averages exactly ½. In two or three sentences: why must any learner\n"
        "average exactly ½ over the 256 targets, and what does this say about choosing a learner for a\n"
        "real problem?",
        "Fix the training set and an input outside it. The 256 targets come in pairs that agree on every\n"
        "training input and differ on that input; the learner sees the same training labels for both, so\n"
        "it predicts the same label and is right for exactly one of the pair. Over all targets every\n"
        "off-training prediction is right half of the time, whatever the learner. A learner beats chance\n"
        "only on the problems its assumptions match: choosing a learner is choosing assumptions about the\n"
        "targets we expect.",
        "1 point: the pairing (or symmetry) argument: targets that share the training labels but differ off the "
        "training set make every prediction right for exactly half of them. 1 point: the consequence: no learner "
        "is better averaged over all targets; one is better only where its assumptions (prior knowledge) hold."),
}


def nbgrader(grade_id, *, grade=False, solution=False, points=None, locked=True):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def cells_for(lab):
    after, grade_id, points, prompt, model, rubric = CELLS[lab]
    text = nbformat.v4.new_markdown_cell(prompt)
    text.metadata["nbgrader"] = nbgrader(grade_id + "-text")
    answer = nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\n" + model + "\n### END SOLUTION")
    answer.metadata["nbgrader"] = nbgrader(grade_id, grade=True, solution=True, points=points, locked=False)
    answer.metadata["regopt"] = {"rubric": rubric}
    return after, [text, answer]


def main(folder):
    for lab in CELLS:
        path = Path(folder) / f"{lab}.ipynb"
        if not path.is_file():
            print(f"{path}: no such solution, skipped (expected one of {', '.join(CELLS)} in {folder})")
            continue
        nb = nbformat.read(path, as_version=4)
        after, cells = cells_for(lab)
        if any(c.metadata.get("nbgrader", {}).get("grade_id") == cells[1].metadata["nbgrader"]["grade_id"]
               for c in nb.cells):
            print(f"{path}: already has its written answer")
            continue
        position = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after)
        nb.cells[position + 1:position + 1] = cells
        nbformat.write(nb, path)
        print(f"{path}: written answer {cells[1].metadata['nbgrader']['grade_id']} after {after}")


if __name__ == "__main__":
    main(sys.argv[1])
