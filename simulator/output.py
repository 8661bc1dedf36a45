"""Writing a simulated bank: Parquet part files into a staging folder, moved into place at the end.

Everything is written into a temporary folder inside the home folder; only when every part file and
the manifest are complete do ``data/raw``, ``data/truth`` and ``data/manifest.json`` replace the
previous ones. A failure or Ctrl-C before that leaves the previous data as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from retain.core.errors import ConfigError
from retain.core.settings import Settings, check_home
from retain.core.tables import RAW_TABLES

TRUTH_TABLES = {"truth_monthly": "monthly", "truth_customers": "customers"}


def _folder(table: str) -> Path:
    if table in TRUTH_TABLES:
        return Path("truth") / TRUTH_TABLES[table]
    return Path("raw") / table


class Staging:
    """A temporary data folder inside the home folder; ``commit`` moves it into place."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.home / f".simulate-{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> Staging:
        check_home(self.settings)
        try:
            self.path.mkdir()
            for table in (*RAW_TABLES, *TRUTH_TABLES):
                (self.path / _folder(table)).mkdir(parents=True)
        except OSError as e:
            shutil.rmtree(self.path, ignore_errors=True)
            reason = e.strerror or str(e)
            raise ConfigError(f"cannot write to {self.path}: {reason}") from e
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def write(self, table: str, part: int, rows: pa.Table) -> None:
        """Write one part file of a table (``part-00000.parquet``)."""
        pq.write_table(
            rows, self.path / _folder(table) / f"part-{part:05d}.parquet", compression="zstd"
        )

    def commit(self, manifest: dict) -> None:
        """Put the staged data in place of the previous data, the manifest last."""
        data = self.settings.data_dir
        (self.path / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        data.mkdir(parents=True, exist_ok=True)
        (data / "manifest.json").unlink(missing_ok=True)  # no manifest: data being replaced
        old = self.path / "previous"
        old.mkdir()
        for name in ("raw", "truth"):
            if (data / name).exists():
                os.replace(data / name, old / name)
            os.replace(self.path / name, data / name)
        os.replace(self.path / "manifest.json", data / "manifest.json")
