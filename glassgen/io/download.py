"""Download public archives (the full GlassBench data) with their checksums verified.

The file list and each file's MD5 come from the archive's Zenodo record (``/api/records/ID``), never from this
code, so a new version of a record is read as it is. Files are streamed to ``NAME.part`` and renamed once their
checksum matches; a file already present with the right checksum is not fetched again, so an interrupted download
resumes file by file. ``record_url`` may point at a mirror or a saved copy of the record (``file://`` URLs work),
for clusters without internet access.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from glassgen.errors import DataFormatError, InvalidInputError
from glassgen.progress import Stage

#: Archives by name: (Zenodo record API URL, where a person finds it).
ARCHIVES = {
    "glassbench": ("https://zenodo.org/api/records/10118191", "https://doi.org/10.5281/zenodo.10118191"),
}

_CHUNK = 1 << 20


def _open(url: str, what: str):
    try:
        return urllib.request.urlopen(url, timeout=60)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise InvalidInputError(f"cannot read {what} at {url} ({getattr(err, 'reason', err)}); check the network, "
                                "or download the files by hand and give their folder to the commands that read "
                                "them.") from err


def record_files(record_url: str) -> list[dict]:
    """The files of a Zenodo record: [{"name", "size", "md5", "url"}]."""
    with _open(record_url, "the archive's record") as response:
        try:
            record = json.load(response)
        except ValueError as err:
            raise DataFormatError(f"the record at {record_url} is not JSON ({err}).") from err
    files = []
    for entry in record.get("files", []):
        algorithm, _, digest = str(entry.get("checksum", "")).partition(":")
        if algorithm != "md5" or not digest:
            raise DataFormatError(f"the record at {record_url} gives no MD5 for {entry.get('key')!r}; it cannot be "
                                  "verified.")
        files.append({"name": entry["key"], "size": int(entry.get("size", 0)), "md5": digest,
                      "url": entry["links"]["self"]})
    if not files:
        raise DataFormatError(f"the record at {record_url} lists no files.")
    return files


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_archive(name: str, folder, *, patterns=None, record_url: str | None = None,
                     progress: bool = True) -> list[dict]:
    """Fetch the files of archive ``name`` (:data:`ARCHIVES`) whose names match one of ``patterns`` (shell globs;
    all when None) into ``folder``; returns [{"name", "path", "size", "md5", "status"}] with status "downloaded" or
    "present" (already there with the right checksum)."""
    if name not in ARCHIVES:
        raise InvalidInputError(f"no archive {name!r}; known: {', '.join(ARCHIVES)}.")
    files = record_files(record_url or ARCHIVES[name][0])
    chosen = [f for f in files if patterns is None or any(fnmatch.fnmatch(f["name"], p) for p in patterns)]
    if not chosen:
        raise InvalidInputError(f"no file of {name} matches {' '.join(patterns)}; it holds "
                                f"{', '.join(f['name'] for f in files)}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    done = []
    for entry in chosen:
        target = folder / entry["name"]
        if target.exists() and md5_of(target) == entry["md5"]:
            done.append({**entry, "path": str(target), "status": "present"})
            continue
        partial = target.with_name(target.name + ".part")
        digest = hashlib.md5()
        with _open(entry["url"], entry["name"]) as response, open(partial, "wb") as handle, \
                Stage(f"download {entry['name']}", entry["size"] or None, unit="B", enabled=progress,
                      unit_scale=True) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                handle.write(chunk)
                digest.update(chunk)
                bar.advance(len(chunk))
        if digest.hexdigest() != entry["md5"]:
            partial.unlink()
            raise DataFormatError(f"{entry['name']} arrived with MD5 {digest.hexdigest()}, but the record gives "
                                  f"{entry['md5']}: a broken transfer or a changed file. Nothing was kept; run the "
                                  "command again.")
        os.replace(partial, target)
        done.append({**entry, "path": str(target), "status": "downloaded"})
    return done
