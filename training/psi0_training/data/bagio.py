"""Opening bags read-only: metadata, custom data, content hashes, clear errors.

Sources are never written: rosbags opens sqlite3 files read-only and reads
MCAP files through plain file handles; this module only reads and hashes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml


class BagError(RuntimeError):
    """A bag that cannot be converted; the message says why (shown in the quality report)."""


@dataclass(frozen=True)
class BagInfo:
    path: Path
    storage: str                 # "mcap" or "sqlite3"
    files: tuple[Path, ...]      # storage files, in metadata order
    custom: dict                 # metadata custom_data (task, operator, ...)
    fingerprint: str             # cheap identity: metadata.yaml + size, head and tail of each storage file
    size_bytes: int

    def sha256(self) -> str:
        """Full content hash over metadata.yaml and every storage file (for provenance)."""
        return file_sha256([self.path / "metadata.yaml", *self.files])[0]


def bag_files(path: Path) -> tuple[str, tuple[Path, ...], dict]:
    meta_path = path / "metadata.yaml"
    if not path.is_dir():
        raise BagError(f"{path}: not a rosbag2 directory (expected a directory with metadata.yaml)")
    if not meta_path.is_file():
        raise BagError(f"{path}: no metadata.yaml (an unfinished recording? `ros2 bag reindex` can rebuild it)")
    try:
        meta = yaml.safe_load(meta_path.read_text())["rosbag2_bagfile_information"]
        storage = str(meta["storage_identifier"])
        files = tuple(path / Path(p).name for p in meta["relative_file_paths"])
    except Exception as exc:  # noqa: BLE001 - any malformed metadata is the same failure to the user
        raise BagError(f"{path}: unreadable metadata.yaml ({type(exc).__name__}: {exc})") from None
    if storage not in ("mcap", "sqlite3"):
        raise BagError(f"{path}: storage {storage!r} is not supported (mcap, sqlite3)")
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise BagError(f"{path}: storage files missing: {', '.join(missing)}")
    return storage, files, dict(meta.get("custom_data") or {})


def file_sha256(paths, chunk: int = 1 << 22) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    for p in paths:
        h.update(Path(p).name.encode() + b"\0")
        with open(p, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
                size += len(block)
    return h.hexdigest(), size


def fingerprint(meta: Path, files, edge: int = 1 << 20) -> tuple[str, int]:
    """Identity of a recording for resuming: its metadata plus each file's size, first and last MiB.

    Recordings are immutable once closed, so this tells bags apart at a fraction of a full hash
    (the full sha256 is computed during conversion and stored in the provenance).
    """
    h, total = hashlib.sha256(meta.read_bytes()), 0
    for p in files:
        size = p.stat().st_size
        total += size
        h.update(f"{p.name}\0{size}\0".encode())
        with open(p, "rb") as f:
            h.update(f.read(edge))
            if size > edge:
                f.seek(max(edge, size - edge))
                h.update(f.read(edge))
    return h.hexdigest(), total


def inspect_bag(path: Path | str) -> BagInfo:
    path = Path(path).resolve()
    storage, files, custom = bag_files(path)
    fp, size = fingerprint(path / "metadata.yaml", files)
    return BagInfo(path, storage, files, custom, fp, size)
