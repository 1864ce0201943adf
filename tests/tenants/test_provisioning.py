"""``courrier tenant`` and teardown against the sandbox: idempotent create with the
resource associations, list, show, delete, and teardown removing only its own tenants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from courrier.cli import main
from courrier.errors import ConfigurationError, InvalidMessage
from courrier.provisioning import Action, Aws, setup, teardown
from courrier.provisioning.tenants import (
    PREFIX_TAG,
    TenantSuppression,
    create_tenant,
    delete_tenant,
    list_tenants,
    show_tenant,
    tenant_suppression,
)
from tests.conftest import SandboxClient

IDENTITY = "sender@example.com"


@pytest.fixture
def aws(sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> Aws:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    sandbox.sesv2.create_email_template(
        TemplateName="welcome", TemplateContent={"Subject": "Hi", "Text": "Hello"}
    )
    return Aws()


def test_create_is_idempotent_and_associates_the_resources(aws: Aws) -> None:
    setup(aws, IDENTITY, prefix="t")
    first = create_tenant(
        aws, "acme", identity=IDENTITY, configuration_set="t", templates=["welcome"], prefix="t"
    )
    assert [c.action for c in first] == [Action.CREATE] * 4
    again = create_tenant(
        aws, "acme", identity=IDENTITY, configuration_set="t", templates=["welcome"], prefix="t"
    )
    assert [c.action for c in again] == [Action.UNCHANGED] * 4
    view = show_tenant(aws, "acme")
    assert view is not None
    assert view.tags == {PREFIX_TAG: "t"}
    assert sorted(kind for kind, _ in view.resources) == [
        "CONFIGURATION_SET",
        "EMAIL_IDENTITY",
        "EMAIL_TEMPLATE",
    ]
    assert [t.name for t in list_tenants(aws)] == ["acme"]
    assert delete_tenant(aws, "acme").action is Action.DELETE
    assert delete_tenant(aws, "acme").action is Action.ABSENT
    assert show_tenant(aws, "acme") is None


def test_suppression_attributes_are_set_and_kept(aws: Aws) -> None:
    setup(aws, IDENTITY, prefix="t")
    wanted = TenantSuppression("TENANT", ("COMPLAINT",))
    create_tenant(aws, "acme", identity=None, configuration_set=None, suppression=wanted)
    view = show_tenant(aws, "acme")
    assert view is not None
    assert view.suppression == {"SuppressionScope": "TENANT", "SuppressedReasons": ["COMPLAINT"]}
    changed = create_tenant(
        aws,
        "acme",
        identity=None,
        configuration_set=None,
        suppression=TenantSuppression("TENANT", ("BOUNCE", "COMPLAINT")),
    )
    assert [c.action for c in changed] == [Action.UNCHANGED, Action.UPDATE]
    view = show_tenant(aws, "acme")
    assert view is not None
    assert view.suppression is not None
    assert sorted(view.suppression["SuppressedReasons"]) == ["BOUNCE", "COMPLAINT"]


def test_suppression_settings_are_checked() -> None:
    assert tenant_suppression(None, None) is None
    assert tenant_suppression("tenant", "bounce") == TenantSuppression("TENANT", ("BOUNCE",))
    assert tenant_suppression("account", None) == TenantSuppression("ACCOUNT")
    with pytest.raises(ConfigurationError, match="tenant_suppression_scope"):
        tenant_suppression("customer", None)
    with pytest.raises(ConfigurationError, match="not bounce or complaint"):
        tenant_suppression("tenant", "bounce,spam")
    with pytest.raises(ConfigurationError, match="needs tenant_suppression_scope"):
        tenant_suppression(None, "bounce")


def test_bad_names_are_refused_before_any_call(aws: Aws) -> None:
    with pytest.raises(InvalidMessage, match="tenant name"):
        create_tenant(aws, "a b", identity=None, configuration_set=None)
    assert list_tenants(aws) == []


def test_teardown_deletes_its_own_tenants_only(aws: Aws, sandbox: SandboxClient) -> None:
    setup(aws, IDENTITY, prefix="gone")
    create_tenant(aws, "mine", identity=IDENTITY, configuration_set="gone", prefix="gone")
    sandbox.sesv2.create_tenant(TenantName="theirs")
    changes = teardown(aws, IDENTITY, prefix="gone")
    assert ("tenant mine", Action.DELETE) in [(c.resource, c.action) for c in changes]
    assert [t.name for t in list_tenants(aws)] == ["theirs"]
    assert sandbox.sesv2.list_configuration_sets()["ConfigurationSets"] == []


def test_commands(sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.chdir(tmp_path)
    sandbox.sesv2.create_email_template(
        TemplateName="welcome", TemplateContent={"Subject": "Hi", "Text": "Hello"}
    )
    runner = CliRunner()
    assert runner.invoke(main, ["setup", "--identity", IDENTITY]).exit_code == 0
    (tmp_path / "courrier.toml").write_text(
        (tmp_path / "courrier.toml")
        .read_text()
        .replace("[courrier]\n", '[courrier]\ntenant_suppression_scope = "tenant"\n')
    )
    created = runner.invoke(main, ["tenant", "create", "acme", "--json"])
    assert created.exit_code == 0, created.output
    actions = [json.loads(line)["action"] for line in created.output.splitlines()]
    assert actions == ["create"] * 4  # the tenant, identity, configuration set, template
    again = runner.invoke(main, ["tenant", "create", "acme"])
    assert again.exit_code == 0, again.output
    assert "create" not in again.output
    listed = runner.invoke(main, ["tenant", "list"])
    assert listed.output.split() == ["acme", "ENABLED"]
    shown = runner.invoke(main, ["tenant", "show", "acme", "--json"])
    view = json.loads(shown.output)
    assert view["suppression"]["SuppressionScope"] == "TENANT"
    assert len(view["resources"]) == 3
    missing = runner.invoke(main, ["tenant", "show", "nobody"])
    assert missing.exit_code == 1
    bad = runner.invoke(main, ["tenant", "create", "a b"])
    assert bad.exit_code != 0
    assert "tenant name" in bad.output
    monkeypatch.setenv("COURRIER_DATABASE_URL", f"sqlite:///{tmp_path}/sent.db")
    sandbox.set_account(production=True)
    sent = runner.invoke(
        main, ["send", "--to", "a@example.org", "--subject", "s", "--text", "t", "--tenant", "acme"]
    )
    assert sent.exit_code == 0, sent.output
    unknown = runner.invoke(
        main, ["send", "--to", "a@example.org", "--subject", "s", "--text", "t", "--tenant", "x"]
    )
    assert unknown.exit_code != 0
    assert "courrier tenant create" in unknown.output
    deleted = runner.invoke(main, ["tenant", "delete", "acme", "--yes"])
    assert deleted.exit_code == 0, deleted.output
    assert runner.invoke(main, ["tenant", "list"]).output == ""
