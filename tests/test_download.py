"""`glassgen dataset download` against a local copy of a Zenodo record (file:// URLs): files land with their MD5
checked against the record, present files are not fetched again, and a corrupted transfer keeps nothing."""

import hashlib
import json

import pytest

from glassgen.cli import main
from glassgen.errors import DataFormatError
from glassgen.io.download import download_archive


@pytest.fixture
def record(tmp_path):
    """A record of two files served from a 'remote' folder, in Zenodo's API layout."""
    remote = tmp_path / "remote"
    remote.mkdir()
    files = []
    for name, content in (("KA2D_models.tar.gz", b"2d" * 1000), ("KA_models.tar.gz", b"3d" * 3000)):
        (remote / name).write_bytes(content)
        files.append({"key": name, "size": len(content), "checksum": f"md5:{hashlib.md5(content).hexdigest()}",
                      "links": {"self": (remote / name).as_uri()}})
    path = tmp_path / "record.json"
    path.write_text(json.dumps({"files": files}))
    return path


def test_download_verifies_checksums_filters_and_skips_present_files(record, tmp_path, capsys):
    to = tmp_path / "glassbench"
    assert main(["dataset", "download", "glassbench", "--files", "KA2D*", "--to", str(to), "--record",
                 record.as_uri(), "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in result["files"]] == ["KA2D_models.tar.gz"] and result["files"][0]["status"] == "downloaded"
    assert (to / "KA2D_models.tar.gz").read_bytes() == b"2d" * 1000 and not (to / "KA_models.tar.gz").exists()
    again = download_archive("glassbench", to, record_url=record.as_uri(), progress=False)
    assert [f["status"] for f in again] == ["present", "downloaded"]


def test_a_file_that_arrives_changed_is_not_kept(record, tmp_path):
    (tmp_path / "remote" / "KA_models.tar.gz").write_bytes(b"tampered")
    with pytest.raises(DataFormatError, match="KA_models.tar.gz arrived with MD5"):
        download_archive("glassbench", tmp_path / "out", record_url=record.as_uri(), progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["KA2D_models.tar.gz"]  # no .part left
