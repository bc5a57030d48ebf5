r"""Autograding of lab submissions against the solution notebook.

``regopt grade SOLUTION SUBMISSIONS_DIR --out grades.csv`` (see :mod:`regopt.instructor.cli`)
calls :func:`grade_folder`. Every regular file directly inside the folder (names
starting with ``.`` are skipped) is one submission; the student is the file's
stem. The submission supplies answers only; tests, context cells and the harness
come from the solution and the grader.

How a graded notebook is built
------------------------------
Tests always come from the solution. For each submission a new notebook is
assembled from the solution's cells, in the solution's order: context cells
(imports, data, explanations) and test cells (visible **and** hidden parts) in
the solution's version, answer cells in the student's version. Test cells are
split at the ``### BEGIN/END HIDDEN TESTS`` markers into visible and hidden
parts, run as separate cells, so that feedback can say which part failed
without showing hidden code. A test cell earns its points when all its parts
run without an exception; a warning printed to stderr costs nothing.

Matching the student's cells to the solution's (the rule)
---------------------------------------------------------
Grading never depends on the nbgrader metadata surviving Colab, VS Code or
JupyterLab, but uses it when it is there.

1. **Landmarks.** A submission cell is the solution's non-answer cell X (a
   markdown prompt, a context cell, a test cell) when it carries X's
   ``grade_id`` with the same cell type, or when its text equals X's text as the
   student received it (whitespace at line ends and around the cell ignored).
   Landmarks found out of order (a moved cell) are dropped, keeping the longest
   in-order run.
2. **Answers with metadata.** A code cell carrying an answer's ``grade_id`` is
   that answer.
3. **Answers without metadata.** An answer cell lies between two landmarks in
   the solution (typically the exercise's markdown prompt and its test cell);
   among the unclaimed code cells between the same two landmarks in the
   submission, it is the one that resembles the answer's stub as distributed
   more than any other stub or nearby test: it defines the same names (the
   function to write, the variables to fill in), keeps the stub's lines, or is
   similar as text (a score of at least 0.5 in any of these). The student's
   unanswered stub itself counts.
4. **Duplicates.** When several cells qualify as the same answer, the last one
   that differs from the stub is used (it is the definition that wins when the
   notebook runs top to bottom); the others are not run. Copies of landmark
   cells are not run either (the solution's version is used).
5. **Edited or deleted tests.** An unclaimed cell that resembles a test cell
   more than any answer is a modified test: it is not run, and the solution's
   test runs in its place. A test cell that cannot be found at all is restored.
6. **Cells the student added** (all other code cells) run where the student put
   them, after the landmark or answer that precedes them; markdown they added is
   ignored. A missing answer whose names (the function to write...) are defined
   in such a cell is taken to be written there; otherwise it is replaced by its
   stub, so that its tests fail with ``NotImplementedError``.

Statuses (most severe first; the reason column lists every problem found)
------------------------------------------------------------------------
See :data:`STATUSES`.

Modules
-------
``solution``   reading the solution (cells, roles, hidden parts, forbidden names);
``submission`` reading a submitted file without trusting it;
``matching``   matching a submission's cells to the solution's (the rule above);
``checks``     reading the code with ``ast`` and adding the grader's harness cells;
``scoring``    statuses, points per test cell, the result of one submission;
``batch``      grading a folder (:func:`grade_folder`); the run itself is
:mod:`regopt.instructor.runner`, the sheets :mod:`regopt.instructor.feedback`.

Execution and the trust model
-----------------------------
Every submission is treated as written by someone who wants points it did not
earn. Before anything runs, :func:`check_code` reads the cells to run with
:mod:`ast` (:mod:`regopt.instructor.codecheck`): forbidden names score their test
cell 0; dynamic access and tampering with the interpreter are marked
``needs-review``. :func:`add_harness` adds the grader's own cells
(:mod:`regopt.instructor.harness`), which restore what answers may have patched
before every test. Each graded notebook then runs in its own worker process and
kernel (:mod:`regopt.instructor.runner`): results come back over a pipe only the
worker holds, the grader signals only the workers it started, and the kernel runs
in a sandbox where the OS offers one (:mod:`regopt.instructor.sandbox`: no network,
its own PID space, a read-only view of the system, an empty home, an allow-listed
environment, limits on memory, processes, file size and CPU time). Limits: a
per-cell time limit (the cell is interrupted and the run goes on) and a
per-notebook limit (the run stops; what ran is graded); output is counted and
discarded beyond a limit; the kernel's death is caught. Kernels run with
``REGOPT_FAST=1`` unless ``full=True`` (tests are written to hold at any size),
``REGOPT_STATIC=1`` (no progress bars or sliders), the Agg backend, and
``cpu_count // jobs`` threads each.
"""

from __future__ import annotations

from .batch import grade_folder, grade_submission, list_submissions
from .checks import add_harness, check_code
from .matching import Alignment, GradedCell, build_graded_notebook
from .scoring import FOR_STUDENTS, REVIEW, STATUSES, UNGRADED, GradeResult, TestOutcome, was_graded
from .solution import InstructorError, SolutionCell, SolutionLab, load_solution
from .submission import Submission, read_submission

__all__ = [
    "STATUSES",
    "FOR_STUDENTS",
    "REVIEW",
    "UNGRADED",
    "InstructorError",
    "SolutionCell",
    "SolutionLab",
    "Submission",
    "GradedCell",
    "Alignment",
    "TestOutcome",
    "GradeResult",
    "load_solution",
    "read_submission",
    "build_graded_notebook",
    "check_code",
    "add_harness",
    "list_submissions",
    "grade_submission",
    "grade_folder",
    "was_graded",
]
