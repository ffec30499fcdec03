"""Streams a run's tables to Parquet in chunks and writes them atomically.

Each table is written to ``<name>.parquet.tmp`` as the run goes and renamed to
``<name>.parquet`` only when the run closes, so a half-written file is never
mistaken for a result. Rows are buffered and written every ``flush_every``
intervals, so memory stays flat over long runs.
"""

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lemgrid.model.metrics import interval_schema

_F = pa.float64()
_I = pa.int32()
_S = pa.string()

SCHEMAS: dict[str, pa.Schema] = {
    "intervals": interval_schema(),  # one column per entry of model.metrics.INTERVAL_METRICS
    "households": pa.schema(
        [
            ("interval", _I),
            ("household", _S),
            ("phase", _S),
            ("base_load_kw", _F),
            ("pv_kw", _F),
            ("pv_curtailed_kw", _F),
            ("battery_kw", _F),
            ("battery_soc", _F),
            ("battery_wear_eur", _F),
            ("ev_kw", _F),
            ("appliance_kw", _F),
            ("heat_pump_kw", _F),
            ("indoor_temperature_c", _F),
            ("comfort_violation_kh", _F),
            ("tank_violation_kh", _F),
            ("net_injection_kw", _F),
            ("net_injection_a_kw", _F),
            ("net_injection_b_kw", _F),
            ("net_injection_c_kw", _F),
            ("q_injection_kvar", _F),
            ("inverter_q_kvar", _F),
            ("vm_pu", _F),
            ("bought_local_kwh", _F),
            ("sold_local_kwh", _F),
            ("bought_retail_kwh", _F),
            ("sold_retail_kwh", _F),
            ("local_payment_eur", _F),
            ("retail_payment_eur", _F),
            ("network_fee_eur", _F),
            ("bill_eur", _F),
            ("reported_net_kwh", _F),
            ("curtailed_export_kwh", _F),
            ("curtailed_import_kwh", _F),
            ("flexibility_kwh", _F),
            ("flexibility_payment_eur", _F),
            ("loss_allocation_kwh", _F),
            ("reward_eur", _F),
            ("action", _S),
        ]
    ),
    "trades": pa.schema(
        [
            ("interval", _I),
            ("buyer", _S),
            ("seller", _S),
            ("energy_kwh", _F),
            ("price_eur_per_kwh", _F),
            ("network_fee_eur", _F),
            ("loss_allocation_kwh", _F),
            ("curtailed_kwh", _F),
            ("curtailment_reason", _S),
        ]
    ),
    "curtailments": pa.schema(
        [
            ("interval", _I),
            ("household", _S),
            ("export_kwh", _F),
            ("import_kwh", _F),
            ("reason", _S),
        ]
    ),
    "zone_prices": pa.schema(
        [
            ("interval", _I),
            ("zone", _I),
            ("price_eur_per_kwh", _F),
        ]
    ),
    "bus_voltages": pa.schema(
        [
            ("interval", _I),
            ("bus", _I),
            ("phase", _S),
            ("vm_pu", _F),
            ("va_degree", _F),
        ]
    ),
}


# the day-ahead stage's trades: as the interval market's, which alone the DSO curtails
SCHEMAS["day_ahead_trades"] = pa.schema(
    [f for f in SCHEMAS["trades"] if f.name not in ("curtailed_kwh", "curtailment_reason")]
)


class Recorder:
    """Buffered, atomic Parquet writer for one run's tables."""

    def __init__(self, out_dir: Path, tables: list[str], flush_every: int = 96) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.flush_every = flush_every
        self._buffers: dict[str, list[dict[str, Any]]] = {t: [] for t in tables}
        self._columns = {t: frozenset(SCHEMAS[t].names) for t in tables}  # read once: every add checks them
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._pending = 0
        self.closed = False

    @property
    def tables(self) -> list[str]:
        """The tables this recorder writes."""
        return list(self._buffers)

    def add(self, table: str, columns: dict[str, Any]) -> None:
        """Queue a block of rows (columns of equal length, or scalars broadcast).

        Every column of the table's schema must be given, and nothing else: a
        column the schema lacks would otherwise be dropped without a word.
        """
        expected = self._columns[table]
        if columns.keys() != expected:
            missing = sorted(set(expected) - set(columns))
            extra = sorted(set(columns) - set(expected))
            raise KeyError(
                f"table {table!r}: columns missing {missing} and not in its schema {extra}; "
                "define a column in model/recorder.py SCHEMAS (intervals: model/metrics.py)"
            )
        self._buffers[table].append(columns)

    def end_interval(self) -> None:
        """Mark an interval complete; flush every ``flush_every`` intervals."""
        self._pending += 1
        if self._pending >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Write every buffered block to its temporary Parquet file."""
        for table, blocks in self._buffers.items():
            if not blocks:
                continue
            schema = SCHEMAS[table]
            arrays = [{name: _is_array(v) for name, v in b.items()} for b in blocks]
            lengths = [_length(b, a) for b, a in zip(blocks, arrays, strict=True)]
            arrow = pa.Table.from_pydict(
                {
                    f.name: _to_arrow(
                        _column([b[f.name] for b in blocks], [a[f.name] for a in arrays], lengths), f.type
                    )
                    for f in schema
                },
                schema=schema,
            )
            self._writer(table).write_table(arrow)
            blocks.clear()
        self._pending = 0

    def close(self) -> None:
        """Flush, finish every file and move it into place."""
        if self.closed:
            return
        self.flush()
        for table in self._buffers:
            writer = self._writer(table)  # an empty table still gets a file with its schema
            writer.close()
            tmp = self.out_dir / f"{table}.parquet.tmp"
            os.replace(tmp, self.out_dir / f"{table}.parquet")
        self.closed = True

    def write_frame(self, name: str, frame: pd.DataFrame) -> None:
        """Write a small table whole, atomically, as ``<name>.parquet``."""
        tmp = self.out_dir / f"{name}.parquet.tmp"
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, self.out_dir / f"{name}.parquet")

    def write_json(self, name: str, payload: dict[str, Any] | str) -> None:
        """Write ``name`` atomically (temporary file, then rename)."""
        text = payload if isinstance(payload, str) else json.dumps(payload, indent=2, sort_keys=True)
        tmp = self.out_dir / f"{name}.tmp"
        tmp.write_text(text + "\n")
        os.replace(tmp, self.out_dir / name)

    def _writer(self, table: str) -> pq.ParquetWriter:
        if table not in self._writers:
            schema = SCHEMAS[table]
            # dictionary-encode the text columns only: a float column's values rarely repeat, and
            # trying a dictionary on each was 60 % of the writing time (the values read back are the same)
            text = [f.name for f in schema if pa.types.is_string(f.type)]
            self._writers[table] = pq.ParquetWriter(
                self.out_dir / f"{table}.parquet.tmp", schema, use_dictionary=text
            )
        return self._writers[table]


_SCALARS = (int, float, str, np.generic, type(None))


def _is_array(value: Any) -> bool:
    """Whether a block's column value is an array of rows (else a scalar for every row)."""
    if isinstance(value, np.ndarray):
        return value.ndim > 0
    return not isinstance(value, _SCALARS) and np.ndim(value) > 0


def _length(block: dict[str, Any], arrays: dict[str, bool]) -> int:
    """Rows in a block: the length of its array columns (``arrays``: which; 1 if none is)."""
    return max((len(v) for name, v in block.items() if arrays[name]), default=1)


def _column(values: list[Any], arrays: list[bool], lengths: list[int]) -> np.ndarray:
    """One column over the blocks (``arrays``: which values are arrays), a scalar repeated per row.

    A column of scalars in every block (an interval number, a row of the intervals
    table) is one array repeated; strings and None make it an object array.
    """
    if not any(arrays):
        text = any(isinstance(v, str) or v is None for v in values)
        return np.repeat(np.array(values, dtype=object if text else None), lengths)
    return np.concatenate(
        [np.atleast_1d(v if a else _repeated(v, n)) for v, a, n in zip(values, arrays, lengths, strict=True)]
    )


def _repeated(value: Any, length: int) -> np.ndarray:
    """A scalar column value repeated to the block's length."""
    return np.full(length, value, dtype=object if isinstance(value, str) or value is None else None)


def _to_arrow(values: np.ndarray, typ: pa.DataType) -> pa.Array:
    """Convert a column, turning None (and NaN in integer columns) into nulls."""
    if pa.types.is_integer(typ) and values.dtype.kind in "iub":
        return pa.array(values.astype(np.int64), type=typ)  # no None or NaN in a numeric integer array
    if pa.types.is_integer(typ):
        mask = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in values], dtype=bool)
        clean = np.where(mask, 0, values).astype(np.int64) if mask.any() else values.astype(np.int64)
        return pa.array(clean, type=typ, mask=mask)
    if pa.types.is_timestamp(typ):
        return pa.array(values.astype("datetime64[s]"), type=typ)
    return pa.array(values, type=typ, from_pandas=True)  # NaN is written as null
