"""Fixtures shared by the import tests."""
from __future__ import annotations

import pytest
from flask_babel import refresh

from crm.sales import allocation
from tests.factories import login, make_user


@pytest.fixture
def import_folder(app, tmp_path, monkeypatch):
    """Uploaded and imported files go to a scratch folder; a fresh allocation queue before and after."""
    folder = tmp_path / "imports"
    monkeypatch.setitem(app.config, "CRM_IMPORT_DIR", str(folder))
    allocation.reset_state()
    yield folder
    allocation.reset_state()


@pytest.fixture
def importer(client):
    """A signed-in user with sales.lead.import (the 'staff' role), reading the pages in English."""
    user = make_user("staff")
    login(client, user)
    client.post("/language/en")  # assertions read the English messages
    refresh()  # flask_babel caches the locale on `g`, shared by this test's requests
    return user
