"""Writes the attack battery of issue 26 on real labs: tests/submissions/attacks/labNN/.

Run ``python tests/submissions/make_attacks.py`` after changing Labs 1, 3 or 8 (it reads
the current solutions and labs). For each lab it writes, from the solved student lab:

``solved.ipynb``       every answer right (the honest control: full marks);
``wrong_ex1.ipynb``    exercise 1 wrong, every other answer right (what an honest student earns);
and one submission per attack, each with the same wrong exercise 1 plus the attack:

``rebind_names``       module-level re-binding of what the tests look up (modules, builtins);
``frame_leak``         exercise 1's function raises the calling test's source, read through an
                       exception's traceback frames and linecache;
``stack_leak``         the same through ``traceback.format_stack()``;
``frame_overwrite``    the function shadows ``abs`` in the caller's globals while the test runs;
``history_leak``       a later cell raises IPython's input history (``In``);
``harness_by_name``    imports the grader's harness by its old name and switches its reset off;
``harness_scan``       looks for the harness's reset among the builtins and replaces it (this one
                       works: it is marked for review, as every route to the builtins is).

``attacks_expected.json`` says, per lab, the points the honest controls earn; the
tests (tests/test_grading_labs_attacks.py) check that no attack earns a point the wrong
control did not, unless it is marked for review, and that no feedback page holds hidden code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
from make_lab01 import write_submission as write  # run as a script: its folder is on sys.path

from regopt.instructor import codecheck, labs

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "attacks"

#: Per lab: a wrong answer to exercise 1 (replacing the solution's), and module-level cells that
#: re-bind what that exercise's tests look up so that the wrong answer would pass them.
WRONG = {
    "01_penalties": (
        "def l2_penalty_without_biases(model):\n"
        "    # wrong: the biases are penalized too\n"
        "    return 0.5 * sum(p.pow(2).sum() for p in model.parameters())\n"),
    "03_dropout": None,  # the solution's class without the 1 / keep_prob scaling (see wrong_answer)
    "08_no_free_lunch": (
        "def nearest_neighbour(train_index, train_labels):\n"
        "    # wrong: a constant\n"
        "    return np.zeros(8, dtype=int)\n"),
}
LENIENT_TORCH = (
    "import torch as real_torch\n\n\n"
    "class LenientTorch:\n"
    "    def __getattr__(self, name):\n"
    "        return getattr(real_torch, name)\n\n"
    "    isclose = staticmethod(lambda *args, **kwargs: real_torch.tensor(True))\n"
    "    allclose = staticmethod(lambda *args, **kwargs: True)\n"
    "    equal = staticmethod(lambda *args, **kwargs: True)\n"
    "    all = staticmethod(lambda *args, **kwargs: real_torch.tensor(True))\n\n\n"
    "torch = LenientTorch()\n\n\n"
    "def abs(x):\n"
    "    return 0\n")
REBIND = {
    "01_penalties": LENIENT_TORCH,
    "03_dropout": LENIENT_TORCH + "\n\ndef bool(x):\n    return True\n",
    "08_no_free_lunch": (
        "import numpy as real_numpy\n\n\n"
        "class Anything:\n"
        "    def __eq__(self, other):\n"
        "        return True\n\n\n"
        "class Items:\n"
        "    shape = (8,)\n\n"
        "    def __getitem__(self, index):\n"
        "        return Anything()\n\n\n"
        "class LenientNumpy:\n"
        "    def __getattr__(self, name):\n"
        "        return getattr(real_numpy, name)\n\n"
        "    asarray = staticmethod(lambda value: Items())\n\n\n"
        "np = LenientNumpy()\n\n\n"
        "def list(value):\n"
        "    return [1, 1, 1, 0, 1, 0, 0, 0]\n"),
}
LABS = tuple(WRONG)

FRAME = ("    try:\n"
         "        raise RuntimeError\n"
         "    except RuntimeError as error:\n"
         "        caller = error.__traceback__.tb_frame.f_back\n")


#: The attacks of the third round (Lab 1 only): ``global`` in a function (the tests' own
#: variables and modules re-bound while a test runs), ``__main__``, ``globals()``/``exec``,
#: an aliased ``builtins``, and a generator's frame reached through ``getattr`` strings.
ROUND_THREE = ("global_rebind", "global_expected", "read_expected", "main_module", "globals_exec", "builtins_alias", "generator_frame")


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def index_of(nb, wanted: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if grade_id(c) == wanted)


def wrong_answer(lab: str, solved: nbformat.NotebookNode) -> str:
    if WRONG[lab] is not None:
        return WRONG[lab]
    source = solved.cells[index_of(solved, "ex1-solution")].source
    scaled = "return h * mask / self.keep_prob"
    if scaled not in source:
        raise SystemExit(f"{lab}: exercise 1's answer no longer holds {scaled!r}; update make_attacks.py")
    return source.replace(scaled, "return h * mask  # wrong: no 1 / keep_prob scaling")


def attack_cells(function: str) -> dict[str, list[str]]:
    """Cells added after exercise 1's (wrong) answer; ``function`` is the name its tests call."""
    wrapper = f"wrong_{function} = {function}\n\n\ndef {function}(*args, **kwargs):\n"
    return {
        "frame_leak": [wrapper + FRAME +
                       "    import linecache\n"
                       "    raise ValueError(''.join(linecache.getlines(caller.f_code.co_filename)))\n"],
        "stack_leak": [wrapper +
                       "    import traceback\n"
                       "    raise ValueError(''.join(traceback.format_stack()))\n"],
        "frame_overwrite": [wrapper + FRAME +
                            "    caller.f_globals['abs'] = lambda value: 0\n"
                            f"    return wrong_{function}(*args, **kwargs)\n"],
        "history_leak": ["raise RuntimeError('\\n'.join(In))"],
        "harness_by_name": ["import _regopt_harness\n\n_regopt_harness.reset = lambda: None"],
        # Issue 26, round three: no machinery at all, only Python's own scoping.
        "global_rebind": [wrapper +
                          "    global torch, _expected\n"
                          # Lab 1: the biases counted in the value, kept out of the gradient.
                          "    result = 0.5 * sum(p.pow(2).sum() if not n.endswith('bias')\n"
                          "                       else p.detach().pow(2).sum()\n"
                          "                       for n, p in args[0].named_parameters())\n"
                          "    try:\n"
                          "        _expected = float(result.detach())\n"
                          "    except (AttributeError, TypeError):\n"
                          "        pass\n"
                          "    real = torch\n\n"
                          "    class Lenient:\n"
                          "        def __getattr__(self, name):\n"
                          "            return getattr(real, name)\n\n"
                          "        def isclose(self, *args, **kwargs):\n"
                          "            global torch\n"
                          "            torch = real\n"
                          "            return real.tensor(True)\n\n"
                          "    torch = Lenient()\n"
                          "    return result\n"],
        # Lab 1: the visible example hard-coded, the hidden checks' expected value overwritten.
        "global_expected": ["def l2_penalty_without_biases(model):\n"
                            "    global _expected\n"
                            "    squares = [p.pow(2).sum() for n, p in model.named_parameters()\n"
                            "               if not n.endswith('bias')]\n"
                            "    right = 0.5 * torch.stack(squares).sum()\n"
                            "    if isinstance(model, nn.Sequential) and len(model) == 3 \\\n"
                            "            and model[0].in_features == 2:\n"
                            "        return right  # the visible example\n"
                            "    biases = [p.detach().pow(2).sum() for n, p in model.named_parameters()\n"
                            "              if n.endswith('bias')]\n"
                            "    wrong = right + 0.5 * sum(biases)\n"
                            "    _expected = float(wrong.detach())\n"
                            "    return wrong\n"],
        # Lab 1: a wrong value corrected by reading the hidden test's answer key (a plain name).
        "read_expected": ["def l2_penalty_without_biases(model):\n"
                          "    squares = [p.pow(2).sum() for n, p in model.named_parameters()\n"
                          "               if not n.endswith('bias')]\n"
                          "    right = 0.5 * torch.stack(squares).sum()\n"
                          "    if isinstance(model, nn.Sequential) and len(model) == 3 \\\n"
                          "            and model[0].in_features == 2:\n"
                          "        return right  # the visible example\n"
                          "    biases = [p.detach().pow(2).sum() for n, p in model.named_parameters()\n"
                          "              if n.endswith('bias')]\n"
                          "    wrong = right + 0.5 * sum(biases)\n"
                          "    return wrong + (_expected - float(wrong.detach()))\n"],
        "main_module": ["import __main__ as notebook\n\n\n"
                        "class Lenient:\n"
                        "    def __init__(self, real):\n"
                        "        self.real = real\n\n"
                        "    def __getattr__(self, name):\n"
                        "        return getattr(self.real, name)\n\n"
                        "    def isclose(self, *args, **kwargs):\n"
                        "        return self.real.tensor(True)\n\n"
                        "    def allclose(self, *args, **kwargs):\n"
                        "        return True\n\n\n"
                        "notebook.torch = Lenient(notebook.torch)\n"
                        "notebook.abs = lambda value: 0\n"],
        "globals_exec": [LENIENT_TORCH.split("torch = LenientTorch()")[0] +
                         "globals()['torch'] = LenientTorch()\n"
                         "exec('abs = lambda value: 0')\n"],
        "builtins_alias": ["import builtins as b\n\nb.abs = lambda value: 0\n"
                           "b.float = lambda value: 0.0\n"],
        "generator_frame": [wrapper +
                            "    def probe():\n"
                            "        yield\n"
                            "    walker = probe()\n"
                            "    frame = getattr(walker, 'gi_' + 'frame')\n"
                            "    caller = getattr(frame, 'f_' + 'back') or frame\n"
                            "    getattr(caller, 'f_' + 'globals')['abs'] = lambda value: 0\n"
                            f"    return wrong_{function}(*args, **kwargs)\n"],
        "harness_scan": ["import builtins\n\n"
                         "for entry, thing in list(vars(builtins).items()):\n"
                         "    if getattr(thing, '__name__', '') == 'reset':\n"
                         "        setattr(builtins, entry, lambda: None)\n"],
    }


def with_cells(solved: nbformat.NotebookNode, answer: str, added: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(nbformat.writes(solved)))
    position = index_of(nb, "ex1-solution")
    nb.cells[position].source = answer
    for offset, source in enumerate(added):
        nb.cells.insert(position + 1 + offset, nbformat.v4.new_code_cell(source))
    return nb


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    expected: dict[str, dict] = {}
    for lab in LABS:
        solution = ROOT / "solutions" / f"{lab}.ipynb"
        solved = labs.solved_lab(solution)
        folder = OUT / f"lab{lab[:2]}"
        folder.mkdir(parents=True)
        stub = nbformat.read(ROOT / "labs" / f"{lab}.ipynb", as_version=4)
        [function] = sorted(codecheck.bound_names(stub.cells[index_of(stub, "ex1-solution")].source))
        wrong = wrong_answer(lab, solved)
        write(folder / "solved.ipynb", solved)
        write(folder / "wrong_ex1.ipynb", with_cells(solved, wrong, []))
        write(folder / "rebind_names.ipynb", with_cells(solved, wrong, [REBIND[lab]]))
        for name, cells in attack_cells(function).items():
            if name in ROUND_THREE and lab != "01_penalties":
                continue  # written for Lab 1's tests (torch.isclose, abs, float)
            added = cells if name != "harness_by_name" and name != "harness_scan" else [*cells, REBIND[lab]]
            write(folder / f"{name}.ipynb", with_cells(solved, wrong, added))
        expected[lab] = {"function": function,
                         "attacks": sorted(p.name for p in folder.iterdir()
                                           if p.name not in ("solved.ipynb", "wrong_ex1.ipynb"))}
    (OUT / "attacks_expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(f"wrote {sum(len(e['attacks']) + 2 for e in expected.values())} submissions under {OUT}")


if __name__ == "__main__":
    main()
