"""Older SDKs call the v2 list operations at their older URIs; both forms work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.loaders import create_loader

from tests.conftest import REGION, SandboxClient

OLDER = {
    "ListConfigurationSets": "/v2/email/configuration-sets",
    "ListEmailIdentities": "/v2/email/identities",
}


@pytest.fixture
def older_sesv2(sandbox: SandboxClient, tmp_path: Path) -> Any:
    """An sesv2 client built from a model with the older GET URIs, as older SDKs have."""
    loader = create_loader()
    model = loader.load_service_model("sesv2", "service-2")
    version = model["metadata"]["apiVersion"]
    for name, uri in OLDER.items():
        operation = model["operations"][name]
        assert operation["http"]["method"] == "POST"  # the installed model's newer form
        operation["http"] = {"method": "GET", "requestUri": uri}
        members = model["shapes"][operation["input"]["shape"]]["members"]
        for member in ("NextToken", "PageSize"):
            members[member] = {**members[member], "location": "querystring", "locationName": member}
        members.pop("Filter", None)
    folder = tmp_path / "sesv2" / version
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(tmp_path))
    return boto3.Session(botocore_session=session).client(
        "sesv2", endpoint_url=sandbox.url, region_name=REGION
    )


def test_older_list_uris(sandbox: SandboxClient, older_sesv2: Any) -> None:
    sandbox.sesv2.create_configuration_set(ConfigurationSetName="set-a")
    sandbox.sesv2.create_configuration_set(ConfigurationSetName="set-b")
    sandbox.sesv2.create_email_identity(EmailIdentity="a@example.com")
    requests: list[str] = []
    older_sesv2.meta.events.register(
        "before-send", lambda request, **_: requests.append(f"{request.method} {request.url}")
    )
    assert older_sesv2.list_configuration_sets()["ConfigurationSets"] == ["set-a", "set-b"]
    identities = older_sesv2.list_email_identities()["EmailIdentities"]
    assert [i["IdentityName"] for i in identities] == ["a@example.com"]
    first = older_sesv2.list_configuration_sets(PageSize=1)
    assert first["ConfigurationSets"] == ["set-a"]
    second = older_sesv2.list_configuration_sets(PageSize=1, NextToken=first["NextToken"])
    assert second["ConfigurationSets"] == ["set-b"]
    assert "NextToken" not in second
    assert requests[0] == f"GET {sandbox.url}/v2/email/configuration-sets"
    assert requests[1] == f"GET {sandbox.url}/v2/email/identities"
    assert requests[2].endswith("/v2/email/configuration-sets?PageSize=1")


def test_newer_list_uris(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_configuration_set(ConfigurationSetName="set-a")
    assert sandbox.sesv2.list_configuration_sets()["ConfigurationSets"] == ["set-a"]
