"""LineSplitter: the one place raw program output becomes lines (local pipe, container logs)."""

from fairing_magics.backends.lines import LineSplitter


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
    assert splitter.feed(b"partial") == () and splitter.close() == ("partial",) and splitter.close() == ()
