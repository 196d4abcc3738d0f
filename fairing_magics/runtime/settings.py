"""Library settings a notebook made in earlier cells, read in the kernel and restored in the job.

One table, :data:`SETTINGS`: one entry per library, each saying which imported module makes it
matter, how to read the setting in the kernel (``read()``: a picklable snapshot, or None when
nothing differs from a fresh interpreter) and how to restore it in the job (``restore(snapshot)``).
Add a library by adding an entry. The capture reads the entries whose module the bundle imports
(the random-state entries only when the code draws from the global generator or the notebook
seeded it); the bootstrap restores them, in table order, right before the cell runs.

This file runs in the kernel (imported as ``fairing_magics.runtime.settings``) and in the job
(shipped as ``fairing_settings.py``): standard library only; each library is imported lazily.
"""

import decimal
import importlib
import inspect
import json
import re
import sys
import warnings


class LibrarySetting:
    """One row of the table: ``name`` (shown in the capture report), the top-level ``module``
    the bundle must import for it to matter (None: always), and how to read it (``read(modules)``
    with the top-level modules the bundle imports) and restore it."""

    def __init__(self, name, module, read, restore, random_state=False, encode=None, decode=None):
        self.name = name
        self.module = module
        self.read = read
        self.restore = restore
        self.random_state = random_state  # carried only when the code draws or the notebook seeded
        self.encode = encode  # snapshot -> JSON data (None: not expressible), for the manifest
        self.decode = decode  # and back, in the job


def encode_setting(entry, snapshot):
    """``snapshot`` as JSON data for the manifest, or None when only a pickle can carry it.

    Plain data (scikit-learn's config, most options) goes to the manifest, so a cell that needs
    nothing else from the kernel needs no pickle (nor cloudpickle in its image).
    """
    if entry.encode is not None:
        return entry.encode(snapshot)
    try:
        data = json.loads(json.dumps(snapshot))
    except (TypeError, ValueError):
        return None
    return data if data == snapshot else None


def _accepted(function, options):
    """The options ``function`` accepts (versions differ: a newer kernel may know more keys)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return dict(options)
    return {k: v for k, v in options.items() if k in parameters}


# --- scikit-learn -------------------------------------------------------------------------------

def _read_sklearn(modules):
    import sklearn

    return sklearn.get_config()  # small, and its defaults are not kept anywhere to compare with


def _restore_sklearn(config):
    import sklearn

    sklearn.set_config(**_accepted(sklearn.set_config, config))


# --- pandas -------------------------------------------------------------------------------------

# Options whose default depends on where pandas runs: it takes a plain process for a terminal
# (max_columns 0, fit to the terminal's width) and a Jupyter kernel for none (max_columns 20),
# so the kernel's value is carried even where it is the kernel's default.
_PANDAS_ENVIRONMENT_OPTIONS = ("display.max_columns",)


def _read_pandas(modules):
    import pandas

    config = getattr(getattr(pandas, "_config", None), "config", None)
    registered = getattr(config, "_registered_options", {})
    deprecated = getattr(config, "_deprecated_options", {})
    changed = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reading must not print anything in the kernel
        for key, option in registered.items():
            if key in deprecated:
                continue
            try:
                value = pandas.get_option(key)
            except Exception:  # noqa: BLE001 - broken options are skipped
                continue
            if value != option.defval or key in _PANDAS_ENVIRONMENT_OPTIONS:
                changed[key] = value
    return changed or None


def _restore_pandas(changed):
    import pandas

    for key, value in changed.items():
        try:
            pandas.set_option(key, value)
        except Exception:  # noqa: BLE001 - an option this pandas does not know
            pass


# --- numpy --------------------------------------------------------------------------------------

_NUMPY_PRINT_DEFAULTS = {"edgeitems": 3, "threshold": 1000, "floatmode": "maxprec", "precision": 8,
                         "suppress": False, "linewidth": 75, "nanstr": "nan", "infstr": "inf",
                         "sign": "-", "formatter": None, "legacy": False, "override_repr": None}
_NUMPY_ERR_DEFAULTS = {"divide": "warn", "over": "warn", "under": "ignore", "invalid": "warn"}


def _read_numpy(modules):
    import numpy

    printoptions, errstate = numpy.get_printoptions(), numpy.geterr()
    changed = any(printoptions.get(k, v) != v for k, v in _NUMPY_PRINT_DEFAULTS.items())
    if not changed and errstate == _NUMPY_ERR_DEFAULTS:
        return None
    return {"printoptions": printoptions, "errstate": errstate}


def _restore_numpy(state):
    import numpy

    numpy.set_printoptions(**_accepted(numpy.set_printoptions, state["printoptions"]))
    numpy.seterr(**state["errstate"])


def _read_numpy_random(modules):
    import numpy.random

    return numpy.random.get_state()


def _restore_numpy_random(state):
    import numpy.random

    numpy.random.set_state(state)


# --- the standard library -----------------------------------------------------------------------

# What a fresh interpreter starts with (IPython adds the first one again, as a compiled pattern).
_DEFAULT_FILTERS = {
    ("default", None, "DeprecationWarning", "__main__", 0),
    ("ignore", None, "DeprecationWarning", None, 0),
    ("ignore", None, "PendingDeprecationWarning", None, 0),
    ("ignore", None, "ImportWarning", None, 0),
    ("ignore", None, "ResourceWarning", None, 0),
}


def _filter_key(item):
    action, message, category, module, lineno = item
    pattern = lambda p: getattr(p, "pattern", p) or None  # noqa: E731
    return (action, pattern(message), category.__name__, pattern(module), lineno)


# Filters that libraries add when they are imported (numpy's, and what scipy, statsmodels and
# IPython add; pandas, scikit-learn, matplotlib bring numpy's): not the notebook's settings, since
# the job's own import of the library adds them again. Left out of the capture, so that a library
# imported in the kernel between two runs (reading run.metrics imports pandas) leaves the bundle,
# and so a --cache key, as it was. The job keeps the ones its imports added (_restore_warnings).
_IMPORT_TIME_FILTERS = {
    ("ignore", "numpy.ndarray size changed", "builtins.Warning", None, 0),
    ("ignore", "numpy.ufunc size changed", "builtins.Warning", None, 0),
    ("ignore", "numpy.dtype size changed", "builtins.Warning", None, 0),
    ("ignore", "the matrix subclass is not the recommended way", "builtins.Warning", None, 0),
    ("always", None, "numpy.exceptions.RankWarning", None, 0),
    ("always", None, "numpy.RankWarning", None, 0),  # numpy < 1.25
    ("always", None, "scipy.special._sf_error.SpecialFunctionWarning", None, 0),
    ("error", None, "IPython.core.completer.ProvisionalCompleterWarning", None, 0),
    *(("always", None, "statsmodels.tools.sm_exceptions." + name, None, 0)
      for name in ("InvalidTestWarning", "IterationLimitWarning", "CacheWriteWarning",
                   "ConvergenceWarning", "ModelWarning")),
}


def _import_time(item):
    action, message, category, module, lineno = item
    pattern = lambda p: getattr(p, "pattern", p) or None  # noqa: E731
    name = "%s.%s" % (category.__module__, category.__qualname__)
    return (action, pattern(message), name, pattern(module), lineno) in _IMPORT_TIME_FILTERS


def _read_warnings(modules):
    # a filter for a category the job cannot import (a test runner's own) is left out
    filters = [item for item in warnings.filters
               if (item[2].__module__.split(".")[0] in modules
                   or item[2].__module__ in ("builtins", "__main__"))
               and not _import_time(item)]
    if {_filter_key(item) for item in filters} <= _DEFAULT_FILTERS:
        return None
    return filters


def _encode_warnings(filters):
    out = []
    for action, message, category, module, lineno in filters:
        out.append([action, getattr(message, "pattern", message), category.__module__,
                    category.__qualname__, getattr(module, "pattern", module), lineno])
    return out


def _decode_warnings(data):
    filters = []
    for action, message, category_module, category_name, module, lineno in data:
        try:
            category = importlib.import_module(category_module)
            for part in category_name.split("."):
                category = getattr(category, part)
        except (ImportError, AttributeError):
            continue  # a category this job cannot import: that filter cannot match anything here
        filters.append((action, re.compile(message, re.I) if message is not None else None,
                        category, re.compile(module) if module is not None else None, lineno))
    return filters


def _restore_warnings(filters):
    # the notebook's filters first, then those the job's imports added so far (numpy's, ...):
    # a library imported later puts its own in front, as it did in the kernel
    added = [item for item in warnings.filters if _import_time(item) and item not in filters]
    warnings.filters[:] = list(filters) + added
    mutated = getattr(warnings, "_filters_mutated", None)
    if mutated is not None:  # caches of "already shown" must see the new filters
        mutated()


def _read_decimal(modules):
    context = decimal.getcontext()
    return None if _same_context(context, decimal.DefaultContext) else context.copy()


def _same_context(a, b):
    return (a.prec, a.rounding, a.Emin, a.Emax, a.capitals, a.clamp,
            {k: v for k, v in a.traps.items()}) == (b.prec, b.rounding, b.Emin, b.Emax, b.capitals,
                                                    b.clamp, {k: v for k, v in b.traps.items()})


def _restore_decimal(context):
    decimal.setcontext(context)


def _read_random(modules):
    import random

    return random.getstate()


def _restore_random(state):
    import random

    random.setstate(state)


# --- matplotlib ---------------------------------------------------------------------------------

_RC_KEPT_OUT = ("backend", "interactive")  # the kernel's inline backend does not exist in a job


def _read_matplotlib(modules):
    import matplotlib

    defaults = matplotlib.rcParamsDefault
    changed = {}
    for key, value in matplotlib.rcParams.items():
        if key in _RC_KEPT_OUT or key not in defaults:
            continue
        try:
            differs = bool(value != defaults[key])
        except Exception:  # noqa: BLE001 - values that cannot compare are carried
            differs = True
        if differs:
            changed[key] = value
    return changed or None


def _restore_matplotlib(changed):
    import matplotlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, value in changed.items():
            try:
                matplotlib.rcParams[key] = value
            except Exception:  # noqa: BLE001 - a key this matplotlib does not know
                pass


SETTINGS = (
    LibrarySetting("warnings filters", None, _read_warnings, _restore_warnings,
                   encode=_encode_warnings, decode=_decode_warnings),
    LibrarySetting("decimal context", "decimal", _read_decimal, _restore_decimal),
    LibrarySetting("scikit-learn config", "sklearn", _read_sklearn, _restore_sklearn),
    LibrarySetting("pandas options", "pandas", _read_pandas, _restore_pandas),
    LibrarySetting("numpy print options and error state", "numpy", _read_numpy, _restore_numpy),
    LibrarySetting("matplotlib rcParams", "matplotlib", _read_matplotlib, _restore_matplotlib),
    LibrarySetting("random global state", "random", _read_random, _restore_random,
                   random_state=True),
    LibrarySetting("numpy.random global state", "numpy", _read_numpy_random, _restore_numpy_random,
                   random_state=True),
)


def restore_settings(snapshots, encoded=()):
    """Restore ``[(name, snapshot), ...]`` (from the pickle) and ``[[name, data], ...]`` (from
    the manifest, see :func:`encode_setting`) in table order.

    A library missing in the job, or a value it refuses, is skipped and said on stderr.
    """
    order = {entry.name: index for index, entry in enumerate(SETTINGS)}
    by_name = {entry.name: entry for entry in SETTINGS}
    every = [(name, snapshot, False) for name, snapshot in snapshots]
    every += [(name, data, True) for name, data in encoded]
    for name, snapshot, is_data in sorted(every, key=lambda item: order.get(item[0], len(order))):
        entry = by_name.get(name)
        if entry is None:
            continue
        try:
            if is_data:
                snapshot = entry.decode(snapshot) if entry.decode is not None else snapshot
            entry.restore(snapshot)
        except Exception as exc:  # noqa: BLE001 - one setting must not stop the run
            sys.stderr.write("fairing: could not restore the %s: %s: %s\n"
                             % (name, type(exc).__name__, exc))
