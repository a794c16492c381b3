"""Content negotiation: JSON (msgspec) or CSV for responses that are tables."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from litestar import Request, Response
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIType

from serve import models

Format = Literal["json", "csv"]
# Litestar appends "; charset=utf-8" to text/* media types.
CSV_MEDIA_TYPE = "text/csv"
T = TypeVar("T")


def wants_csv(request: Request[Any, Any, Any], fmt: Format | None) -> bool:
    """``?format=csv`` wins; otherwise ``Accept: text/csv`` (same rule as the cache key)."""
    if fmt is not None:
        return fmt == "csv"
    # Read the raw header list: cheaper than building Litestar's Headers.
    for name, value in request.scope["headers"]:
        if name == b"accept":
            return b"text/csv" in value
    return False


def render_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows as RFC 4180 CSV with a header line."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(("" if v is None else v for v in row) for row in rows)
    return buf.getvalue().encode()


def table_of(data: object) -> tuple[list[str], list[Sequence[Any]]]:
    """The CSV header and rows of a table-shaped response."""
    if isinstance(data, models.DownloadSeries):
        return ["week", "downloads"], [(w.week, w.downloads) for w in data.weeks]
    if isinstance(data, models.DimensionSeries):
        if data.share:
            return ["week", data.dimension, "downloads", "share"], [
                (p.week, p.value, p.downloads, p.share) for p in data.points
            ]
        return ["week", data.dimension, "downloads"], [
            (p.week, p.value, p.downloads) for p in data.points
        ]
    if isinstance(data, models.Comparison):
        rows: list[Sequence[Any]] = []
        with_share = any(p.share_of_combined is not None for p in data.packages)
        for pkg in data.packages:
            for i, week in enumerate(data.weeks):
                row: list[Any] = [week, pkg.package, pkg.downloads[i]]
                if with_share and pkg.share_of_combined is not None and pkg.share_of_pypi:
                    row += [pkg.share_of_combined[i], pkg.share_of_pypi[i]]
                rows.append(row)
        header = ["week", "package", "downloads"]
        if with_share:
            header += ["share_of_combined", "share_of_pypi"]
        return header, rows
    if isinstance(data, models.PackageSearch):
        return ["package", "display_name", "summary", "downloads_last_week",
                "downloads_last_4_weeks", "rank"], [
            (p.package, p.display_name, p.summary, p.downloads_last_week,
             p.downloads_last_4_weeks, p.rank)
            for p in data.packages
        ]  # fmt: skip
    if isinstance(data, models.Trending):
        return ["package", "display_name", "downloads_last", "downloads_prev", "growth", "rank"], [
            (p.package, p.display_name, p.downloads_last, p.downloads_prev, p.growth, p.rank)
            for p in data.packages
        ]
    if isinstance(data, models.OverallSeries):
        return ["week", "downloads", "packages"], [
            (w.week, w.downloads, w.packages) for w in data.weeks
        ]
    if isinstance(data, models.Releases):
        fields = models.Release.__struct_fields__
        return ["package", *fields], [
            (data.package, *(getattr(r, f) for f in fields)) for r in data.releases
        ]
    if isinstance(data, models.DataEvents):
        fields = models.DataEvent.__struct_fields__
        return list(fields), [tuple(getattr(e, f) for f in fields) for e in data.events]
    raise TypeError(f"{type(data).__name__} is not a table")


#: Shown where a number is undefined (an en dash).
NO_VALUE = "\u2013"


def humanize(count: int | None) -> str:
    """A count as ``1.2M`` / ``15k`` / ``950`` (badges and pages)."""
    if count is None:
        return NO_VALUE
    for factor, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(count) >= factor:
            return f"{count / factor:.1f}".rstrip("0").rstrip(".") + suffix
    return str(count)


def respond(request: Request[Any, Any, Any], fmt: Format | None, data: T) -> Response[T]:
    """JSON by default; CSV when asked for and ``data`` is a table."""
    if wants_csv(request, fmt):
        header, rows = table_of(data)
        # The declared type documents the JSON shape; the CSV body is its table form.
        return cast("Response[T]", Response(render_csv(header, rows), media_type=CSV_MEDIA_TYPE))
    return Response(data)


@dataclass
class TableOperation(Operation):
    """OpenAPI operation of a table route: its 200 answer is also documented as CSV."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            ok.content = {
                **(ok.content or {}),
                CSV_MEDIA_TYPE: OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.STRING,
                        description="RFC 4180 CSV with a header line (the JSON table's columns)",
                    )
                ),
            }
