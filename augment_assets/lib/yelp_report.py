"""What every review source returns besides its rows: the raw columns and a `SourceReport`.

Shared by the Yelp JSON reader (`augment_assets.lib.yelp`), the CSV reader
(`augment_assets.lib.csv_reviews`) and the line scan under the first
(`augment_assets.lib.yelp_scan`); `augment_assets.lib.yelp` re-exports all of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RAW_COLUMNS = ["review_id", "business_id", "stars", "sentiment", "text", "date"]
MAX_BAD_LINE_EXAMPLES = 100

# Reasons a source rejects a row (label_reviews adds its own).
INVALID_UTF8 = "invalid UTF-8"
STARS_NOT_A_NUMBER = "stars not a number"

# Reasons a line is bad (malformed, not a review at all).
MALFORMED_JSON = "malformed JSON"
TRUNCATED_LAST_LINE = "truncated last line (no newline at end of file)"


@dataclass
class SourceReport:
    """What a reader saw: lines read, bad lines (with line numbers), rows it rejected and why."""

    source: str  # "yelp_json", "csv" or "sample"
    path: str
    lines_read: int = 0
    bad_lines: list[tuple[str, int, str]] = field(default_factory=list)  # (file name, 1-based line, reason)
    bad_line_count: int = 0
    businesses_matched: int | None = None
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> count

    def as_dict(self) -> dict:
        """JSON-friendly form (for asset metadata)."""
        return {
            "source": self.source,
            "path": self.path,
            "lines_read": self.lines_read,
            "bad_line_count": self.bad_line_count,
            "bad_lines": [list(b) for b in self.bad_lines],
            "businesses_matched": self.businesses_matched,
            "rejected": dict(self.rejected),
        }
