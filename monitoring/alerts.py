"""One row of the monitor's alert table: what crossed which threshold."""


def alert(kind: str, subject: str, status: str, detail: str) -> dict[str, str]:
    """``status`` (warn or alert), ``kind`` (feature, score, freshness, ...), ``subject`` (a
    feature, a view) and ``detail`` (the figures in words)."""
    return {"status": status, "kind": kind, "subject": subject, "detail": detail}
