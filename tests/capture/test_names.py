"""Free-name analysis against Python's scoping rules (pure: no kernel, no IPython)."""

from __future__ import annotations

import ast

import pytest

from fairing_magics.capture.names import find_free_names


def free(source: str) -> dict[str, bool]:
    return find_free_names(ast.parse(source)).free


@pytest.mark.parametrize(
    "source, expected",
    [
        ("print(a)", {"print": True, "a": True}),
        ("a = 1\nprint(a)", {"print": True}),
        ("a = a + 1", {"a": True}),
        ("a += 1", {"a": True}),
        ("def f():\n    return b", {"b": False}),
        ("def f():\n    return b\nb = 1", {}),
        ("def f(x, *args, y=1, **kw):\n    return x, args, y, kw", {}),
        ("def f(x=d):\n    pass", {"d": True}),
        ("@deco\ndef f():\n    pass", {"deco": True}),
        ("def f(x: T) -> R:\n    pass", {"T": True, "R": True}),
        ("from __future__ import annotations\ndef f(x: T) -> R:\n    pass", {}),
        ("class C(Base, metaclass=Meta):\n    x = y", {"Base": True, "Meta": True, "y": True}),
        ("class C:\n    x = 1\n    def m(self):\n        return x", {"x": False}),
        ("class C:\n    x = 1\n    y = x", {}),
        ("[v for v in data]", {"data": True}),
        ("[v for v in data if v > lim]", {"data": True, "lim": True}),
        ("{k: v for k, v in pairs}", {"pairs": True}),
        ("(a for a in range(n))", {"range": True, "n": True}),
        ("[(y := v) for v in data]\nprint(y)", {"data": True, "print": True}),
        ("if (n := 10) > 5:\n    print(n)", {"print": True}),
        ("lambda q: q + r", {"r": False}),
        ("lambda q=z: q", {"z": True}),
        ("def f():\n    global g\n    g = 1\nf()\nprint(g)", {"print": True, "g": True}),
        ("def f():\n    global g\n    g = 1", {}),
        ("def outer():\n    c = 0\n    def inner():\n        nonlocal c\n        c += 1\n"
         "    return inner", {}),
        ("def outer():\n    def inner():\n        return v\n    return inner", {"v": False}),
        ("def outer():\n    v = 1\n    def inner():\n        return v\n    return inner", {}),
        ("try:\n    pass\nexcept E as err:\n    print(err)", {"E": True, "print": True}),
        ("with open(p) as fh:\n    fh.read()", {"open": True, "p": True}),
        ("for i in items:\n    total = i\nprint(total)", {"items": True, "print": True}),
        ("del x", {"x": True}),
        ("x = 1\ndel x", {}),
        ("import numpy as np\nnp.ones(1)", {}),
        ("import os.path\nos.path.join('a')", {}),
        ("from m import a as b\nb()", {}),
        ("match p:\n    case (0, yy):\n        print(yy)\n    case {'k': vv, **rest}:\n"
         "        print(vv, rest)",
         {"p": True, "print": True}),
        ("match p:\n    case Point(x=0) | Other():\n        pass\n"
         "    case Color.RED:\n        pass",
         {"p": True, "Point": True, "Other": True, "Color": True}),
        ("async def f():\n    async for i in src:\n        await g(i)\n"
         "    async with lock as held:\n        return held",
         {"src": False, "g": False, "lock": False}),
        ("def f():\n    x: int = 1\n    return x", {}),
        ("x: Number = 3", {"Number": True}),
        ("def f():\n    return __name__", {}),
        ("def rec(n):\n    return rec(n - 1)", {}),
        ("class A:\n    items = [i for i in range(3)]", {"range": True}),
        ("class A:\n    n = 3\n    items = [n for _ in range(2)]", {"range": True, "n": True}),
    ],
)
def test_free_names(source, expected):
    assert free(source) == expected


def test_bound_and_star_imports():
    result = find_free_names(ast.parse("from math import *\nx = 1\n"
                                       "def f():\n    global y\n    y = 2"))
    assert result.star_imports == ("math",)
    assert {"x", "f", "y"} <= result.bound
