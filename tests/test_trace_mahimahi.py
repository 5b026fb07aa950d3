"""Mahimahi trace parsing: mm-link's validation rules, with file and line in every error."""
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netkit.trace import Trace, TraceError, parse_mahimahi, read_mahimahi, write_mahimahi
from netkit.trace.locate import lte_dir

SHARED = lte_dir() or Path("no-shared-traces")  # NETKIT_TRACES, else ../shared/traces


def test_parses_timestamps_and_allows_final_newline():
    tr = parse_mahimahi("1\n1\n3\n5\n")
    assert tr.timestamps == (1, 1, 3, 5)
    assert tr.period_ms == 5


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("1\n\n3\n", ":2: invalid empty line"),
        ("1\n2\n\n", ":3: invalid empty line"),  # a blank line at the end is an empty line too
        ("5\n3\n", ":2: timestamps must be monotonically nondecreasing"),
        ("", "no valid timestamps"),
        ("0\n0\n", "nonzero amount of time"),
        ("1\nabc\n", ":2: expected a millisecond timestamp"),
        ("1\n-4\n", ":2: timestamp must be non-negative"),
    ],
)
def test_rejects_what_mm_link_rejects(tmp_path, text, fragment):
    f = tmp_path / "bad.trace"
    f.write_text(text)
    with pytest.raises(TraceError) as err:
        read_mahimahi(f)
    assert str(f) in str(err.value)
    assert fragment in str(err.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(TraceError, match="no such trace file"):
        read_mahimahi(tmp_path / "absent.trace")


def test_write_then_read_round_trip(tmp_path):
    tr = Trace((0, 2, 2, 7, 9))
    write_mahimahi(tr, tmp_path / "t.trace")
    assert read_mahimahi(tmp_path / "t.trace").timestamps == tr.timestamps
    assert not list(tmp_path.glob(".*tmp"))


def test_opportunity_times_loop_with_base_advancing_by_last_timestamp():
    tr = Trace((0, 4, 10))
    # loop 0: 0, 4, 10; loop 1: base 10 -> 10, 14, 20; loop 2: 20, 24, 30
    assert [tr.opportunity_ms(k) for k in range(9)] == [0, 4, 10, 10, 14, 20, 20, 24, 30]
    assert tr.first_opportunity_after(10) == 4  # the next one after 10 ms is 14 ms
    assert tr.first_opportunity_after(-1) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=25).map(sorted).filter(lambda t: t[-1] > 1),
       st.integers(1, 10_000))
def test_a_trace_entered_later_is_the_same_schedule_shifted(stamps, start_pick):
    tr = Trace(tuple(stamps))
    start = 1 + start_pick % (tr.period_ms - 1)
    later = tr.starting_at(start)
    # the original's opportunities after `start`, shifted back, for as long as the entered loop's first pass lasts
    original = [tr.opportunity_ms(k) - start for k in range(4 * len(tr)) if tr.opportunity_ms(k) > start]
    first_pass = [later.opportunity_ms(k) for k in range(len(later))]
    assert first_pass == original[:len(later)]
    assert len(later) == len(tr) and 0 < later.period_ms <= tr.period_ms
    assert tr.starting_at(0) is tr


def test_a_start_outside_the_trace_is_refused():
    with pytest.raises(ValueError, match="outside the trace's 10 ms"):
        Trace((0, 4, 10)).starting_at(10)


@pytest.mark.skipif(not SHARED.exists(), reason="shared traces not present")
def test_real_lte_trace_loads():
    tr = read_mahimahi(SHARED / "Verizon-LTE-short.down")
    assert len(tr) > 10000 and 3 < tr.mean_mbps < 8
