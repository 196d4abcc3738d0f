"""The table of cell patterns the capture engine must handle.

Each pattern: earlier cells (run in a real IPython shell first), the captured cell, the names
the capture must take from the kernel, the distributions it must require (cloudpickle aside),
and optionally local files, ``--include`` paths, the files the bundle must hold, an expected
CaptureError, or lines to ignore when comparing output (IPython's own timing lines). ``%CWD%``
in a cell stands for the notebook's working folder (absolute paths).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pattern:
    id: str
    history: tuple[str, ...]
    cell: str
    names: frozenset[str] = frozenset()
    requirements: frozenset[str] = frozenset()
    local_files: dict[str, str] = field(default_factory=dict)  # written to the working folder first
    includes: tuple[str, ...] = ()
    bundle_files: frozenset[str] = frozenset()
    error: str = ""  # a CaptureError whose message holds this text
    ignore: tuple[str, ...] = ()  # prefixes of output lines only IPython prints
    shell: bool = True  # run in IPython for the expected output (False: expected `stdout`)
    stdout: str = ""
    value_limit: int = 100 * 2**20
    stderr: bool = False  # compare stderr too (warnings, printed tracebacks)


def P(id, history, cell, names="", reqs="", **kw) -> Pattern:
    if isinstance(history, str):
        history = (history,)
    for key in ("bundle_files",):
        if key in kw:
            kw[key] = frozenset(kw[key].split())
    return Pattern(id, tuple(history), cell, frozenset(names.split()), frozenset(reqs.split()),
                   **kw)


TIMING = ("CPU times", "Wall time")

PATTERNS: list[Pattern] = [
    # --- values ---------------------------------------------------------------------------------
    P("int_literal", "a = 1", "print(a + 1)", "a"),
    P("dict_literal", "cfg = {'lr': 0.1, 'layers': [1, 2], 'name': 'net'}",
      "print(cfg['lr'], cfg['layers'], cfg['name'])", "cfg"),
    P("set_literal", "s = {'b', 'a', 'c'}", "print(sorted(s))", "s"),
    P("tuple_nested", "t = (1, (2.5, None), 'x', b'y', True)", "print(t)", "t"),
    P("big_list_pickled", "big = list(range(500))", "print(sum(big), len(big))", "big"),
    P("numpy_array", ["import numpy as np", "arr = np.arange(6).reshape(2, 3)"],
      "print(arr.sum(axis=0).tolist())", "arr", "numpy"),
    P("pandas_frame",
      ["import pandas as pd", "df = pd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})"],
      "print(int(df['a'].sum()), ''.join(df['b']))", "df", "pandas numpy"),
    P("numpy_rng_state", ["import numpy as np", "rng = np.random.default_rng(0)"],
      "print(rng.integers(0, 100, 3).tolist())", "rng", "numpy"),
    P("instance_of_notebook_class", ["class Acc:\n    def __init__(self, v):\n        self.v = v\n"
                                     "    def double(self):\n        return self.v * 2",
                                     "acc = Acc(21)"],
      "print(acc.double())", "acc"),
    P("lambda_value", "sq = lambda v: v * v", "print(sq(7))", "sq"),
    P("closure_value", ["def make_adder(k):\n    def add(v):\n        return v + k\n    return add",
                        "add5 = make_adder(5)"],
      "print(add5(1))", "add5"),
    P("partial_value", ["import functools", "def power(b, e):\n    return b ** e",
                        "square = functools.partial(power, e=2)"],
      "print(square(9))", "square"),
    P("range_value", "nums = range(5)", "print(sum(n * n for n in nums))", "nums"),
    P("float_special", "inf = float('inf')", "print(inf > 1e308)", "inf"),
    # --- imports --------------------------------------------------------------------------------
    P("import_module", "import math", "print(math.sqrt(16))", "math"),
    P("import_alias", "import numpy as np", "print(int(np.arange(3).sum()))", "np", "numpy"),
    P("from_import", "from math import sqrt", "print(sqrt(9))", "sqrt"),
    P("from_import_alias", "from os.path import join as pjoin", "print(pjoin('a', 'b'))", "pjoin"),
    P("import_submodule", "import os.path", "print(os.path.basename('/a/b'))", "os"),
    P("numpy_ufunc", "from numpy import sin", "print(float(sin(0.0)))", "sin", "numpy"),
    P("sklearn_class", ["from sklearn.linear_model import LinearRegression", "import numpy as np"],
      "m = LinearRegression().fit(np.array([[0.0], [1.0]]), np.array([1.0, 3.0]))\n"
      "print(round(float(m.coef_[0]), 3))",
      "LinearRegression np", "numpy scikit-learn"),
    P("pandas_reexport", "from pandas import DataFrame", "print(DataFrame({'a': [1]}).shape)",
      "DataFrame", "pandas"),
    P("from_import_constant", "from math import pi", "print(round(pi, 2))", "pi"),
    P("from_import_instance", "from os import environ", "print(type(environ).__name__)", "environ"),
    P("star_import", "from math import *", "print(floor(2.5), ceil(2.5))", "floor ceil"),
    P("yaml_mapping", "import yaml", "print(yaml.safe_dump({'a': 1}).strip())", "yaml", "pyyaml"),
    # --- notebook definitions ---------------------------------------------------------------------
    P("function", "def f(x):\n    return x * 2", "print(f(21))", "f"),
    P("function_redefined", ["def f(x):\n    return x", "def f(x):\n    return x + 100"],
      "print(f(1))", "f"),
    P("function_uses_value", ["k = 3", "def f(x):\n    return x * k"], "print(f(2))", "f k"),
    P("function_calls_function", ["def g(x):\n    return x + 1", "def f(x):\n    return g(x) * 2"],
      "print(f(1))", "f g"),
    P("decorated_function",
      ["import functools", "def deco(fn):\n    @functools.wraps(fn)\n    def inner(*a):\n"
                           "        return fn(*a) * 10\n    return inner",
       "@deco\ndef f(x):\n    return x"],
      "print(f(2))", "f deco functools"),
    P("lru_cache_function",
      ["from functools import lru_cache",
       "@lru_cache(maxsize=None)\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)"],
      "print(fib(30))", "fib lru_cache"),
    P("class", "class Counter:\n    def __init__(self):\n        self.n = 0\n    def inc(self):\n"
               "        self.n += 1\n        return self",
      "print(Counter().inc().inc().n)", "Counter"),
    P("class_inheritance",
      ["class Base:\n    def hello(self):\n        return 'base'",
       "class Child(Base):\n    def hello(self):\n        return 'child+' + super().hello()"],
      "print(Child().hello())", "Child Base"),
    P("dataclass",
      ["from dataclasses import dataclass", "@dataclass\nclass Pnt:\n    x: int\n    y: int = 0"],
      "print(Pnt(1))", "Pnt dataclass"),
    P("enum_class", ["import enum", "class Color(enum.Enum):\n    RED = 1\n    BLUE = 2"],
      "print(Color.RED.name, Color(2))", "Color enum"),
    P("exception_class", "class MyErr(Exception):\n    pass",
      "try:\n    raise MyErr('boom')\nexcept MyErr as e:\n    print('caught', e)", "MyErr"),
    P("function_alias", ["def f(x):\n    return x - 1", "g = f"], "print(g(10))", "g f"),
    P("nested_helper", "def outer(n):\n    def helper(i):\n        return i * i\n"
                       "    return sum(helper(i) for i in range(n))",
      "print(outer(4))", "outer"),
    P("mutual_recursion", ["def is_even(n):\n    return True if n == 0 else is_odd(n - 1)",
                           "def is_odd(n):\n    return False if n == 0 else is_even(n - 1)"],
      "print(is_even(10))", "is_even is_odd"),
    P("generator_function", "def countdown(n):\n    while n:\n        yield n\n        n -= 1",
      "print(list(countdown(3)))", "countdown"),
    P("conditional_definition",
      ["import sys", "if sys.version_info >= (3, 8):\n    def feature():\n        return 'new'\n"
                     "else:\n    def feature():\n        return 'old'"],
      "print(feature())", "feature"),
    P("function_with_module",
      ["import numpy as np", "def norm(v):\n    return float(np.sqrt((np.asarray(v) ** 2).sum()))"],
      "print(norm([3, 4]))", "norm np", "numpy"),
    P("class_body_calls_function", "def mk():\n    return [1, 2]",
      "class H:\n    items = mk()\nprint(H.items)", "mk"),
    P("builtin_shadowed", "def len(x):\n    return 42", "print(len([1]))", "len"),
    P("definitions_in_one_cell", "def a1():\n    return 'a1'\n\ndef a2():\n    return a1() + 'a2'",
      "print(a2())", "a1 a2"),
    # --- scoping ----------------------------------------------------------------------------------
    P("builtins_only", (), "print(sum(range(4)), len('abc'), sorted([3, 1]))"),
    P("cell_defines_function", "base = 10", "def add(x):\n    return x + base\nprint(add(5))",
      "base"),
    P("cell_shadows_kernel", "a = 'kernel'", "a = 'cell'\nprint(a)"),
    P("augassign", "total = 5", "total += 1\nprint(total)", "total"),
    P("read_before_rebind", "n = 2", "n = n * 3\nprint(n)", "n"),
    P("comprehension_var", ["data = [1, 2, 3]", "x = 99"], "print([x * 2 for x in data])", "data"),
    P("walrus", "vals = [3, 8, 1]", "if (m := max(vals)) > 5:\n    print('big', m)", "vals"),
    P("walrus_in_comprehension", "vals = [1, 2, 3]",
      "print([y for v in vals if (y := v * 2) > 2], y)", "vals"),
    P("global_in_function", "counter = 0",
      "def bump():\n    global counter\n    counter += 1\nbump()\nbump()\nprint(counter)",
      "counter"),
    P("nonlocal", (), "def make():\n    c = 0\n    def inc():\n        nonlocal c\n        c += 1\n"
                      "        return c\n    return inc\nf = make()\nf()\nprint(f())"),
    P("try_except_name", ["import json", "err = 'kernel'"],
      "try:\n    json.loads('{bad')\nexcept ValueError as err:\n    print(type(err).__name__)",
      "json"),
    P("with_binding", ["import io", "fh = 'kernel'"],
      "with io.StringIO('hi') as fh:\n    print(fh.read())", "io"),
    P("for_else_binding", "items = ['a', 'b']",
      "for i, item in enumerate(items):\n    pass\nelse:\n    print(i, item)", "items"),
    P("match_sequence", ["point = (1, 2)", "x = 5"],
      "match point:\n    case (0, y):\n        print('y axis', y)\n    case (x, y):\n"
      "        print('at', x, y)",
      "point"),
    P("match_class",
      ["from dataclasses import dataclass", "@dataclass\nclass Pt:\n    x: int\n    y: int"],
      "match Pt(1, 2):\n    case Pt(x=1, y=yy):\n        print('yy', yy)", "Pt dataclass"),
    P("match_mapping_rest", "cfg = {'kind': 'a', 'n': 1, 'm': 2}",
      "match cfg:\n    case {'kind': kind, **rest}:\n        print(kind, sorted(rest))", "cfg"),
    P("async_function", "import asyncio",
      "async def work(v):\n    await asyncio.sleep(0)\n    return [i async for i in agen(v)]\n"
      "async def agen(v):\n    for i in range(v):\n        yield i\nprint(asyncio.run(work(3)))",
      "asyncio"),
    P("default_argument", "default_n = 7", "def f(n=default_n):\n    return n\nprint(f())",
      "default_n"),
    P("annotation", "class Cfg:\n    pass", "def f(c: Cfg) -> int:\n    return 1\nprint(f(None))",
      "Cfg"),
    P("postponed_annotation", (), "from __future__ import annotations\ndef f(c: Missing) -> int:\n"
                                  "    return 2\nprint(f(None))"),
    P("module_annotation", "Number = int", "count: Number = 3\nprint(count)", "Number"),
    P("decorator_from_kernel",
      "def twice(fn):\n    def w(*a):\n        return fn(fn(*a))\n    return w",
      "@twice\ndef inc(x):\n    return x + 1\nprint(inc(0))", "twice"),
    P("class_body_reads_global", "unit = 'cm'",
      "class M:\n    u = unit\n    def show(self):\n        return self.u\nprint(M().show())",
      "unit"),
    P("method_skips_class_scope", "label = 'global'",
      "class K:\n    label = 'class'\n    def get(self):\n        return label\nprint(K().get())",
      "label"),
    P("del_name", ["tmp = 1", "keep = 2"], "del tmp\nprint(keep)", "tmp keep"),
    P("lambda_in_cell", "factor = 3", "f = lambda v: v * factor\nprint(f(2))", "factor"),
    P("dict_comprehension", "keys = ['a', 'bb']", "print({k: len(k) for k in keys})", "keys"),
    P("deferred_bound_later", (), "def f():\n    return later * 2\nlater = 21\nprint(f())"),
    P("while_loop", "limit = 3", "i = 0\nwhile i < limit:\n    i += 1\nprint(i)", "limit"),
    P("import_in_cell", (), "import numpy as np\nprint(int(np.ones(3).sum()))", "", "numpy"),
    P("fairing_cells_skipped",
      ["def f():\n    return 'local'", "%%fairing_train\ndef f():\n    return 'remote'"],
      "print(f())", "f"),
    P("string_like_magic", (), "s = '%time not a magic !ls'\nprint(s)"),
    # --- IPython syntax ---------------------------------------------------------------------------
    P("line_magic_time", "v = 3", "%time w = v * 2\nprint(w)", "v", ignore=TIMING),
    P("cell_magic_time", "v = 4", "%%time\nprint(v + 1)", "v", ignore=TIMING),
    P("shell_command", (), "!echo hello-shell\nprint('after')"),
    P("shell_output", (), "lines = !echo one\nprint(list(lines))"),
    P("env_magic", (), "%env MY_FLAG=on\nimport os\nprint(os.environ['MY_FLAG'])",
      ignore=("env:",)),
    P("config_magic_dropped", (),
      "%config InteractiveShell.ast_node_interactivity = 'last_expr'\nprint('ok')"),
    P("magic_in_function", (), "def f():\n    !echo inside\n    return 1\nprint(f())"),
    P("pip_install_dropped", (), "!pip install numpy\n%pip install pandas\nprint('trained')",
      shell=False, stdout="trained\n"),
    P("help_dropped", "x = 1", "x?\nprint(x)", "x", shell=False, stdout="1\n"),
    P("display_shim", (), "display('hi')\ndisplay([1, 2])"),
    P("history_magics", ["%load_ext autoreload", "%time r = 5\ndef h():\n    return r"],
      "print(h())", "h r", ignore=TIMING),
    # --- files ------------------------------------------------------------------------------------
    P("local_module", "import mylib_a", "print(mylib_a.triple(3))", "mylib_a",
      local_files={"mylib_a.py": "def triple(v):\n    return v * 3\n"}, bundle_files="mylib_a.py"),
    P("local_module_transitive", "from mylib_b import plus", "print(plus(1))", "plus", "numpy",
      local_files={"mylib_b.py": "from mylib_c import base\n\n\ndef plus(v):\n"
                                 "    return v + base()\n",
                   "mylib_c.py": "import numpy\n\n\ndef base():\n"
                                 "    return int(numpy.int64(10))\n"},
      bundle_files="mylib_b.py mylib_c.py"),
    P("local_package", "import mypkg_d", "print(mypkg_d.scale(2))", "mypkg_d",
      local_files={"mypkg_d/__init__.py": "from .core import scale\n",
                   "mypkg_d/core.py": "def scale(v):\n    return v * 5\n"},
      bundle_files="mypkg_d/__init__.py mypkg_d/core.py"),
    P("local_class_instance", ["from mylib_e import Model", "model = Model(4)"],
      "print(model.predict(2))", "model",
      local_files={"mylib_e.py": "class Model:\n    def __init__(self, w):\n        self.w = w\n\n"
                                 "    def predict(self, x):\n        return self.w * x\n"},
      bundle_files="mylib_e.py"),
    P("include_folder", (), "print(sum(int(line) for line in open('data/numbers.txt')))",
      local_files={"data/numbers.txt": "1\n2\n3\n"}, includes=("data",),
      bundle_files="data/numbers.txt"),
    # --- errors -----------------------------------------------------------------------------------
    P("error_undefined", (), "print(nope + 1)", error="'nope'"),
    P("error_syntax", (), "x = 1\nprint(x +)\n", error="line 2"),
    P("error_generator", "gen = (i for i in range(3))", "print(list(gen))", error="'gen'"),
    P("error_lock", ["import threading", "lock = threading.Lock()"], "with lock:\n    print(1)",
      error="'lock'"),
    P("error_open_file", ["import tempfile", "fh = tempfile.TemporaryFile()"], "print(fh.read())",
      error="'fh'"),
    P("error_too_large", "blob = b'x' * 5000", "print(len(blob))", error="limit", value_limit=1000),
    P("error_get_ipython", (), "print(get_ipython())", error="get_ipython"),
]

PATTERNS += [
    P("class_and_instance",
      ["class Unit:\n    def __init__(self, n):\n        self.n = n", "u = Unit(3)"],
      "print(isinstance(u, Unit), u.n)", "u Unit"),
    P("subclass_of_pickled_class",
      ["class Shape:\n    sides = 0", "class Square(Shape):\n    sides = 4", "sq1 = Shape()"],
      "print(isinstance(sq1, Shape), issubclass(Square, Shape), Square.sides)", "sq1 Shape Square"),
    P("error_sqlite", ["import sqlite3", "conn = sqlite3.connect(':memory:')"],
      "print(conn.execute('select 1').fetchone())", error="'conn'"),
    P("error_socket", ["import socket", "sock = socket.socket()"], "print(sock.fileno() > 0)",
      error="'sock'"),
]
PATTERNS += [
    P("cell_imports_local_package", (), "import mypkg_f.inner\nprint(mypkg_f.inner.v)", "",
      "pyyaml", local_files={"mypkg_f/__init__.py": "from .inner import v\n",
                             "mypkg_f/inner.py": "import yaml\n\nv = yaml.safe_load('5')\n"},
      bundle_files="mypkg_f/__init__.py mypkg_f/inner.py"),
    P("function_imports_inside", "def load():\n    import mylib_g\n    return mylib_g.VALUE",
      "print(load())", "load", local_files={"mylib_g.py": "VALUE = 'from mylib_g'\n"},
      bundle_files="mylib_g.py"),
]
PATTERNS += [
    P("future_import_hoisted", "import math",
      "from __future__ import annotations\ndef f(c: Missing) -> int:\n    return math.floor(2.5)\n"
      "print(f(None))",
      "math"),
]
PATTERNS += [
    P("error_array_too_large", ["import numpy as np", "big_array = np.zeros(10_000)"],
      "print(big_array.sum())", error="limit", value_limit=50_000),
]
PATTERNS += [
    P("self_containing_list", "loop = [1]\nloop.append(loop)",
      "print(loop[1][1][0], loop[1] is loop)", "loop"),
]

# --- issue 16: capture fidelity on real notebooks -------------------------------------------------
PATTERNS += [
    # files the code names, shipped without --include
    P("file_read_csv_relative", "import csv",
      "rows = list(csv.DictReader(open('data/heights.csv')))\n"
      "print(sum(int(r['h']) for r in rows))",
      "csv", local_files={"data/heights.csv": "name,h\na,180\nb,170\n"},
      bundle_files="data/heights.csv"),
    P("file_numpy_loadtxt", "import numpy as np", "print(np.loadtxt('transistors.txt').sum())",
      "np", "numpy", local_files={"transistors.txt": "1.5\n2.5\n"}, bundle_files="transistors.txt"),
    P("file_np_load_saved_earlier",
      ["import numpy as np", "np.savez('arrays.npz', a=np.arange(3))"],
      "with np.load('arrays.npz') as z:\n    print(z['a'].tolist())", "np", "numpy",
      bundle_files="arrays.npz"),
    P("file_folder_listed", "import os", "print(sorted(os.listdir('inputs')))", "os",
      local_files={"inputs/a.txt": "1", "inputs/b.txt": "2"},
      bundle_files="inputs/a.txt inputs/b.txt"),
    P("file_shell_command_words", (), "!head -n 1 table.txt\nprint('after')",
      local_files={"table.txt": "first line\nsecond line\n"}, bundle_files="table.txt"),
    P("file_named_in_definition", "def load():\n    return open('conf.json').read().strip()",
      "print(load())", "load", local_files={"conf.json": '{"lr": 0.1}\n'},
      bundle_files="conf.json"),
    P("file_absolute_inside_folder", (), "print(open('%CWD%/abs.txt').read().strip())",
      local_files={"abs.txt": "absolute ok\n"}, bundle_files="abs.txt"),
    P("file_package_data", "import mypkg_h", "print(mypkg_h.table())", "mypkg_h",
      local_files={"mypkg_h/__init__.py":
                   "import os\n\n\ndef table():\n    here = os.path.dirname(__file__)\n"
                   "    return open(os.path.join(here, 'table.csv')).read().split()\n",
                   "mypkg_h/table.csv": "x\ny\n"},
      bundle_files="mypkg_h/__init__.py mypkg_h/table.csv"),
    # library settings made in earlier cells
    P("sklearn_set_config",
      ["import sklearn", "sklearn.set_config(print_changed_only=False, display='text')"],
      "print(sklearn.get_config()['print_changed_only'], sklearn.get_config()['display'])",
      "sklearn", "scikit-learn"),
    P("sklearn_metadata_routing",
      ["import sklearn", "from sklearn.linear_model import LinearRegression",
       "sklearn.set_config(enable_metadata_routing=True)"],
      "est = LinearRegression().set_fit_request(sample_weight=True)\nprint(type(est).__name__)",
      "LinearRegression", "scikit-learn"),
    P("pandas_option", ["import pandas as pd", "pd.set_option('display.precision', 2)"],
      "print(pd.DataFrame({'a': [1.23456, 2.5]}))", "pd", "pandas"),
    P("numpy_print_options",
      ["import numpy as np", "np.set_printoptions(precision=2, suppress=True)"],
      "print(np.array([1 / 3, 1e-9, 2.0]))", "np", "numpy"),
    P("numpy_seterr", ["import numpy as np", "np.seterr(all='raise')"],
      "try:\n    np.array([1.0]) / 0\nexcept FloatingPointError as e:\n    print('raised', e)",
      "np", "numpy"),
    P("warnings_filter_ignore",
      ["import warnings", "warnings.filterwarnings('ignore', message='noisy')"],
      "import warnings\nwarnings.warn('noisy thing')\nprint('done')", stderr=True),
    P("warnings_filter_error", ["import warnings", "warnings.simplefilter('error', UserWarning)"],
      "try:\n    warnings.warn('strict')\nexcept UserWarning as e:\n    print('raised', e)",
      "warnings"),
    P("matplotlib_rcparams", ["import matplotlib", "matplotlib.rcParams['lines.linewidth'] = 3.5"],
      "print(matplotlib.rcParams['lines.linewidth'])", "matplotlib", "matplotlib"),
    P("decimal_context", ["import decimal", "decimal.getcontext().prec = 5"],
      "print(decimal.Decimal(1) / decimal.Decimal(7))", "decimal"),
    P("random_seeded_then_drawn", ["import random", "random.seed(3)\nfirst = random.random()"],
      "print(random.random())", "random"),
    P("numpy_random_seeded_then_drawn",
      ["import numpy as np", "np.random.seed(0)\nnp.random.rand()"], "print(np.random.rand())",
      "np", "numpy"),
    P("random_unseeded_state", ["import random", "warm = random.random()"],
      "print(random.randint(0, 10**9))", "random"),
    # shared objects: one pickle
    P("alias_list", ["x = [1, 2, 3]", "y = x"], "x.append(4)\nprint(y)", "x y"),
    P("alias_nested", ["a = {'k': [1]}", "b = a['k']"], "b.append(2)\nprint(a)", "a b"),
    P("alias_lambda_global", ["data = [1]", "f = lambda: len(data)"], "data.append(5)\nprint(f())",
      "data f"),
    P("alias_default_and_value",
      ["cache = {}", "def f(k, c=cache):\n    c[k] = 1\n    return len(c)"],
      "cache['z'] = 0\nprint(f('a'), sorted(cache))", "cache f"),
    P("alias_object_two_names", ["import collections", "d = collections.Counter('ab')", "e = d"],
      "d['c'] += 1\nprint(e['c'])", "d e"),
    P("lambda_sees_rebound_global", ["scale = 2", "g = lambda v: v * scale"],
      "scale = 10\nprint(g(1))", "g"),
    # state carried, not rebuilt
    P("mutable_default_filled",
      ["def add(v, acc=[]):\n    acc.append(v)\n    return acc", "add(1)\nadd(2)"], "print(add(3))",
      "add"),
    P("decorator_closure_list", ["def counted(fn):\n    calls = [0]\n    def w(*a):\n"
                                 "        calls[0] += 1\n        return calls[0]\n    return w",
                                 "@counted\ndef ping():\n    pass", "ping()\nping()"],
      "print(ping())", "ping"),
    P("decorator_closure_nonlocal",
      ["def counting(fn):\n    n = 0\n    def w():\n        nonlocal n\n        n += 1\n"
       "        return n\n    return w",
       "@counting\ndef tick():\n    pass", "tick()"],
      "print(tick())", "tick"),
    P("rng_as_default", ["import numpy as np", "def draw(rng=np.random.default_rng(0)):\n"
                                               "    return int(rng.integers(1000))",
                         "first = draw()"],
      "print(draw())", "draw np", "numpy"),
    P("class_attr_assigned_later", ["class Conf:\n    pass", "Conf.level = 7"], "print(Conf.level)",
      "Conf"),
    P("class_attr_changed",
      ["class Tally:\n    count = 0\n    def __init__(self):\n        Tally.count += 1",
       "Tally()\nTally()"],
      "Tally()\nprint(Tally.count)", "Tally"),
    P("subclass_registry",
      ["class Plugin:\n    registry = {}\n    def __init_subclass__(cls, **kw):\n"
       "        super().__init_subclass__(**kw)\n        Plugin.registry[cls.__name__] = cls",
       "class Alpha(Plugin):\n    pass", "class Beta(Plugin):\n    pass"],
      "print(sorted(Plugin.registry), Plugin.registry['Beta'].__name__)", "Plugin Alpha Beta"),
    P("decorator_registry",
      ["HANDLERS = {}", "def register(fn):\n    HANDLERS[fn.__name__] = fn\n    return fn",
       "@register\ndef hello():\n    return 'hi'"],
      "print(sorted(HANDLERS), HANDLERS['hello']())", "HANDLERS"),
    P("default_from_changed_global", ["k = 1", "def f(x=k):\n    return x", "k = 2"],
      "print(f(), k)", "f k"),
    # names inside strings
    P("pandas_query_at_name",
      ["import pandas as pd", "df = pd.DataFrame({'a': [1, 5, 9]})", "threshold = 4"],
      "print(df.query('a > @threshold')['a'].tolist())", "df threshold", "pandas numpy"),
    P("pandas_eval_frames", ["import pandas as pd", "df1 = pd.DataFrame({'x': [0.1, 0.9]})",
                             "df2 = pd.DataFrame({'x': [0.2, 0.3]})"],
      "print(pd.eval('(df1 < 0.5) & (df2 < 0.5)')['x'].tolist())", "pd df1 df2", "pandas numpy"),
    P("dataframe_eval_at_name",
      ["import pandas as pd", "frame = pd.DataFrame({'a': [1, 2]})", "factor = 10"],
      "print(frame.eval('b = a * @factor')['b'].tolist())", "frame factor", "pandas numpy"),
    P("numexpr_evaluate", ["import numexpr as ne", "import numpy as np", "xs = np.arange(4.0)"],
      "print(ne.evaluate('xs > 1.5').tolist())", "ne xs", "numexpr numpy"),
    P("formula_notebook_function",
      ["import pandas as pd", "import statsmodels.formula.api as smf",
       "frame = pd.DataFrame({'x': [1.0, 2.0, 3.0, 4.0], 'y': [2.0, 4.1, 6.2, 7.9]})",
       "def twice(v):\n    return 2 * v"],
      "res = smf.ols('y ~ twice(x)', data=frame).fit()\nprint(round(res.params['twice(x)'], 4))",
      "smf frame twice", "statsmodels pandas numpy"),
    P("formula_numpy_in_string", ["import numpy as np", "import patsy"],
      "print(patsy.dmatrix('x + np.square(x)', {'x': [1.0, 2.0]}).tolist())", "np patsy",
      "patsy numpy"),
    P("formula_kept_in_variable",
      ["import pandas as pd", "import statsmodels.formula.api as smf",
       "frame = pd.DataFrame({'x': [1.0, 2.0, 3.0], 'y': [1.0, 2.0, 3.5]})",
       "def half(v):\n    return v / 2"],
      "formula = 'y ~ half(x)'\nprint(round(smf.ols(formula, frame).fit().params['half(x)'], 3))",
      "smf frame half", "statsmodels pandas numpy"),
    P("model_unpickle_reevaluates_formula",
      ["import pandas as pd", "import statsmodels.formula.api as smf",
       "frame = pd.DataFrame({'x': [1.0, 2.0, 3.0], 'y': [1.0, 2.0, 3.5]})",
       "def third(v):\n    return v / 3", "fit = smf.ols('y ~ third(x)', frame).fit()"],
      "print(round(fit.params['third(x)'], 3))", "fit third", "statsmodels pandas numpy"),
    P("submodule_by_attribute", ["import xml", "import xml.dom.minidom"],
      "print(xml.dom.minidom.parseString('<a/>').documentElement.tagName)", "xml"),
    # Python's own rules for lazy names
    P("lazy_name_in_uncalled_function", (),
      "def later():\n    return not_defined_yet + 1\nprint('defined')"),
    P("lazy_name_in_uncalled_method", (),
      "class Later:\n    def m(self):\n        return missing_name\nprint('ok')"),
    P("error_name_in_called_function", (), "def f():\n    return nowhere\nprint(f())",
      error="'nowhere'"),
    # the kernel's identity of the code
    P("main_doc", (), "print(__doc__)"),
    P("main_name_and_file", (), "print(__name__, '__file__' in globals())"),
    P("warning_names_the_cell", (), "import warnings\nwarnings.warn('careful')\nprint('x')",
      stderr=True),
    P("warning_in_definition",
      "import warnings\n\ndef risky():\n    warnings.warn('from risky')\n    return 1",
      "print(risky())", "risky warnings", stderr=True),
    P("printed_traceback_names_the_cell", (),
      "import traceback\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n    traceback.print_exc()",
      stderr=True),
    # kernel-only lines that mean the same in a job
    P("writefile_new", (), "%%writefile notes.txt\nline one\n"),
    P("file_magic_alias", (), "%%file notes2.txt\nabc\n"),
    P("writefile_append_existing", "%%writefile log.txt\nfirst\n",
      "%%writefile -a log.txt\nsecond\n", bundle_files="log.txt"),
    P("bash_cell", (), "%%bash\necho from-bash\nif [[ 1 -eq 1 ]]; then echo bashism; fi"),
]
PATTERNS += [
    P("shell_expands_python_values", ["greeting = 'hi'", "folder = 'sub'"],
      "!echo {greeting.upper()} $folder $$HOME\nprint('after')", "greeting folder"),
    P("shell_output_expands", "n = 3", "lines = !seq {n}\nprint(list(lines))", "n"),
    P("shell_unknown_name_reaches_the_shell", (), "!echo ${NOT_A_PYTHON_NAME:-from-shell}"),
]
# --- found by the real-notebook corpus (tests/capture/corpus) -------------------------------------
PATTERNS += [
    # the job's last line stays open as the kernel's does (no save-cursor and newline at the end)
    P("output_ends_without_newline", (), "for i in range(4):\n    print(i, end=' ')"),
    P("output_ends_without_newline_after_lines", "items = ['a', 'b']",
      "print('start')\nfor item in items:\n    print(item, end=', ')", "items"),
    # pandas options matter to libraries that load pandas: statsmodels prints a DataFrame
    P("pandas_options_reach_a_library_that_loads_pandas",
      ["import pandas as pd", "pd.set_option('display.max_columns', 3)",
       "import statsmodels.api as sm"],
      "print(sm.datasets.longley.load_pandas().exog.head(2))", "sm", "statsmodels"),
]
