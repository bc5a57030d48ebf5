"""The cells the grader adds so that hidden tests run on a clean harness.

Tests must run in the student's kernel (they call the student's functions), after
the student's code, so an answer cell could patch what they rely on. The grader
adds cells of its own to the graded notebook:

``PROLOGUE`` (first, before any code of the lab's or the student's)
    Records builtins, IPython's AST and input transformers, its event callbacks,
    the methods of the shell and kernel classes, ``sys.displayhook``,
    ``sys.excepthook`` and the SIGINT handler, while nothing has touched them.
``snapshot()`` (before the first cell the student wrote)
    Records the functions and classes of torch, numpy, math and regopt as the
    lab's set-up cells imported them.
``keep(names)`` (after each set-up cell that defines names)
    Records the lab's own functions and classes (such as a ``compare_with_torch``).
``reset()`` (before every part of every test cell)
    Puts every recorded thing back, clears trace and profile functions, and
    raises ``GraderRestored`` naming what it had to restore: the grader marks
    the submission for review, and the test then runs on the clean harness.

This is a defence in depth, not a proof: code that patches the very machinery
that runs these cells is caught by :mod:`regopt.instructor.codecheck`, which
marks it for a human look before anything runs.
"""

from __future__ import annotations

__all__ = ["PROLOGUE", "SNAPSHOT", "RESTORED_ERROR", "keep_source", "RESET"]

#: The exception name a reset raises when it had to restore something.
RESTORED_ERROR = "GraderRestored"

PROLOGUE = r'''
def _regopt_install_harness():
    import builtins, signal, sys, types

    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    h = types.ModuleType("_regopt_harness")
    h.builtins = dict(vars(builtins))
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
            now = current.get(key, h)
            if now is not h and (same(now, value) or not from_cells(now)):
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
        # The lab's functions and classes; its data a student may legitimately re-bind.
        for name in names:
            if callable(shell.user_ns.get(name)):
                h.kept[name] = shell.user_ns[name]

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
            if not same(shell.user_ns.get(name, h), value):
                shell.user_ns[name] = value
                restored.append(f"the lab's {name}")
        if restored:
            error = type("GraderRestored", (Exception,), {})
            raise error("the grader restored " + ", ".join(dict.fromkeys(restored)))

    h.snapshot, h.keep, h.reset = snapshot, keep, reset
    sys.modules["_regopt_harness"] = h


_regopt_install_harness()
del _regopt_install_harness
'''

SNAPSHOT = '__import__("sys").modules["_regopt_harness"].snapshot()'
RESET = '__import__("sys").modules["_regopt_harness"].reset()'


def keep_source(names: list[str]) -> str:
    """A cell recording the lab's helpers ``names`` (after the set-up cell defining them)."""
    return f'__import__("sys").modules["_regopt_harness"].keep({sorted(names)!r})'
