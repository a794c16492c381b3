"""Errors the exporter reports to the user (message on stderr, non-zero exit)."""


class ExportError(Exception):
    """An export could not be done; the message says why and what to do."""

    exit_code = 1


class RefusedError(ExportError):
    """The export was refused on purpose (e.g. the last dbt run has failed tests)."""

    exit_code = 3
