"""LineSplitter and Terminal: the one place raw program output becomes lines (local pipe, container
logs), as a terminal would show them; and the runtime's LiveStream, which must not change that."""

import io
import random

from fairing_magics.backends.lines import LineSplitter, Terminal
from fairing_magics.runtime.live import LiveStream, _LineState, stage_marker, write_markers


def test_characters_and_lines_split_across_reads_stay_whole():
    data = "é line one\r\nsecond 漢字\nthird without newline".encode()
    for cut in range(1, len(data)):  # every split point, including inside multi-byte characters
        splitter = LineSplitter()
        lines = splitter.feed(data[:cut]) + splitter.feed(data[cut:]) + splitter.close()
        assert lines == ("é line one", "second 漢字", "third without newline"), cut


def test_undecodable_bytes_become_replacement_characters_and_close_empties():
    splitter = LineSplitter()
    assert splitter.feed(b"ok\n\xff\xfe bad\n") == ("ok", "\ufffd\ufffd bad")
    assert splitter.feed(b"") == ()
    assert splitter.close() == ()
    assert (splitter.feed(b"partial") == () and splitter.close() == ("partial",)
            and splitter.close() == ())


# -- the terminal: what a person would see ----------------------------------------------------


def test_a_redrawn_line_is_live_with_its_newest_frame_and_finishes_with_its_last():
    t = Terminal()
    assert t.feed("start\n\r 10%|#   |") == ("start",)
    assert t.live() == (" 10%|#   |",)
    assert t.feed("\r 50%|##  |") == () and t.live() == (" 50%|##  |",)
    assert t.feed("\r100%|####|\nnext\n") == ()  # a redrawn row stays live for a few rows
    assert t.feed("a\nb\n") == ("100%|####|", "next", "a", "b")  # now 4 rows above: finished
    assert t.close() == ()


def test_colours_are_kept_as_sgr_runs_and_other_escapes_are_obeyed_never_passed_on():
    t = Terminal()
    assert t.feed("\x1b[1;31mred\x1b[0m and \x1b[32mgreen\x1b[39m\n") == (
        "\x1b[1;31mred\x1b[0m and \x1b[32mgreen\x1b[0m",)
    assert t.feed("abcdef\x1b[3D\x1b[K!\x1b[?25l\x07\n") == ()  # cursor back 3, erase to the end
    assert t.close() == ("abc!",)
    t = Terminal()
    assert t.feed("xy\bZ\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\n") == ()
    assert t.close() == ("xZlink",)  # \b overwrote y; a hyperlink's OSC is dropped, its text kept


def test_nested_bars_redrawn_with_cursor_up_stay_live_and_finish_once():
    t = Terminal()
    t.feed("\r outer 0%")
    t.feed("\n\r inner 0%\x1b[A")
    assert t.live() == (" outer 0%", " inner 0%")
    t.feed("\r outer 50%\n\r inner 70%\x1b[A")
    assert t.live() == (" outer 50%", " inner 70%")
    assert t.feed("\n\ndone\n") == (" outer 50%",)  # beyond the one row ever moved up over
    assert t.close() == (" inner 70%", "done")


def test_an_escape_sequence_split_across_reads_waits_for_its_end():
    t = Terminal()
    t.feed("abc\x1b[")
    t.feed("2")
    t.feed("Kxyz\x1b")
    t.feed("[31mred\n")
    assert t.close() == ("   xyz\x1b[31mred\x1b[0m",)  # ESC[2K blanks the row; the cursor stays


def test_runtime_markers_are_taken_aside():
    t = Terminal()
    assert t.feed("a" + stage_marker("upload", "running") + "b\n") == ("ab",)
    assert t.take_markers() == ["stage=upload;state=running"] and t.take_markers() == []


def _through_a_line_log(text: str) -> tuple[list[str], tuple[str, ...]]:
    """What a container runtime passes on (whole lines only) fed to a terminal: the finished
    lines and the live rows after each line."""
    t = Terminal()
    seen, finished = [], []
    for line in text.split("\n")[:-1]:  # not splitlines(): it cuts at \r too
        line += "\n"
        if line:
            finished.extend(t.feed(line))
            seen.append(t.live())
    return seen, finished + list(t.close())


def test_live_stream_makes_each_frame_reach_a_line_based_log_at_once():
    out = io.StringIO()
    stream = LiveStream(out, _LineState())
    stream.write("Epoch 1/1\n")
    for step in range(1, 4):
        stream.write(f"\r{step}/3 [{'=' * step}]")
        stream.flush()
    stream.write("\n")
    stream.write("done\n")
    seen, finished = _through_a_line_log(out.getvalue())
    # each frame, at once
    assert [rows[-1] for rows in seen[1:4]] == ["1/3 [=]", "2/3 [==]", "3/3 [===]"]
    assert finished == ["Epoch 1/1", "3/3 [===]", "done"]


def test_live_stream_shows_the_same_screen_as_the_raw_output():
    writes = ["plain\n", "\rbar 10%", "\rbar 20%", "\n", "a", "b\n", "\r\x1b[Kmsg\n", "\rbar 90%",
              "\x1b[31mred\x1b[0m\n", "\b\bxy", "tail", "\n", "end"]
    rng = random.Random(7)
    for _ in range(200):
        chosen = [rng.choice(writes) for _ in range(rng.randrange(1, 25))]
        raw, live = Terminal(), Terminal()
        out = io.StringIO()
        stream = LiveStream(out, _LineState())
        finished_raw = []
        for text in chosen:
            finished_raw.extend(raw.feed(text))
            stream.write(text)
            if rng.random() < 0.3:
                stream.flush()
        finished_raw.extend(raw.close())
        finished_live = list(live.feed(out.getvalue())) + list(live.close())
        assert finished_live == finished_raw, chosen


def test_marker_lines_leave_no_empty_line_and_never_break_an_open_line():
    t = Terminal()
    out = io.StringIO()
    stream = LiveStream(out, _LineState())
    stream.write("epoch 1")  # an open line, then a display's markers, then the rest of the line
    write_markers(["display=1.1;part=1;of=2;data=QUJD", "display=1.1;part=2;of=2;data=REVG"],
                  stream)
    stream.write(" loss=0.5\n")
    write_markers(["stage=upload;state=running"], stream)
    stream.write("done\n")
    assert list(t.feed(out.getvalue())) + list(t.close()) == ["epoch 1 loss=0.5", "done"]
    assert t.take_markers() == ["display=1.1;part=1;of=2;data=QUJD",
                                "display=1.1;part=2;of=2;data=REVG", "stage=upload;state=running"]


def test_markers_between_any_writes_leave_the_screen_as_the_raw_output():
    writes = ["plain\n", "\rbar 10%", "\rbar 20%", "\n", "a", "b\n", "\r\x1b[Kmsg\n", "\rbar 90%",
              "\x1b[31mred\x1b[0m\n", "tail", "\n", "end", None]  # None: a display's markers
    rng = random.Random(11)
    for _ in range(200):
        chosen = [rng.choice(writes) for _ in range(rng.randrange(1, 25))]
        raw, live = Terminal(), Terminal()
        out = io.StringIO()
        stream = LiveStream(out, _LineState())
        finished_raw = []
        for text in chosen:
            if text is None:
                write_markers(["display=9.1;part=1;of=1;data=eJw="], stream)
                continue
            finished_raw.extend(raw.feed(text))
            stream.write(text)
        finished_raw.extend(raw.close())
        data = out.getvalue()
        cut = rng.randrange(len(data) + 1)  # and read in two pieces, anywhere
        finished_live = (list(live.feed(data[:cut])) + list(live.feed(data[cut:]))
                         + list(live.close()))
        assert finished_live == finished_raw, chosen
        assert len(live.take_markers()) == chosen.count(None)


def test_live_stream_leaves_the_last_open_line_as_it_is_once_the_program_ends():
    """A flush while the program runs ends an open line (the log shows it at once); the end of
    the program does not: what follows it is nothing, and the output must end as in the kernel."""
    from fairing_magics.runtime import live

    out = io.StringIO()
    stream = LiveStream(out, _LineState())
    stream.write("0 1 ")
    stream.flush()
    assert out.getvalue() == "0 1 \x1b7\n"  # while running: the partial line reaches the log
    stream.write("2 3 ")
    saved = dict(live._streams)
    live._streams.clear()
    live._streams["stdout"] = stream
    try:
        live.finish()
        stream.flush()  # the interpreter's own flush at exit
    finally:
        live._streams.clear()
        live._streams.update(saved)
    assert out.getvalue() == "0 1 \x1b7\n\x1b82 3 "
    terminal = Terminal()  # the stream has closed: the runtime passes the partial line on too
    # one row, as on a screen
    assert [*terminal.feed(out.getvalue()), *terminal.close()] == ["0 1 2 3"]
