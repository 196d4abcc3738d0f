"""Free-name analysis: which global names a piece of code reads from outside itself.

:func:`find_free_names` walks a module's AST in evaluation order with Python's scoping rules
(functions, classes, comprehensions, lambdas, ``global``/``nonlocal``, ``del``, the walrus,
names bound by ``try``/``except``/``with``/``for``/``match``, ``async`` code, decorators,
default arguments and annotations) and returns the global names the code reads before (or
without) binding them itself.

Each free name is marked *immediate* when it is read while the module itself runs (module
level, class bodies, comprehensions, decorators, defaults, evaluated annotations) and
*deferred* when it is only read when a function is called later. Definitions must be emitted
before the code that reads them immediately; deferred reads only need the name to exist by the
time the function is called. A deferred read of a name the module binds anywhere is not free.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache

from fairing_magics.capture.strings import names_in_strings

_MODULE_DUNDERS = frozenset(
    {"__name__", "__doc__", "__file__", "__builtins__", "__spec__", "__loader__",
     "__package__", "__annotations__", "__dict__", "__debug__"}
)


@dataclass(frozen=True)
class FreeNames:
    """The result of :func:`find_free_names`.

    ``free`` maps each free global name to True when it is read immediately (see the module
    docstring); ``bound`` holds every name the code binds at module level (including through
    ``global`` in functions); ``star_imports`` lists modules imported with ``from m import *``.
    ``lazy`` holds the free names read only inside functions (or classes' methods) that nothing
    the code runs immediately refers to: Python accepts them until such a function is called.
    """

    free: dict[str, bool]
    bound: frozenset[str]
    star_imports: tuple[str, ...] = ()
    lazy: frozenset[str] = frozenset()  # deferred free names in bodies the code never reaches


class _Scope:
    __slots__ = ("kind", "parent", "names", "global_decls", "nonlocal_decls", "deferred")

    def __init__(self, kind: str, parent: _Scope | None, deferred: bool):
        self.kind = kind  # "module" | "class" | "function" | "comprehension"
        self.parent = parent
        self.names: set[str] = set()  # function: every local; module/class: bound so far
        self.global_decls: set[str] = set()
        self.nonlocal_decls: set[str] = set()
        self.deferred = deferred


def _target_names(node: ast.AST, out: set[str]) -> None:
    """Names bound by an assignment target (Name, Tuple, List, Starred)."""
    if isinstance(node, ast.Name):
        out.add(node.id)
    elif isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            _target_names(elt, out)
    elif isinstance(node, ast.Starred):
        _target_names(node.value, out)


def _import_binding(alias: ast.alias) -> str:
    return alias.asname or alias.name.split(".")[0]


class _LocalCollector(ast.NodeVisitor):
    """Every name a function body binds locally (Python decides locality for the whole body)."""

    def __init__(self):
        self.names: set[str] = set()
        self.global_decls: set[str] = set()
        self.nonlocal_decls: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.names.add(node.id)

    def _visit_def(self, node) -> None:
        self.names.add(node.name)
        for item in node.decorator_list:
            self.visit(item)
        # defaults and annotations run in this scope; the body does not
        args = getattr(node, "args", None)
        if args is not None:
            for default in [*args.defaults, *args.kw_defaults]:
                if default is not None:
                    self.visit(default)
        if isinstance(node, ast.ClassDef):
            for base in [*node.bases, *node.keywords]:
                self.visit(base)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_def

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)

    def _visit_comprehension(self, node) -> None:
        # only walrus targets inside a comprehension bind in the enclosing function
        for sub in ast.walk(node):
            if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                self.names.add(sub.target.id)
        self.visit(node.generators[0].iter)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _visit_comprehension

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(_import_binding(a) for a in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.names.update(_import_binding(a) for a in node.names if a.name != "*")

    def visit_Global(self, node: ast.Global) -> None:
        self.global_decls.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.nonlocal_decls.update(node.names)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node) -> None:
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node) -> None:
        if node.name:
            self.names.add(node.name)

    def visit_MatchMapping(self, node) -> None:
        if node.rest:
            self.names.add(node.rest)
        self.generic_visit(node)


def _arg_names(args: ast.arguments) -> set[str]:
    every = [*getattr(args, "posonlyargs", []), *args.args, *args.kwonlyargs]
    names = {a.arg for a in every}
    if args.vararg:
        names.add(args.vararg.arg)
    if args.kwarg:
        names.add(args.kwarg.arg)
    return names


class _Walker(ast.NodeVisitor):
    def __init__(self, postponed_annotations: bool):
        self.module = _Scope("module", None, deferred=False)
        self.scope = self.module
        self.free: dict[str, bool] = {}
        self.bound_anywhere: set[str] = set()
        self.star_imports: list[str] = []
        self.postponed = postponed_annotations
        self.owner: str | None = None  # the module-level def/class whose body is being walked
        self.uses: dict[str | None, set[str]] = {}  # names read inside each owner's bodies
        self.immediate_reads: set[str] = set()

    # --- binding and reading ---------------------------------------------------------------

    def _bind(self, name: str) -> None:
        scope = self.scope
        if scope.kind in ("function", "comprehension"):
            if name in scope.global_decls:
                self.bound_anywhere.add(name)
            return
        scope.names.add(name)
        if scope.kind == "module":
            self.bound_anywhere.add(name)

    def _read(self, name: str) -> None:
        origin = self.scope
        if origin.deferred:
            self.uses.setdefault(self.owner, set()).add(name)
        else:
            self.immediate_reads.add(name)
        scope = origin
        while scope is not None:
            if scope.kind in ("function", "comprehension"):
                if name in scope.global_decls:
                    break
                if name in scope.names and name not in scope.nonlocal_decls:
                    return
            elif scope.kind == "class":
                if scope is origin and name in scope.names:
                    return
            else:  # module
                if not origin.deferred and name in scope.names:
                    return
                break
            scope = scope.parent
        if name in _MODULE_DUNDERS:
            return
        immediate = not origin.deferred
        self.free[name] = self.free.get(name, False) or immediate

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id)
        elif isinstance(node.ctx, ast.Store):
            self._bind(node.id)
        else:  # del: the name must exist first, then it is gone
            self._read(node.id)
            if self.scope.kind in ("module", "class"):
                self.scope.names.discard(node.id)

    # --- statements ---------------------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self._read(node.target.id)
        self.visit(node.value)
        self.visit(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if self.scope.kind in ("module", "class") and not self.postponed:
            self.visit(node.annotation)
        if node.value is not None:
            self.visit(node.value)
        if node.value is not None or self.scope.kind not in ("module", "class"):
            self.visit(node.target)
        elif not isinstance(node.target, ast.Name):
            self.visit(node.target)

    def visit_For(self, node) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        for stmt in [*node.body, *node.orelse]:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._bind(_import_binding(alias))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.star_imports.append(node.module or "")
            else:
                self._bind(_import_binding(alias))

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._bind(node.name)
        for stmt in node.body:
            self.visit(stmt)

    def visit_Global(self, node: ast.Global) -> None:
        pass  # collected with the function's locals

    visit_Nonlocal = visit_Global

    # --- definitions and new scopes -------------------------------------------------------------

    def _visit_annotations(self, args: ast.arguments, returns) -> None:
        if self.postponed:
            return
        every = [*getattr(args, "posonlyargs", []), *args.args, *args.kwonlyargs]
        every += [a for a in (args.vararg, args.kwarg) if a is not None]
        for arg in every:
            if arg.annotation is not None:
                self.visit(arg.annotation)
        if returns is not None:
            self.visit(returns)

    def _enter_function(self, node, args: ast.arguments, body) -> None:
        at_module = self.scope is self.module
        owner = self.owner
        if at_module:
            self.owner = getattr(node, "name", None)
            if isinstance(self.owner, ast.Name):
                self.owner = self.owner.id
        try:
            self._walk_function(node, args, body)
        finally:
            self.owner = owner

    def _walk_function(self, node, args: ast.arguments, body) -> None:
        collector = _LocalCollector()
        for stmt in body if isinstance(body, list) else [body]:
            collector.visit(stmt)
        scope = _Scope("function", self.scope, deferred=True)
        scope.global_decls = collector.global_decls
        scope.nonlocal_decls = collector.nonlocal_decls
        scope.names = ((collector.names | _arg_names(args))
                       - collector.global_decls - collector.nonlocal_decls)
        outer, self.scope = self.scope, scope
        try:
            for stmt in body if isinstance(body, list) else [body]:
                self.visit(stmt)
        finally:
            self.scope = outer

    def _enter_type_params(self, node) -> _Scope | None:
        """PEP 695 (Python 3.12+): ``def f[T](x: T)`` binds T for annotations, bases and body."""
        params = getattr(node, "type_params", None)
        if not params:
            return None
        outer = self.scope
        scope = _Scope("function", outer, deferred=outer.deferred)
        scope.names = {p.name for p in params}
        self.scope = scope
        return outer

    def visit_FunctionDef(self, node) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        outer = self._enter_type_params(node)
        self._visit_annotations(node.args, node.returns)
        self._enter_function(node, node.args, node.body)
        if outer is not None:
            self.scope = outer
        self._bind(node.name)

    def visit_TypeAlias(self, node) -> None:  # Python 3.12+: type X[T] = ...
        outer = self._enter_type_params(node) or self.scope
        self._enter_function(node, ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                                                 kw_defaults=[], defaults=[]),
                             [ast.Expr(node.value)])
        self.scope = outer
        self._bind(node.name.id)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        self._enter_function(node, node.args, node.body)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        params_outer = self._enter_type_params(node)
        for base in node.bases:
            self.visit(base)
        for keyword in node.keywords:
            self.visit(keyword.value)
        scope = _Scope("class", self.scope, deferred=self.scope.deferred)
        outer, self.scope = self.scope, scope
        owner = self.owner
        if outer is self.module:
            self.owner = node.name  # its methods run when the class (or an instance) is used
        try:
            for stmt in node.body:
                self.visit(stmt)
        finally:
            self.scope = params_outer or outer
            self.owner = owner
        self._bind(node.name)

    def _visit_comprehension(self, node) -> None:
        generators = node.generators
        self.visit(generators[0].iter)  # evaluated in the enclosing scope
        scope = _Scope("comprehension", self.scope, deferred=self.scope.deferred)
        for gen in generators:
            _target_names(gen.target, scope.names)
        outer, self.scope = self.scope, scope
        try:
            for index, gen in enumerate(generators):
                if index:
                    self.visit(gen.iter)
                for cond in gen.ifs:
                    self.visit(cond)
            if isinstance(node, ast.DictComp):
                self.visit(node.key)
                self.visit(node.value)
            else:
                self.visit(node.elt)
        finally:
            self.scope = outer

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _visit_comprehension

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        outer = self.scope
        scope = outer
        while scope.kind == "comprehension":
            scope = scope.parent
        self.scope = scope
        try:
            if scope.kind == "function" and node.target.id in scope.global_decls:
                self.bound_anywhere.add(node.target.id)
            elif scope.kind in ("function",) and outer is not scope:
                pass  # already a local of that function
            else:
                self._bind(node.target.id)
        finally:
            self.scope = outer

    # --- match statements -------------------------------------------------------------------------

    def visit_MatchAs(self, node) -> None:
        if node.pattern is not None:
            self.visit(node.pattern)
        if node.name:
            self._bind(node.name)

    def visit_MatchStar(self, node) -> None:
        if node.name:
            self._bind(node.name)

    def visit_MatchMapping(self, node) -> None:
        for key in node.keys:
            self.visit(key)
        for pattern in node.patterns:
            self.visit(pattern)
        if node.rest:
            self._bind(node.rest)


def _has_postponed_annotations(tree: ast.Module) -> bool:
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            if any(a.name == "annotations" for a in stmt.names):
                return True
    return False


def find_free_names(tree: ast.Module) -> FreeNames:
    """The global names ``tree`` reads without binding them first (see the module docstring)."""
    walker = _Walker(_has_postponed_annotations(tree))
    for stmt in tree.body:
        walker.visit(stmt)
    free = {
        name: immediate
        for name, immediate in walker.free.items()
        if immediate or name not in walker.bound_anywhere
    }
    reached = set(walker.immediate_reads) | {None}  # code in a module-level lambda may run
    frontier = list(reached)
    while frontier:
        for name in walker.uses.get(frontier.pop(), ()):
            if name not in reached:
                reached.add(name)
                frontier.append(name)
    lazy = frozenset(name for name, immediate in free.items()
                     if not immediate and name not in reached)
    return FreeNames(free=free, bound=frozenset(walker.bound_anywhere),
                     star_imports=tuple(walker.star_imports), lazy=lazy)


@lru_cache(maxsize=4096)
def analyze_source(source: str) -> tuple[FreeNames, frozenset[str], tuple[str, ...]]:
    """Free names, imported modules and names inside evaluator strings of plain Python
    ``source`` (cached by text)."""
    tree = ast.parse(source)
    return find_free_names(tree), frozenset(find_imported_modules(tree)), names_in_strings(tree)


def find_imported_modules(tree: ast.AST) -> set[str]:
    """Absolute module names imported anywhere in ``tree`` (``import m``, ``from m import n``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found
