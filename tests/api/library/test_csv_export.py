"""GET /library.csv's rows, read back with the csv module: header, values, formula guard."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from api.jobs.store import JobStore
from api.library.csv_export import HEADER, csv_chunks, safe_cell
from api.settings import Settings
from tests.support.library_results import add_done_job, result_for


def test_rows_read_back_with_metrics_source_and_the_formula_guard(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3", Settings().analysis_options()).open()
    with_metrics = result_for(
        "m",
        said='=HYPERLINK("http://evil") buy now',
        shown="@everyone, look",
        source={"title": "+1 trick", "hashtags": ["food", "fyp"]},
    )
    with_metrics["metrics"] = {
        "cuts_per_minute": 20.0,
        "loudness_lufs": -14.5,
        "hook": {"words": "hi there", "text": "BIG", "cuts": 1},
    }
    add_done_job(store, "m", with_metrics, filename='a "quoted", name.mp4')
    add_done_job(store, "plain", result_for("plain"), now=1700000000.0)  # no metrics, no source
    chunks = list(csv_chunks(store.read, page_jobs=1))
    assert len(chunks) == 3  # header with the first job, the second, the empty last page
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert list(rows[0]) == list(HEADER)
    first, second = rows
    assert first["id"] == "m" and first["file_name_or_link"] == 'a "quoted", name.mp4'
    assert first["created"] == "1970-01-01T00:16:40Z"
    assert float(first["duration_s"]) == 6.0
    assert first["cuts_per_minute"] == "20.0" and first["loudness_lufs"] == "-14.5"  # a number
    assert (first["hook_words"], first["hook_text"], first["hook_cuts"]) == ("hi there", "BIG", "1")
    assert first["transcript"].startswith("'=HYPERLINK(")
    assert first["on_screen_text"] == "'@everyone, look"
    assert (first["source_title"], first["source_hashtags"]) == ("'+1 trick", "food fyp")
    assert second["created"] == "2023-11-14T22:13:20Z"
    assert second["cuts_per_minute"] == "" and second["source_title"] == ""
    assert second["summary"] == "A cooking video." and second["transcript"] == "hello and welcome"


def test_the_guard_leaves_numbers_and_plain_text_alone() -> None:
    assert safe_cell(-3.5) == -3.5 and safe_cell("a-b") == "a-b"
    assert [safe_cell(s) for s in ("-1", "+x", "=1", "@a", "\tx")] == [
        "'-1",
        "'+x",
        "'=1",
        "'@a",
        "'\tx",
    ]
