"""Stored files get a private folder under the state folder (graphsvc/storage.py)."""

from __future__ import annotations

import os
import stat

import pytest

from graphsvc import storage
from graphsvc.config import load_settings


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_stored_files_live_in_a_private_folder_of_the_state_folder(tmp_path):
    settings = load_settings({"GRAPHSVC_STATE_DIR": str(tmp_path / "state")})
    assert settings.files_dir == settings.state_dir / "files" and settings.key_dir == settings.state_dir / "keys"
    old_umask = os.umask(0)
    try:
        folder = storage.files_dir(settings)
    finally:
        os.umask(old_umask)
    assert folder == tmp_path / "state" / "files" and mode(folder) == 0o700
    (folder / "x").write_bytes(b"sealed")
    assert storage.files_dir(settings) == folder and (folder / "x").exists()  # reused as it is
    assert load_settings({}).files_dir == load_settings({}).state_dir / "files"


def test_a_folder_others_can_enter_is_refused_not_tightened(tmp_path):
    settings = load_settings({"GRAPHSVC_STATE_DIR": str(tmp_path)})
    (tmp_path / "files").mkdir()
    os.chmod(tmp_path / "files", 0o750)
    with pytest.raises(storage.StorageError, match="chmod 700"):
        storage.files_dir(settings)
    assert mode(tmp_path / "files") == 0o750
    os.rmdir(tmp_path / "files")
    (tmp_path / "files").write_text("")
    with pytest.raises(storage.StorageError, match="not a folder"):
        storage.files_dir(settings)


def test_a_state_folder_that_cannot_be_made_is_a_clear_error(tmp_path):
    (tmp_path / "blocker").write_text("")
    settings = load_settings({"GRAPHSVC_STATE_DIR": str(tmp_path / "blocker" / "state")})
    with pytest.raises(storage.StorageError, match="GRAPHSVC_STATE_DIR"):
        storage.files_dir(settings)
