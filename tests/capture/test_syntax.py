"""IPython-only syntax becomes plain Python (or is dropped) with one note per change."""

from __future__ import annotations

import ast

import pytest

from fairing_magics.capture.syntax import to_python
from fairing_magics.errors import CaptureError


@pytest.mark.parametrize(
    "cell, expected, note",
    [
        ("%time x = f(1)\n", "x = f(1)\n", "without timing"),
        ("%timeit g()\n", "g()\n", "without timing"),
        ("%%time\nx = 1\nprint(x)\n", "x = 1\nprint(x)\n", "runs the cell body"),
        ("%%capture out\nprint(1)\n", "print(1)\n", "runs the cell body"),
        ("%matplotlib inline\nplot()\n", "pass\nplot()\n", "%matplotlib inline: dropped"),
        ("!pip install numpy\n", "pass\n", "--requirements"),
        ("%pip install numpy\n", "pass\n", "--requirements"),
        ("!ls -l\n", "__import__('subprocess').run('ls -l', shell=True)\n", "subprocess.run"),
        ("files = !ls\n", "files = __import__('subprocess').run('ls', shell=True, "
         "capture_output=True, text=True).stdout.splitlines()\n", "output lines"),
        ("%env A=1\n", "__import__('os').environ['A'] = '1'\n", "os.environ"),
        ("%cd /tmp\n", "__import__('os').chdir('/tmp')\n", "os.chdir"),
        ("here = %pwd\n", "here = __import__('os').getcwd()\n", "os.getcwd"),
        ("x?\n", "pass\n", "dropped"),
        ("def f():\n    !echo hi\n    return 1\n",
         "def f():\n    __import__('subprocess').run('echo hi', shell=True)\n    return 1\n",
         "subprocess.run"),
        ("%%bash\necho hi\n", "__import__('subprocess').run(['bash', '-c', 'echo hi\\n'])\n",
         "%%bash"),
        ("%%writefile out.txt\nhello\n",
         "print(('Overwriting ' if __import__('os').path.exists('out.txt') else 'Writing ') "
         "+ 'out.txt')\n"
         "open('out.txt', 'w', encoding='utf-8').write('hello\\n')\n", "%%writefile"),
    ],
)
def test_translations(cell, expected, note):
    python = to_python(cell)
    assert python.text == expected
    ast.parse(python.text)
    assert any(note in n for n in python.notes), python.notes


def test_plain_python_is_untouched():
    cell = "# a comment\nx = 1  # keep\nprint(f'{x}%')\n"
    python = to_python(cell)
    assert python.text == cell and python.notes == ()


def test_syntax_error_names_the_line():
    with pytest.raises(CaptureError, match="line 3"):
        to_python("x = 1\ny = 2\nprint(x +)\n")


def test_magic_value_without_translation_is_an_error():
    with pytest.raises(CaptureError, match="only exists inside IPython"):
        to_python("w = %who_ls\n")
