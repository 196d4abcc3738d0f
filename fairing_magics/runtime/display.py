"""Rich outputs of a run: what ``display()`` shows, the cell's final value, matplotlib figures.

Shipped in every bundle as ``fairing_display.py`` and used by the bootstrap; the standard library
only (IPython, matplotlib and cloudpickle are used when the run has them). In the kernel the same
file is the one definition of the wire format (:func:`decode_message`).

The run shows things as IPython would:

- :func:`display` (the builtin ``display`` of the run, and IPython's own
  ``IPython.display.display``, pointed here when IPython is imported) turns each object into a
  mime bundle: with IPython's ``DisplayFormatter`` when IPython is installed in the run, else with
  the object's ``_repr_mimebundle_``, ``_repr_html_``, ``_repr_png_``, ``_repr_markdown_``, ...
  methods and ``repr``. ``display_id=True`` returns a handle whose ``update(obj)`` replaces the
  shown object (a training curve redrawn in place).
- The cell's final expression (:func:`compile_cell`, :func:`show_result`) is shown unless it is
  None or the cell ends with ``;``; its value is pickled to ``result.pkl`` (``run.result`` in the
  kernel) when it pickles and is under ``FAIRING_RESULT_LIMIT`` bytes.
- matplotlib draws on the Agg canvas, forced (``MPLBACKEND=agg`` for child processes, the backend
  ``module://fairing_display_mpl`` in this one): each ``plt.show()`` shows every open figure as
  PNG (``FAIRING_FIGURE_FORMATS=svg`` or ``png,svg`` for SVG) and closes them, and
  :func:`flush_figures` shows those still open when the cell ends. pandas' ``.plot`` and seaborn
  draw through pyplot, so their figures come along.

**Where they go.** With ``FAIRING_DISPLAYS=stream`` (the kernel sets it for every run, on every
backend) each display is one message (JSON, zlib, base64) cut into invisible markers on stdout,
``ESC]fairing;display=ID;part=I;of=N;data=... BEL``, each under :data:`CHUNK` characters so that
no log driver splits one. They are written with the framing of the live progress frames
(``fairing_live.write_markers``), so they reach the kernel through the log stream of every
backend, in order and while the run goes on. Run by hand (nobody reads markers) a display prints
its text, a figure is saved under ``$FAIRING_OUTPUT_DIR/displays/`` and the final value is kept
as ``result.pkl``; these two print nothing (a kernel's stdout does not have them either).

**Caps.** ``FAIRING_DISPLAY_LIMIT`` bytes per display, ``FAIRING_DISPLAYS_LIMIT`` per run: what is
over is left out and a notice (``ESC]fairing;notice=...``) says so.

**Replicas.** Only a replica that :func:`install` lets send shows anything (the chief or rank 0,
or every replica with ``--outputs-from all``); the others draw with Agg and send nothing.
"""

import ast
import base64
import builtins
import importlib.abc
import importlib.util
import io
import json
import os
import sys
import threading
import time
import tokenize
import weakref
import zlib

DISPLAYS_ENV = "FAIRING_DISPLAYS"
STREAM = "stream"
CHUNK = 3000  # base64 characters per marker: a marker line stays far below 16 KiB (log drivers)
DISPLAY_LIMIT = 4 * 2**20  # bytes of one display (its mime data as sent)
DISPLAYS_LIMIT = 32 * 2**20  # bytes of every display of a run
RESULT_LIMIT = 16 * 2**20  # bytes of the pickled final value
FIGURE_FORMATS = ("png",)
KNOWN_FIGURE_FORMATS = ("png", "svg")
BACKEND_MODULE = "fairing_display_mpl"
RESULT_FILE = "result.pkl"
DISPLAYS_DIR = "displays"
BINARY_TYPES = frozenset({"image/png", "image/jpeg", "application/pdf"})  # base64 text in a bundle
_REPR_METHODS = (
    ("text/html", "_repr_html_"), ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"), ("image/png", "_repr_png_"), ("image/jpeg", "_repr_jpeg_"),
    ("text/latex", "_repr_latex_"), ("application/json", "_repr_json_"),
    ("application/javascript", "_repr_javascript_"), ("application/pdf", "_repr_pdf_"),
)
_FUTURE_FLAGS = 0
for _name in ("nested_scopes", "generators", "division", "absolute_import", "with_statement",
              "print_function", "unicode_literals", "barry_as_FLUFL", "generator_stop",
              "annotations"):
    _FUTURE_FLAGS |= getattr(__import__("__future__"), _name).compiler_flag


# -- the wire format (the runtime writes it, the kernel reads it) ----------------------------------


def encode_message(message):
    """``message`` (a dict: kind, data, metadata, ...) as the base64 text the markers carry."""
    blob = zlib.compress(json.dumps(message, separators=(",", ":")).encode("utf-8"), 6)
    return base64.b64encode(blob).decode("ascii")


def decode_message(text):
    """The message of :func:`encode_message`'s ``text`` (raises ValueError when it is damaged)."""
    try:
        return json.loads(zlib.decompress(base64.b64decode(text, validate=True)).decode("utf-8"))
    except (ValueError, zlib.error, UnicodeDecodeError) as exc:
        raise ValueError("a damaged display message: %s" % exc) from None


def message_markers(display_id, text):
    """The marker payloads (without ``ESC]fairing;`` and BEL) that carry ``text`` in parts."""
    count = max(1, -(-len(text) // CHUNK))
    return ["display=%s;part=%d;of=%d;data=%s" % (display_id, index + 1, count,
                                                  text[index * CHUNK:(index + 1) * CHUNK])
            for index in range(count)]


def notice_marker(text, level="warning"):
    """A marker payload that the kernel shows as a notice of the run."""
    from urllib.parse import quote

    return "notice=%s;level=%s" % (quote(text, safe=" ,.:()'/%-_=+"), level)


def bundle_size(data):
    """The bytes a mime bundle's data take (base64 text counted as sent)."""
    total = 0
    for value in data.values():
        if isinstance(value, str):
            total += len(value.encode("utf-8"))
        else:
            total += len(json.dumps(value, separators=(",", ":")))
    return total


def human_size(size):
    """``size`` bytes for people, in the units of the caps (``%config ..._mb`` are MiB)."""
    for unit in ("bytes", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return ("%d %s" % (size, unit)) if unit == "bytes" else ("%.1f %s" % (size, unit))
        size /= 1024.0
    return "%d bytes" % size  # pragma: no cover


# -- formatting: object -> mime bundle -------------------------------------------------------------


def _method(obj, name):
    """``obj``'s ``name`` method as IPython finds it: not on classes, never from an object that
    makes up every attribute (a mock), only when callable."""
    if isinstance(obj, type):
        return None
    try:
        if getattr(obj, "_ipython_canary_method_should_not_exist_", None) is not None:
            return None
        method = getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - a broken __getattr__: no such representation
        return None
    return method if callable(method) else None


def _warn(what, exc):
    sys.stderr.write("fairing: %s failed: %s: %s\n" % (what, type(exc).__name__, exc))


def plain_format(obj, include=None, exclude=None):
    """``(data, metadata)`` of ``obj`` without IPython: ``_repr_mimebundle_``, then each
    ``_repr_*_`` method, then ``repr`` as ``text/plain``."""
    data, metadata = {}, {}
    bundle = _method(obj, "_repr_mimebundle_")
    if bundle is not None:
        try:
            found = bundle(include=include, exclude=exclude)
        except Exception as exc:  # noqa: BLE001 - a broken form is left out, as IPython does
            _warn("%s._repr_mimebundle_()" % type(obj).__name__, exc)
            found = None
        if isinstance(found, tuple) and len(found) == 2:
            found, more = found
            metadata.update(more or {})
        if isinstance(found, dict):
            data.update(found)
    for mime, name in _REPR_METHODS:
        method = None if mime in data else _method(obj, name)
        if method is None:
            continue
        try:
            value = method()
        except Exception as exc:  # noqa: BLE001
            _warn("%s.%s()" % (type(obj).__name__, name), exc)
            continue
        if isinstance(value, tuple) and len(value) == 2:
            value, more = value
            if more:
                metadata[mime] = more
        if value is None:
            continue
        if mime in BINARY_TYPES and isinstance(value, (bytes, bytearray)):
            value = base64.b64encode(bytes(value)).decode("ascii")
        elif isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        data[mime] = value
    if "text/plain" not in data:
        try:
            data["text/plain"] = repr(obj)
        except Exception as exc:  # noqa: BLE001
            data["text/plain"] = "<%s object (repr failed: %s)>" % (type(obj).__name__, exc)
    for key in data:
        if isinstance(data[key], bytes):
            data[key] = base64.b64encode(data[key]).decode("ascii")
    if include:
        data = {k: v for k, v in data.items() if k in include}
    if exclude:
        data = {k: v for k, v in data.items() if k not in exclude}
    return data, metadata


def _ipython_format(obj, include=None, exclude=None):
    """IPython's own ``DisplayFormatter`` (its printers, ``_ipython_display_``, pretty text)."""
    formatter = _state.ipython_formatter()
    data, metadata = formatter.format(obj, include=include, exclude=exclude)
    return dict(data), dict(metadata)


def _is_figure(obj):
    module = sys.modules.get("matplotlib.figure")
    return module is not None and isinstance(obj, module.Figure)


def figure_bundle(fig, formats=None):
    """``(data, metadata)`` of a matplotlib figure: PNG (and/or SVG) as the inline backend makes
    them (tight bounding box), its repr as ``text/plain``."""
    data = {"text/plain": repr(fig)}
    for fmt in formats or (_state.formats if _state else FIGURE_FORMATS):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, bbox_inches="tight")
        if fmt == "png":
            data["image/png"] = base64.b64encode(buffer.getvalue()).decode("ascii")
        else:
            data["image/svg+xml"] = buffer.getvalue().decode("utf-8")
    fig.stale = False  # drawn as it is now: a change from here on marks it stale again
    return data, {}


def format_object(obj, include=None, exclude=None):
    """``(data, metadata)`` of ``obj``: a figure as an image, else IPython's formatter when the run
    has IPython, else :func:`plain_format`."""
    if _is_figure(obj):
        return figure_bundle(obj)
    if _state is not None and _state.has_ipython():
        return _ipython_format(obj, include, exclude)
    ipython_display = _method(obj, "_ipython_display_")
    if ipython_display is not None:
        try:
            ipython_display()
            return {}, {}
        except ImportError:
            pass  # it wants IPython, which this run does not have: its other forms then
    return plain_format(obj, include, exclude)


# -- sending ---------------------------------------------------------------------------------


class _State:
    """What :func:`install` set up: where displays go, the caps, and what was sent."""

    def __init__(self, output_dir, send, environ):
        self.output_dir = output_dir
        self.send = send
        self.stream = environ.get(DISPLAYS_ENV, "") == STREAM
        self.display_limit = _int(environ.get("FAIRING_DISPLAY_LIMIT"), DISPLAY_LIMIT)
        self.displays_limit = _int(environ.get("FAIRING_DISPLAYS_LIMIT"), DISPLAYS_LIMIT)
        self.result_limit = _int(environ.get("FAIRING_RESULT_LIMIT"), RESULT_LIMIT)
        formats = [f.strip().lower() for f in environ.get("FAIRING_FIGURE_FORMATS", "").split(",")]
        self.formats = tuple(f for f in formats if f in KNOWN_FIGURE_FORMATS) or FIGURE_FORMATS
        self.lock = threading.Lock()
        self.count = 0
        self.printed = 0
        self.sent = 0
        self.over_run_cap = False
        self.shown_figures = weakref.WeakSet()
        self._ipython = None
        self._formatter = None

    def next_id(self):
        with self.lock:
            self.count += 1
            return "%d.%d" % (os.getpid(), self.count)

    def has_ipython(self):
        if self._ipython is None:
            try:
                self._ipython = importlib.util.find_spec("IPython") is not None
            except (ImportError, ValueError):
                self._ipython = False
        return self._ipython

    def ipython_formatter(self):
        if self._formatter is None:
            from IPython.core.formatters import DisplayFormatter

            self._formatter = DisplayFormatter()
        return self._formatter


_state = None


def _int(text, default):
    try:
        return int(text) if text else default
    except ValueError:
        return default


def _write_markers(payloads):
    live = sys.modules.get("fairing_live")
    if live is not None:
        live.write_markers(payloads)
        return
    stream = sys.stdout
    stream.write("".join("\x1b]fairing;%s\x07\n" % payload for payload in payloads))
    stream.flush()


def _notice(text):
    if _state is not None and _state.stream:
        _write_markers([notice_marker(text)])
    else:
        sys.stderr.write("fairing: %s\n" % text)


def _describe(kind, data):
    what = {"figure": "figure", "result": "cell value"}.get(kind, "display")
    types = [k for k in data if k != "text/plain"] or ["text/plain"]
    return "%s (%s)" % (what, ", ".join(types))


def send(kind, data, metadata=None, display_id="", update=False):
    """Send one display (``kind``: ``display``, ``figure`` or ``result``) to the kernel, or print
    it when nobody reads the stream; over a cap it is left out with a notice. False if not sent."""
    state = _state
    if state is None or not state.send or not data:
        return False
    size = bundle_size(data)
    if size > state.display_limit:
        _notice("a %s of %s was left out: over the cap of %s per display (raise it with "
                "%%config FairingMagics.display_limit_mb)"
                % (_describe(kind, data), human_size(size), human_size(state.display_limit)))
        return False
    with state.lock:
        if state.sent + size > state.displays_limit:
            first = not state.over_run_cap
            state.over_run_cap = True
        else:
            state.sent += size
            first = None
    if first is not None:
        if first:
            _notice("displays over the run's cap of %s are left out from here on (raise it with "
                    "%%config FairingMagics.displays_limit_mb)" % human_size(state.displays_limit))
        return False
    message = {"kind": kind, "data": data, "metadata": dict(metadata or {}), "time": time.time()}
    if display_id:
        message["display_id"] = str(display_id)
        if update:
            message["update"] = True
    if state.stream:
        _write_markers(message_markers(state.next_id(), encode_message(message)))
    else:
        _print_display(state, kind, data)
    return True


def _print_display(state, kind, data):
    """A run by hand: a display prints its text (as the capture's tests compare it with the
    kernel's); a figure is saved to the output folder and the final value kept as
    ``result.pkl``, both silently, as a kernel's stdout has neither."""
    if kind == "result":
        return
    image = next((m for m in ("image/png", "image/svg+xml", "image/jpeg") if m in data), None)
    if image is not None and state.output_dir:
        folder = os.path.join(state.output_dir, DISPLAYS_DIR)
        os.makedirs(folder, exist_ok=True)
        with state.lock:
            state.printed += 1
            number = state.printed
        extension = {"image/png": "png", "image/jpeg": "jpg"}.get(image, "svg")
        path = os.path.join(folder, "%03d.%s" % (number, extension))
        body = data[image]
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(body) if image in BINARY_TYPES else body.encode("utf-8"))
        return
    print(data.get("text/plain", ""))


class DisplayHandle:
    """What ``display(obj, display_id=True)`` returns: ``update(obj)`` replaces what it showed."""

    def __init__(self, display_id):
        self.display_id = display_id

    def __repr__(self):
        return "<DisplayHandle display_id=%s>" % self.display_id

    def display(self, obj, **kwargs):
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj, **kwargs):
        display(obj, display_id=self.display_id, update=True, **kwargs)


def display(*objs, include=None, exclude=None, metadata=None, transient=None, display_id=None,
            raw=False, clear=False, update=False, **kwargs):
    """Show each object in the notebook the run came from, as IPython's ``display()`` does
    (``raw=True``: the objects are mime bundles already). With ``display_id`` (``True`` for a new
    one) it returns a handle whose ``update(obj)`` replaces the shown object in place."""
    if display_id is True:
        display_id = "d%s" % (_state.next_id() if _state else "0")
    for obj in objs:
        if _state is None or not _state.send:
            break
        try:
            if raw:
                data, md = dict(obj), dict(metadata or {})
            else:
                data, md = format_object(obj, include, exclude)
                if metadata:
                    md.update(metadata)
        except Exception as exc:  # noqa: BLE001 - a display never fails the cell
            _warn("display(%s)" % type(obj).__name__, exc)
            continue
        kind = "figure" if _is_figure(obj) else "display"
        send(kind, data, md, display_id or "", update)
        if kind == "figure":
            _state.shown_figures.add(obj)
    return DisplayHandle(display_id) if display_id else None


def publish_display_data(data, metadata=None, source=None, *, transient=None, **kwargs):
    """IPython's ``publish_display_data`` in a run: the bundle is sent as it is."""
    display(data, metadata=metadata, raw=True)


def update_display(obj, *, display_id, **kwargs):
    """IPython's ``update_display`` in a run."""
    display(obj, display_id=display_id, update=True, **kwargs)


# -- the cell's final value ------------------------------------------------------------------------


def _ends_quiet(source):
    """True when the last code of ``source`` is ``;`` (IPython shows no value then)."""
    last = ""
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                                  tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT):
                last = token.string
    except (tokenize.TokenError, SyntaxError):
        return False
    return last == ";"


def compile_cell(source, filename, flags=0):
    """``(body, final)``: the cell compiled without its final expression statement, and that
    expression compiled for ``eval`` (None when the cell does not end with one, or ends with
    ``;``). ``flags``: the ``__future__`` compiler flags in force. Line numbers are those of
    ``source``, so tracebacks point into it."""
    tree = compile(source, filename, "exec", flags=flags | ast.PyCF_ONLY_AST, dont_inherit=True)
    final = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not _ends_quiet(source):
        final = ast.Expression(tree.body.pop().value)
    body = compile(tree, filename, "exec", flags=flags, dont_inherit=True)
    if final is None:
        return body, None
    return body, compile(final, filename, "eval", flags=flags | (body.co_flags & _FUTURE_FLAGS),
                         dont_inherit=True)


class _CappedFile(io.RawIOBase):
    def __init__(self, fh, limit):
        self.fh, self.limit, self.size = fh, limit, 0

    def writable(self):
        return True

    def write(self, data):
        self.size += len(data)
        if self.size > self.limit:
            raise OverflowError("over the cap")
        return self.fh.write(data)


def show_result(value):
    """Show the cell's final value (unless None); keep it as ``result.pkl`` (``run.result``)."""
    if value is None or _state is None or not _state.send:
        return
    try:
        data, metadata = format_object(value)
    except Exception as exc:  # noqa: BLE001
        _warn("showing the cell's value", exc)
        data, metadata = {}, {}
    send("result", data, metadata)
    if _is_figure(value):
        _state.shown_figures.add(value)
    _keep_result(value)


def _keep_result(value):
    state = _state
    if not state.output_dir:
        return
    try:
        import cloudpickle as pickler
    except ImportError:
        import pickle as pickler
    path = os.path.join(state.output_dir, RESULT_FILE)
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as fh:
            pickler.dump(value, _CappedFile(fh, state.result_limit))
        os.replace(tmp, path)
    except OverflowError:
        _notice("run.result is None: the cell's value (%s) pickles to more than the cap of %s "
                "(raise it with %%config FairingMagics.result_limit_mb)"
                % (type(value).__name__, human_size(state.result_limit)))
    except Exception as exc:  # noqa: BLE001 - whatever stops the pickling: no run.result
        _notice("run.result is None: the cell's value (%s) cannot be pickled: %s: %s"
                % (type(value).__name__, type(exc).__name__, str(exc)[:200]))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# -- matplotlib ------------------------------------------------------------------------------------


def _show_figure(fig):
    if not (fig.axes or fig.lines):
        return  # an empty figure: the inline backend shows nothing either
    try:
        data, metadata = figure_bundle(fig)
    except Exception as exc:  # noqa: BLE001 - a figure that cannot be drawn stops no other
        _warn("drawing figure %s" % getattr(fig, "number", ""), exc)
        return
    send("figure", data, metadata)
    _state.shown_figures.add(fig)


def _open_figures():
    from matplotlib._pylab_helpers import Gcf

    return [manager.canvas.figure for manager in Gcf.get_all_fig_managers()]


def show(close=None, block=None):
    """``plt.show()`` in a run: every open figure is shown, then closed (as the inline backend)."""
    try:
        if _state is not None and _state.send:
            for fig in _open_figures():
                _show_figure(fig)
    finally:
        if close is not False:
            import matplotlib.pyplot

            matplotlib.pyplot.close("all")


def flush_figures():
    """The cell ended: show the figures still open (not those shown since their last change)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    try:
        if _state is not None and _state.send:
            for fig in _open_figures():
                if fig in _state.shown_figures and not fig.stale:
                    continue
                _show_figure(fig)
    finally:
        pyplot.close("all")


class _BackendLoader(importlib.abc.Loader):
    """Makes ``fairing_display_mpl``, the matplotlib backend of a run: the Agg canvas with
    :func:`show` (made only when matplotlib asks for it, so matplotlib is imported by then)."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from matplotlib.backend_bases import FigureManagerBase
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        module.FigureCanvas = FigureCanvasAgg
        module.FigureManager = FigureManagerBase
        module.show = show
        module.flush_figures = flush_figures
        module.__doc__ = "matplotlib in a fairing run: Agg, and plt.show() sends the figures."


def _use_backend(matplotlib):
    matplotlib.use("module://" + BACKEND_MODULE)


def _point_ipython_here(module):
    for name, value in (("display", display), ("publish_display_data", publish_display_data),
                        ("update_display", update_display)):
        if name in vars(module):  # defined there (not a deprecated alias: IPython 8 warns on those)
            setattr(module, name, value)


_AFTER_IMPORT = {
    "matplotlib": _use_backend,
    "IPython.core.display_functions": _point_ipython_here,  # IPython >= 7.23
    "IPython.core.display": _point_ipython_here,  # older IPython defines display() here
}


class _PatchingLoader(importlib.abc.Loader):
    """The module's own loader, then :data:`_AFTER_IMPORT`'s change once it has run."""

    def __init__(self, inner, patch):
        self.inner, self.patch = inner, patch

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self.inner
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self.inner
        self.inner.exec_module(module)
        self.patch(module)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class _ImportHook(importlib.abc.MetaPathFinder):
    """Provides the matplotlib backend and changes matplotlib and IPython as they are imported."""

    def find_spec(self, name, path, target=None):
        if name == BACKEND_MODULE:
            return importlib.util.spec_from_loader(name, _BackendLoader())
        patch = _AFTER_IMPORT.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, patch)
                return spec
        return None


def install(output_dir="", send=True, environ=None):
    """What the bootstrap calls before the cell runs: ``display`` as a builtin, matplotlib on
    Agg with :func:`show`, IPython's ``display`` pointed here. ``send``: this replica's displays
    go to the kernel (False: they are dropped)."""
    global _state
    environ = os.environ if environ is None else environ
    _state = _State(output_dir, send, environ)
    if output_dir and os.path.exists(os.path.join(output_dir, RESULT_FILE)):
        os.remove(os.path.join(output_dir, RESULT_FILE))  # an earlier run's value
    builtins.display = display
    os.environ["MPLBACKEND"] = "agg"  # child processes: Agg, never a GUI, never our module
    if not any(isinstance(finder, _ImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ImportHook())
    for name, patch in _AFTER_IMPORT.items():
        if name in sys.modules:
            patch(sys.modules[name])
