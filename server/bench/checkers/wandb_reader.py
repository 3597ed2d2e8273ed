"""Read a W&B offline run back from its `.wandb` transaction log.

wandb 0.3x writes no summary JSON for offline runs and no longer ships a Python reader for its log,
so this parses the format directly: a 7-byte header (":W&B", magic 0xBEE1 little-endian, version 0)
then LevelDB-log style blocks of 32 KiB, each holding records framed by a 7-byte header (CRC-32 of
type+payload, little-endian 16-bit length, type FULL/FIRST/MIDDLE/LAST); a block tail shorter than
a header is zero padding. Each reassembled payload is a `wandb.proto.wandb_internal_pb2.Record`.

Run as `python -m mlops_lsp.bench.checkers.wandb_reader FILE.wandb ...` (it imports wandb's
protobuf module, so the bench process itself does not): prints one JSON line, a list of runs.
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path
from typing import Iterator

HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK_SIZE = 32 * 1024
RECORD_HEADER_SIZE = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class WandbLogError(ValueError):
    """A file that is not a W&B transaction log, or a corrupt one."""


def iter_payloads(data: bytes) -> Iterator[bytes]:
    """The record payloads of a `.wandb` file, reassembled across blocks.

    A truncated final record (a run killed mid-write) ends the iteration instead of raising.
    """
    if not data.startswith(HEADER):
        raise WandbLogError("not a W&B transaction log (bad header)")
    offset = len(HEADER)
    pending: list[bytes] | None = None
    while offset + RECORD_HEADER_SIZE <= len(data):
        block_left = BLOCK_SIZE - offset % BLOCK_SIZE
        if block_left < RECORD_HEADER_SIZE:  # zero padding at the end of a block
            offset += block_left
            continue
        checksum, length, kind = struct.unpack_from("<IHB", data, offset)
        start = offset + RECORD_HEADER_SIZE
        payload = data[start : start + length]
        if kind == 0 and length == 0:  # preallocated zeros: the writer stopped here
            return
        if len(payload) < length:
            return
        if zlib.crc32(bytes([kind]) + payload) & 0xFFFFFFFF != checksum:
            raise WandbLogError(f"checksum mismatch at byte {offset}")
        offset = start + length
        if kind == FULL:
            yield payload
        elif kind == FIRST:
            pending = [payload]
        elif kind == MIDDLE and pending is not None:
            pending.append(payload)
        elif kind == LAST and pending is not None:
            pending.append(payload)
            yield b"".join(pending)
            pending = None
        else:
            raise WandbLogError(f"unexpected record type {kind} at byte {offset}")


def _json_value(text: str):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text


def _apply_config(config: dict, record) -> None:
    for item in record.update:
        key = item.key or ".".join(item.nested_key)
        config[key] = _json_value(item.value_json)
    for item in record.remove:
        config.pop(item.key or ".".join(item.nested_key), None)


def read_run(path: Path) -> dict:
    """Summarise one offline run: id, project, config (user keys), history rows and keys, exit code."""
    from wandb.proto import wandb_internal_pb2 as pb

    run: dict = {"file": str(path), "run_id": None, "project": None, "config": {}, "history_rows": 0,
                 "history_steps": [], "history_keys": [], "summary_keys": [], "exit_code": None}
    keys: set[str] = set()
    steps: list[int] = []
    summary: set[str] = set()
    for payload in iter_payloads(path.read_bytes()):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run["run_id"] = record.run.run_id
            run["project"] = record.run.project
            _apply_config(run["config"], record.run.config)
        elif kind == "config":
            _apply_config(run["config"], record.config)
        elif kind == "history":
            run["history_rows"] += 1
            steps.append(record.history.step.num)
            keys.update(item.key or ".".join(item.nested_key) for item in record.history.item)
        elif kind == "summary":
            summary.update(item.key or ".".join(item.nested_key) for item in record.summary.update)
        elif kind == "exit":
            run["exit_code"] = record.exit.exit_code
    # W&B's own bookkeeping ("_wandb" in config, "_step"/"_runtime"/"_timestamp" in rows) is not user data.
    run["config"] = {k: v for k, v in run["config"].items() if not k.startswith("_wandb")}
    run["history_keys"] = sorted(k for k in keys if not k.startswith("_"))
    run["history_steps"] = steps
    run["summary_keys"] = sorted(k for k in summary if not k.startswith("_"))
    return run


def main(argv: list[str]) -> int:
    runs = []
    for name in argv:
        try:
            runs.append(read_run(Path(name)))
        except (OSError, WandbLogError) as exc:
            runs.append({"file": name, "error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps(runs, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
