"""What a submission's code refers to, read with :mod:`ast` before anything runs.

Two uses, both in the parent process (the student's code is parsed, never run here):

**Forbidden names.** A test cell of a solution may carry the metadata
``"regopt": {"forbidden": ["torch.optim", "regopt.penalties.prox_l1_"]}``: dotted
names, where a name also forbids everything under it (``torch.optim`` forbids
``torch.optim.SGD``). The *answer cells graded by that test cell* are the
solution's answer cells after the previous graded cell and before this one, as
the submission fills them in, plus the cells the student added in that stretch.
When one of them refers to a forbidden name, the test cell earns 0 and the
feedback names the use. A reference is resolved the way Python would bind it:
``import torch.optim as o`` then ``o.SGD``; ``from regopt.penalties import
prox_l1_ as p``; attribute chains on imported modules (``regopt.penalties.prox_l1_``);
names re-bound in earlier cells (``f = regopt.penalties.prox_l1_``; a function
of the student's own that calls it, defined in any earlier cell).

**Marks for a human look.** What static reading cannot follow is not guessed:
dynamic access (``getattr``, ``__import__``, ``importlib``, ``eval``/``exec``...)
and code that touches the interpreter's or the grader's machinery (``builtins``,
IPython hooks, ``sys.modules``, ``/proc``, signals, monkeypatching torch, numpy or
regopt, re-binding a helper the lab's set-up cells define) are graded as usual
and reported for review, with the reason.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field

__all__ = ["Use", "CodeReport", "analyze", "bound_names", "forbidden_uses", "check_forbidden_list"]

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

#: Calls whose target static reading cannot follow.
_DYNAMIC_CALLS = {"getattr", "setattr", "delattr", "__import__", "eval", "exec", "compile", "vars",
                  "globals", "locals", "breakpoint"}
#: Modules (and names under them) that reach the interpreter's or the grader's machinery.
_MACHINERY = ("builtins", "importlib", "sys.modules", "sys.settrace", "sys.setprofile", "sys.meta_path",
              "sys.path_hooks", "signal", "ctypes", "gc", "os.kill", "os.killpg", "os.system", "os.fork",
              "os.exec", "os.spawn", "os.environ", "subprocess", "multiprocessing", "IPython",
              "threading", "inspect", "operator.attrgetter", "operator.methodcaller", "weakref", "copyreg",
              # Frames and the source of the code that called: a test's variables and its hidden lines.
              "linecache", "traceback", "dis", "pdb", "bdb", "faulthandler", "tracemalloc", "sys._getframe",
              "sys._current_frames", "sys.exc_info", "sys.exception", "sys.last_traceback", "sys.last_value",
              "sys.last_exc", "sys.last_type", "types.FrameType", "types.TracebackType", "types.CodeType",
              # The grader's harness (its old importable name; it now has a random one per kernel).
              "_regopt_harness",
              # The notebook's own module: its attributes are the names the tests look up.
              "__main__")
#: Attributes that open an object's namespace to dynamic access.
_DUNDERS = {"__builtins__", "__dict__", "__globals__", "__code__", "__subclasses__", "__getattribute__",
            "__import__", "__loader__", "__spec__", "__closure__", "__class__", "__bases__", "__mro__",
            "__self__", "__setattr__", "__delattr__", "__reduce__", "__reduce_ex__", "__init_subclass__"}
#: Attributes that reach a frame (a test's, through a traceback or a generator) or compiled code.
_FRAME_ATTRIBUTES = {"__traceback__", "tb_frame", "tb_next", "f_back", "f_globals", "f_locals", "f_code",
                     "f_builtins", "f_lasti", "f_trace", "gi_frame", "cr_frame", "ag_frame", "gi_code",
                     "cr_code", "co_consts", "co_code", "co_names", "__context__", "__cause__"}
#: IPython's input history: it holds the source of the cells that ran before (the tests').
_HISTORY_NAMES = re.compile(r"^(In|Out|_ih|_oh|_dh|_i|_ii|_iii|_i\d+)$")
#: Names of the builtins: a module-level binding of one shadows it for the tests too.
_BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("__"))
#: Libraries whose attributes the hidden tests rely on: assigning to them is monkeypatching.
_PATCHABLE_ROOTS = ("torch", "numpy", "regopt", "math", "IPython", "sys", "builtins", "os", "nbformat")


def check_forbidden_list(value: object) -> list[str]:
    """The ``forbidden`` metadata as a list of dotted names; ValueError saying what is wrong."""
    if not isinstance(value, list) or not all(isinstance(v, str) and _DOTTED.match(v) for v in value):
        raise ValueError(f"regopt.forbidden={value!r} is invalid; expected a list of dotted names such as "
                         "['torch.optim', 'regopt.penalties.prox_l1_'].")
    return list(value)


@dataclass(frozen=True)
class Use:
    """One reference to a resolved dotted name, at a line of a cell."""

    name: str
    line: int


@dataclass
class CodeReport:
    """What one cell refers to (resolved) and what in it needs a human look."""

    uses: list[Use] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    syntax_error: bool = False


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


class _Bindings:
    """Module-level names across cells: imports and aliases, and what student-defined names use."""

    def __init__(self) -> None:
        self.alias: dict[str, str] = {}  # name -> the dotted name it is bound to
        self.uses_of: dict[str, set[str]] = {}  # student-defined name -> dotted names it uses
        self.star: list[str] = []  # modules imported with *
        self.set_up: set[str] = set()  # names the lab's set-up (context) cells define
        self.answer_names: set[str] = set()  # names the solution's own answers bind (re-binding them is fine)
        self.set_up_imports: dict[str, str] = {}  # name -> what a set-up cell imported (or aliased) under it
        self.bound: set[str] = set()  # every name some cell bound at module level
        self.student_bound: set[str] = set()  # names the student's cells bind at module level
        self.protected: set[str] = set()  # names the lab's set-up and test cells bind anywhere
        self.hidden_only: set[str] = set()  # names only the hidden parts of test cells bind (an answer key)


class _CellVisitor(ast.NodeVisitor):
    """Collects the resolved names one cell uses, with function-local names shadowing globals."""

    def __init__(self, bindings: _Bindings, student: bool, stored: set[str] = frozenset()) -> None:
        self.b = bindings
        self.student = student
        self.stored = stored  # names the cell being read binds anywhere (a loop's _i is the student's)
        self.locals: list[set[str]] = []
        self.report = CodeReport()

    # -- resolution
    def _is_local(self, name: str) -> bool:
        return any(name in scope for scope in self.locals)

    def resolve(self, node: ast.AST) -> str | None:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or self._is_local(node.id):
            return None
        base = self.b.alias.get(node.id)
        return ".".join([base, *reversed(parts)]) if base else None

    def use(self, name: str, line: int) -> None:
        self.report.uses.append(Use(name, line))

    def flag(self, reason: str, line: int) -> None:
        if self.student:
            self.report.review.append(f"line {line}: {reason}")

    # -- visitors
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.use(alias.name, node.lineno)
            self._machinery(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            full = f"{module}.{alias.name}" if alias.name != "*" else module
            self.use(full, node.lineno)
            self._machinery(full, node.lineno)

    def visit_Name(self, node: ast.Name) -> None:
        if self._is_local(node.id):
            return
        if isinstance(node.ctx, ast.Load):
            if node.id in self.b.alias:
                self.use(self.b.alias[node.id], node.lineno)
                self._machinery(self.b.alias[node.id], node.lineno)
            for name in self.b.uses_of.get(node.id, ()):
                self.use(name, node.lineno)
            if node.id not in self.b.alias and node.id not in self.b.uses_of:
                for module in self.b.star:
                    self.use(f"{module}.{node.id}", node.lineno)
            if node.id in _DUNDERS:
                self.flag(f"uses {node.id}", node.lineno)
            if _HISTORY_NAMES.match(node.id) and node.id not in self.b.bound and node.id not in self.stored:
                self.flag(f"uses {node.id}, IPython's history of the cells that ran (the tests' source)",
                          node.lineno)
            if "_regopt" in node.id:
                self.flag(f"refers to {node.id} (the grader's harness)", node.lineno)
            if node.id in self.b.hidden_only and node.id not in self.b.student_bound \
                    and node.id not in self.stored:
                self.flag(f"uses {node.id}, a variable of the hidden tests (what they expect)", node.lineno)
            if node.id == "get_ipython" and node.id not in self.b.alias and node.id not in self.b.uses_of:
                self.flag("uses get_ipython() (IPython's hooks and machinery)", node.lineno)
        elif self.student and not self.locals and node.id in self.b.set_up - self.b.answer_names:
            self.flag(f"re-binds {node.id}, which the lab's set-up cells define (and its tests may use)",
                      node.lineno)

    def visit_Global(self, node: ast.Global) -> None:
        # A function's `global` statement writes the notebook's namespace, which the tests share:
        # their variables (a hidden `_expected`), the modules and builtins they look up. Only the
        # student's own module-level names are fair game.
        if not self.locals:
            return
        for name in node.names:
            theirs = name in self.b.student_bound and name not in self.b.protected
            if not theirs or name in _BUILTIN_NAMES or name in self.b.set_up_imports:
                self.flag(f"declares global {name} in a function: it can re-bind, while a test runs, "
                          "a name of the notebook's that the tests use", node.lineno)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = self.resolve(node)
        if node.attr in _DUNDERS:
            self.flag(f"uses the attribute {node.attr}", node.lineno)
        if node.attr in _FRAME_ATTRIBUTES:
            self.flag(f"uses the attribute {node.attr} (frame introspection: a caller's variables and code)",
                      node.lineno)
        if "_regopt" in node.attr:
            self.flag(f"refers to {node.attr} (the grader's harness)", node.lineno)
        if name is not None:
            self.use(name, node.lineno)
            self._machinery(name, node.lineno)
            if not isinstance(node.ctx, ast.Load) and name.split(".")[0] in _PATCHABLE_ROOTS:
                self.flag(f"assigns to {name} (monkeypatching a library the tests rely on)", node.lineno)
            return  # the chain is resolved as a whole
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in _DYNAMIC_CALLS and not self._is_local(node.func.id) \
                and node.func.id not in self.b.alias and node.func.id not in self.b.uses_of:
            self.flag(f"calls {node.func.id}(), which static checks cannot follow", node.lineno)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and "/proc" in node.value:
            self.flag("refers to /proc", node.lineno)
        if isinstance(node.value, str) and "_regopt" in node.value:
            self.flag("refers to the grader's harness by name", node.lineno)

    def _machinery(self, name: str, line: int) -> None:
        for prefix in _MACHINERY:
            if _under(name, prefix) or (prefix == "os.exec" and name.startswith("os.exec")) \
                    or (prefix == "os.spawn" and name.startswith("os.spawn")):
                self.flag(f"uses {name} (the interpreter's or the grader's machinery)", line)
                return

    def _scope(self, node: ast.AST, params: ast.arguments | None) -> None:
        names: set[str] = set()
        if params is not None:
            every = [*params.posonlyargs, *params.args, *params.kwonlyargs, params.vararg, params.kwarg]
            names |= {a.arg for a in every if a is not None}
        body = node.body if isinstance(node.body, list) else [node.body]
        for statement in body:
            for sub in ast.walk(statement):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
        declared_global = {n for s in body for sub in ast.walk(s) if isinstance(sub, ast.Global) for n in sub.names}
        self.locals.append(names - declared_global)
        for default in (params.defaults + [d for d in params.kw_defaults if d]) if params else []:
            self.visit(default)
        for statement in body:
            self.visit(statement)
        self.locals.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._scope(node, node.args)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scope(node, node.args)


def _bound_names(statement: ast.stmt) -> list[str]:
    """Top-level names a statement binds (assignment targets, def, class, import, for, with)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name.split(".")[0]) for a in statement.names if a.name != "*"]
    return [n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            and not _inside_function(statement, n)]


def _inside_function(statement: ast.stmt, target: ast.Name) -> bool:
    for sub in ast.walk(statement):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)) and sub is not statement:
            if any(n is target for n in ast.walk(sub)):
                return True
    return False


def _update_bindings(b: _Bindings, statement: ast.stmt, visitor: _CellVisitor, uses: list[Use],
                     student: bool, context: bool) -> None:
    """Record what ``statement`` binds at module level, after its uses were collected."""
    if isinstance(statement, ast.Import):
        for a in statement.names:
            if a.asname:
                b.alias[a.asname] = a.name
            else:
                b.alias[a.name.split(".")[0]] = a.name.split(".")[0]
            b.uses_of.pop(a.asname or a.name.split(".")[0], None)
        return
    if isinstance(statement, ast.ImportFrom):
        module = "." * statement.level + (statement.module or "")
        for a in statement.names:
            if a.name == "*":
                b.star.append(module)
            else:
                b.alias[a.asname or a.name] = f"{module}.{a.name}"
                b.uses_of.pop(a.asname or a.name, None)
        return
    names = _bound_names(statement)
    value = getattr(statement, "value", None)
    target_alias = visitor.resolve(value) if isinstance(value, (ast.Name, ast.Attribute)) else None
    carried = {u.name for u in uses} if _carries_code(statement) else set()
    for name in names:
        b.alias.pop(name, None)
        b.uses_of.pop(name, None)
        if target_alias is not None and isinstance(statement, ast.Assign):
            b.alias[name] = target_alias
        elif student and carried:
            b.uses_of[name] = carried
        if context and not name.startswith("_") and _defines_code(statement):
            b.set_up.add(name)


def _defines_code(statement: ast.stmt) -> bool:
    """A function or class (a helper of the lab's), not data a student may re-bind."""
    return isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or \
        isinstance(getattr(statement, "value", None), ast.Lambda)


def _carries_code(statement: ast.stmt) -> bool:
    """Whether the names ``statement`` binds carry the code it refers to (functions, aliases).

    ``def``, ``class``, ``lambda`` and aliases do; the value of a call does not (a tensor
    computed in an earlier exercise is data), unless a function is passed to the call
    uncalled (``functools.partial(f, ...)``).
    """
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    value = getattr(statement, "value", None)
    if isinstance(value, (ast.Lambda, ast.Name, ast.Attribute)):
        return True
    if isinstance(value, ast.Call):
        arguments = [*value.args, *(k.value for k in value.keywords)]
        return any(isinstance(a, (ast.Name, ast.Attribute, ast.Lambda)) for a in arguments)
    return False


def _analyze_cell(b: _Bindings, source: str, role: str) -> CodeReport:
    student = role in ("answer", "extra")
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return CodeReport(syntax_error=True)
    report = CodeReport()
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for statement in tree.body:
        visitor = _CellVisitor(b, student, stored)
        visitor.visit(statement)
        report.uses += visitor.report.uses
        report.review += visitor.report.review
        if student:
            report.review += _rebinding_notes(b, statement)
        _update_bindings(b, statement, visitor, visitor.report.uses, student, context=role == "context")
        if role == "context":
            for name in _bound_names(statement):
                if name in b.alias:
                    b.set_up_imports[name] = b.alias[name]
                else:
                    b.set_up_imports.pop(name, None)
        b.bound.update(_bound_names(statement))
        if student:
            b.student_bound.update(_bound_names(statement))
    return report


def _imported_targets(statement: ast.stmt) -> dict[str, str]:
    """name -> dotted target, for an import statement (what ``_update_bindings`` records)."""
    if isinstance(statement, ast.Import):
        return {(a.asname or a.name.split(".")[0]): (a.name if a.asname else a.name.split(".")[0])
                for a in statement.names}
    if isinstance(statement, ast.ImportFrom):
        module = "." * statement.level + (statement.module or "")
        return {(a.asname or a.name): f"{module}.{a.name}" for a in statement.names if a.name != "*"}
    return {}


def _rebinding_notes(b: _Bindings, statement: ast.stmt) -> list[str]:
    """A student's module-level statement that re-binds a name the tests look up (a module, a builtin)."""
    notes = []
    imported = _imported_targets(statement)
    for name in dict.fromkeys(_bound_names(statement)):
        if name in b.answer_names:
            continue
        if name in b.set_up_imports and imported.get(name) != b.set_up_imports[name]:
            notes.append(f"line {statement.lineno}: re-binds {name}, which the lab's set-up bound to "
                         f"{b.set_up_imports[name]} (the tests use it; the grader puts it back before them)")
        elif name in _BUILTIN_NAMES and name not in b.set_up_imports:
            notes.append(f"line {statement.lineno}: shadows the builtin {name} (the tests use the real one; "
                         "the grader removes the shadow before them)")
    return notes


#: A hidden part of a test cell (nbgrader's delimiters).
_HIDDEN_REGION = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)


def _parse_or_empty(source: str) -> ast.AST:
    try:
        return ast.parse("\n".join("" if line.lstrip().startswith(("%", "!")) else line
                                   for line in source.split("\n")))
    except (SyntaxError, ValueError):
        return ast.Module(body=[], type_ignores=[])


def analyze(cells: list[tuple[str, str]], *, answer_names: set[str] = frozenset()) -> list[CodeReport]:
    """One report per ``(role, source)`` cell, read in order as a kernel would run them.

    Roles: ``answer`` and ``extra`` are the student's code; ``context``, ``test``
    (``hidden`` for a hidden part of one, whose variables an answer has no business reading) and
    ``stub`` are the lab's (they bind names, their uses are not the student's).
    Lines starting with ``%`` or ``!`` (IPython magics) are read as blank lines.
    ``answer_names``: names the solution's answer cells bind, which a student may re-bind
    even when a set-up cell defined them first.
    """
    bindings = _Bindings()
    bindings.answer_names = set(answer_names)
    for role, source in cells:
        if role in ("context", "test", "hidden"):
            try:
                tree = ast.parse("\n".join("" if line.lstrip().startswith(("%", "!")) else line
                                           for line in source.split("\n")))
            except (SyntaxError, ValueError):
                continue
            stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            bindings.protected |= stored
            if role in ("test", "hidden"):
                hidden = [source] if role == "hidden" else _HIDDEN_REGION.findall(source)
                visible = "" if role == "hidden" else _HIDDEN_REGION.sub("", source)
                bindings.hidden_only |= {name for name in stored if any(
                    re.search(rf"\b{re.escape(name)}\b", region) for region in hidden)
                    and not re.search(rf"\b{re.escape(name)}\b", visible)}
    for role, source in cells:
        if role == "context" or role == "test":
            bindings.hidden_only -= {n.id for n in ast.walk(_parse_or_empty(_HIDDEN_REGION.sub("", source)))
                                     if isinstance(n, ast.Name)}
    reports = []
    for role, source in cells:
        source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))
        reports.append(_analyze_cell(bindings, source, role))
    return reports


def forbidden_uses(report: CodeReport, forbidden: list[str]) -> list[Use]:
    """The uses in ``report`` under one of the ``forbidden`` dotted names (first per name)."""
    found: dict[str, Use] = {}
    for use in report.uses:
        if any(_under(use.name, prefix) for prefix in forbidden):
            found.setdefault(use.name, use)
    return list(found.values())


def bound_names(source: str) -> set[str]:
    """Names a cell binds at module level (functions, classes, variables, imports); empty if unparsable."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    return {name for statement in tree.body for name in _bound_names(statement)}
