"""The cells the grader adds so that hidden tests run on a clean harness.

Tests must run in the student's kernel (they call the student's functions), after
the student's code, so an answer cell could patch what they rely on. The grader
adds cells of its own to the graded notebook:

``prologue(name)`` (first, before any code of the lab's or the student's)
    Records builtins, the names the kernel's namespace starts with, IPython's AST
    and input transformers, its event callbacks, the methods of the shell and
    kernel classes, ``sys.displayhook``, ``sys.excepthook`` and the SIGINT
    handler, while nothing has touched them.
``snapshot(name)`` (before the first cell the student wrote)
    Records the functions and classes of torch, numpy, math and regopt as the
    lab's set-up cells imported them.
``keep_source(names, name)`` (after each set-up cell that defines names)
    Records the lab's own functions, classes and the modules its set-up bound
    (``torch``, ``np``, ``F``, a ``compare_with_torch``).
``reset(name)`` (before every part of every test cell)
    Puts every recorded thing back (a module or helper of the lab's that a cell
    re-bound; a builtin such as ``abs`` that a cell shadowed in the notebook's
    namespace is removed from it), clears trace and profile functions, and
    raises ``GraderRestored`` naming what it had to restore: the grader marks
    the submission for review, and the test then runs on the clean harness.
``forget(name)`` (after every hidden part of a test cell)
    Removes the hidden part's source from :mod:`linecache` and the last
    exception (``sys.last_traceback``...), so that no later cell finds it.

The harness lives in the kernel as plain functions bound in :mod:`builtins` only,
under ``name`` (a random name drawn per submission by :func:`new_name`) followed by
the operation (``_reset``...): an answer cell cannot import them, setting an
attribute on them changes nothing, and finding or replacing them means reading
the interpreter's machinery (``builtins``, ``gc``, frames, ``linecache``), which
:mod:`regopt.instructor.codecheck` marks for review. The worker runs the
harness cells and the hidden parts of test cells without storing them in
IPython's history (``In``, ``_ih``).

This is a defence in depth, not a proof: code that patches the very machinery
that runs these cells is caught by :mod:`regopt.instructor.codecheck`, which
marks it for a human look before anything runs.
"""

from __future__ import annotations

import secrets

__all__ = ["RESTORED_ERROR", "new_name", "prologue", "snapshot", "keep_source", "reset", "forget"]

#: The exception name a reset raises when it had to restore something.
RESTORED_ERROR = "GraderRestored"

_PROLOGUE = r'''
def _regopt_install_harness():
    import builtins, signal, sys, types

    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    h = types.ModuleType("harness")
    h.builtins = dict(vars(builtins))
    # The builtins' names the namespace starts with (IPython binds exit, quit, open...).
    h.namespace = {k: v for k, v in shell.user_ns.items() if k in h.builtins}
    h.ast_transformers = list(shell.ast_transformers)
    h.input_post = list(shell.input_transformers_post)
    manager = shell.input_transformer_manager
    h.cleanup = list(manager.cleanup_transforms)
    h.line = list(manager.line_transforms)
    h.events = {name: list(callbacks) for name, callbacks in shell.events.callbacks.items()}
    classes = [c for obj in (shell, kernel) if obj is not None for c in type(obj).__mro__
               if c.__module__.split(".")[0] in ("IPython", "ipykernel", "traitlets", "jupyter_client")]
    h.class_dicts = {c: dict(vars(c)) for c in classes}
    h.instances = {id(obj): (obj, dict(vars(obj))) for obj in (shell, kernel) if obj is not None}
    h.hooks = (sys.displayhook, sys.excepthook, signal.getsignal(signal.SIGINT))
    h.modules, h.kept = {}, {}
    allowed = set(__ALLOWED__)
    missing = object()

    def same(a, b):
        if a is b:
            return True
        # A bound method is a new object at each access (IPython re-binds get_ipython per cell).
        return isinstance(a, types.MethodType) and isinstance(b, types.MethodType) \
            and a.__func__ is b.__func__ and a.__self__ is b.__self__

    def from_cells(obj, depth=0):
        # Written in a cell of this kernel (a function, lambda, class or instance of one)? Library code
        # that patches itself lazily (torch._dynamo wraps torch.manual_seed on import) is left alone.
        try:
            if isinstance(obj, type):
                return obj.__module__ == "__main__"
            if type(obj).__module__ == "__main__":
                return True
            code = getattr(obj, "__code__", None) or getattr(getattr(obj, "__func__", None), "__code__", None)
            if isinstance(code, types.CodeType):
                name = code.co_filename
                return name.startswith("<") or "ipykernel_" in name or "ipython-input" in name
            inner = getattr(obj, "func", None)  # functools.partial
            return depth < 3 and inner is not None and from_cells(inner, depth + 1)
        except Exception:
            return True

    def restore_dict(owner, saved, label, restored, delete_new):
        current = vars(owner)
        for key, value in saved.items():
            now = current.get(key, missing)
            if now is not missing and (same(now, value) or not from_cells(now)):
                continue
            try:
                setattr(owner, key, value)
            except (AttributeError, TypeError):
                continue
            restored.append(f"{label}.{key}")
        if delete_new:
            for key in [k for k, v in current.items() if k not in saved and from_cells(v)]:
                try:
                    delattr(owner, key)
                except (AttributeError, TypeError):
                    continue
                restored.append(f"{label}.{key}")

    def snapshot():
        wanted = ("builtins", "math", "numpy", "numpy.linalg", "numpy.testing", "numpy.random", "torch",
                  "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.linalg", "torch.autograd",
                  "torch.func", "torch.testing", "torch.optim", "torch.nn.utils")
        for name, module in list(sys.modules.items()):
            if module is not None and (name in wanted or name == "regopt" or name.startswith(("regopt.", "torch.optim."))):
                h.modules[name] = (module, {k: v for k, v in vars(module).items()
                                            if callable(v) or isinstance(v, types.ModuleType)})
        for cls in (getattr(sys.modules.get("torch"), "Tensor", None),
                    getattr(getattr(sys.modules.get("torch"), "nn", None), "Module", None)):
            if isinstance(cls, type):
                h.class_dicts[cls] = dict(vars(cls))

    def keep(names):
        # The lab's functions, classes and modules; its data a student may legitimately re-bind.
        for name in names:
            value = shell.user_ns.get(name)
            if callable(value) or isinstance(value, types.ModuleType):
                h.kept[name] = value

    def reset():
        restored = []
        sys.settrace(None)
        sys.setprofile(None)
        restore_dict(builtins, h.builtins, "builtins", restored, delete_new=False)
        lists = [(h.ast_transformers, shell.ast_transformers, "AST transformers"),
                 (h.input_post, shell.input_transformers_post, "input transformers"),
                 (h.cleanup, manager.cleanup_transforms, "input transformers"),
                 (h.line, manager.line_transforms, "input transformers")]
        lists += [(h.events.get(name, []), callbacks, f"{name} event callbacks")
                  for name, callbacks in shell.events.callbacks.items()]
        for saved, current, label in lists:
            kept = [x for x in current if any(x is y for y in saved) or not from_cells(x)]
            kept += [y for y in saved if not any(x is y for x in kept)]
            if len(kept) != len(current) or any(x is not y for x, y in zip(kept, current)):
                current[:] = kept
                restored.append(f"IPython's {label}")
        for cls, saved in h.class_dicts.items():
            restore_dict(cls, saved, cls.__qualname__, restored, delete_new=True)
        for obj, saved in h.instances.values():
            restore_dict(obj, saved, type(obj).__name__ + " instance", restored, delete_new=True)
        for name, (module, saved) in h.modules.items():
            if sys.modules.get(name) is not module:
                sys.modules[name] = module
                restored.append(f"sys.modules[{name!r}]")
            restore_dict(module, saved, name, restored, delete_new=False)
        hooks = (sys.displayhook, sys.excepthook, signal.getsignal(signal.SIGINT))
        if any(now is not then and from_cells(now) for now, then in zip(hooks, h.hooks)) \
                or not callable(hooks[2]) and hooks[2] != h.hooks[2]:
            sys.displayhook, sys.excepthook = h.hooks[:2]
            signal.signal(signal.SIGINT, h.hooks[2])
            restored.append("sys.displayhook, sys.excepthook or the SIGINT handler")
        for name, value in h.kept.items():
            if not same(shell.user_ns.get(name, missing), value):
                shell.user_ns[name] = value
                restored.append(f"the lab's {name}")
        for name in [k for k in shell.user_ns if k in h.builtins and k not in h.kept and k not in allowed]:
            value = shell.user_ns[name]
            if not same(value, h.namespace.get(name, missing)):
                if name in h.namespace:
                    shell.user_ns[name] = h.namespace[name]
                else:
                    del shell.user_ns[name]
                # A library's function (``from math import *`` brings math.pow) is put aside quietly;
                # an explicit binding was marked by the static check, code of the cells' is reported.
                if from_cells(value):
                    restored.append(f"the builtin {name} (a cell shadowed it)")
        if restored:
            error = type("GraderRestored", (Exception,), {})
            raise error("the grader restored " + ", ".join(dict.fromkeys(restored)))

    def forget(before):
        # The hidden part just run: out of linecache (its frames' source) and of sys.last_*.
        import linecache
        for key in [k for k in linecache.cache if k not in before]:
            linecache.cache.pop(key, None)
        for attr in ("last_type", "last_value", "last_traceback", "last_exc"):
            if hasattr(sys, attr):
                setattr(sys, attr, None)

    def mark():
        import linecache
        h.before = set(linecache.cache)

    # One builtin per operation, each a plain function: setting an attribute on it changes
    # nothing, and no object with a ``reset`` attribute is reachable by name.
    operations = {"snapshot": snapshot, "keep": keep, "reset": reset, "mark": mark,
                  "forget": lambda: forget(h.before)}
    for operation, function in operations.items():
        setattr(builtins, f"{__HARNESS_NAME__}_{operation}", function)


_regopt_install_harness()
del _regopt_install_harness
'''


def new_name() -> str:
    """A fresh name for one kernel's harness, not guessable by the code of a submission."""
    return "_" + secrets.token_hex(12)


def prologue(name: str, allowed: set[str] = frozenset()) -> str:
    """The first cell: installs the harness as ``name`` (see the module documentation).

    ``allowed``: names the solution's answers bind (a builtin's name an exercise asks for is no shadow).
    """
    return _PROLOGUE.replace("__HARNESS_NAME__", repr(name)).replace("__ALLOWED__", repr(sorted(allowed)))


def snapshot(name: str) -> str:
    return f"{name}_snapshot()"


def reset(name: str, hidden: bool = False) -> str:
    """Before a test part: put back what was patched (and, before a hidden part, note linecache)."""
    return f"{name}_reset()" if not hidden else f"{name}_mark()\n{name}_reset()"


def forget(name: str) -> str:
    return f"{name}_forget()"


def keep_source(names: list[str], name: str) -> str:
    """A cell recording the lab's helpers ``names`` (after the set-up cell defining them)."""
    return f"{name}_keep({sorted(names)!r})"
