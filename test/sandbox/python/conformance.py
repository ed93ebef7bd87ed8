"""Drives the running sandbox with the Azure SDK for Python, a client nobody here wrote.

Reads the sandbox environment (the keys of .sandbox/env.json) from the process environment, runs
login, identity + federated credential, role assignment (twice), vault get/list/set-policy and the
secret lifecycle, and prints one JSON line per check: {"check": name, "ok": bool, "detail": str}.
Exits 1 when a check fails. Secret values are never printed.
"""

import json
import os
import ssl
import sys
import traceback
import urllib.request
import uuid

from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.identity import ClientAssertionCredential
from azure.keyvault.secrets import SecretClient
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.keyvault.models import AccessPolicyEntry, Permissions, VaultAccessPolicyParameters, VaultAccessPolicyProperties
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient

ENV = os.environ
TENANT = ENV["AKV_AKS_SANDBOX_TENANT_ID"]
SUB = ENV["AKV_AKS_SANDBOX_SUBSCRIPTION_ID"]
ARM = ENV["AKV_AKS_ARM_ENDPOINT"]
ARM_SCOPE = "https://management.azure.com/.default"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
RUN = uuid.uuid4().hex[:8]

results = []


def check(name):
    """Records the decorated step's outcome; a step returns its detail text."""

    def wrap(fn):
        try:
            detail = fn()
            results.append({"check": name, "ok": True, "detail": str(detail or "")})
        except Exception as e:  # noqa: BLE001 - every failure is a failed check
            results.append({"check": name, "ok": False, "detail": f"{type(e).__name__}: {e}"[:2000]})
            traceback.print_exc(file=sys.stderr)
        return fn

    return wrap


def github_token():
    """The runner's ID-token endpoint, with the scheme spelled in lower case (HTTP schemes are case-insensitive)."""
    url = ENV["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=api://AzureADTokenExchange"
    req = urllib.request.Request(url, headers={"Authorization": "bearer " + ENV["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]})
    ctx = ssl.create_default_context(cafile=ENV["REQUESTS_CA_BUNDLE"])
    with urllib.request.urlopen(req, context=ctx) as res:
        return json.load(res)["value"]


credential = ClientAssertionCredential(
    TENANT,
    ENV["AKV_AKS_SANDBOX_CLIENT_ID"],
    github_token,
    authority=ENV["AKV_AKS_AUTHORITY_HOST"],
    # MSAL's instance discovery asks the public cloud's host about unknown authorities.
    disable_instance_discovery=True,
)
mgmt = {"base_url": ARM, "credential_scopes": [ARM_SCOPE]}
subs = SubscriptionClient(credential, **mgmt)
resources = ResourceManagementClient(credential, SUB, **mgmt)
msi = ManagedServiceIdentityClient(credential, SUB, **mgmt)
authz = AuthorizationManagementClient(credential, SUB, **mgmt)
kv = KeyVaultManagementClient(credential, SUB, **mgmt)
state = {}


@check("login: token for ARM")
def _():
    return f"expires_on={credential.get_token(ARM_SCOPE).expires_on}"


@check("subscriptions list / get, tenants list")
def _():
    listed = [s.subscription_id for s in subs.subscriptions.list()]
    assert listed == [SUB], listed
    assert subs.subscriptions.get(SUB).tenant_id == TENANT
    tenants = [t.tenant_id for t in subs.tenants.list()]
    assert tenants == [TENANT], tenants
    return "ok"


@check("identity create + federated credential create / list")
def _():
    name = f"id-py-{RUN}"
    ident = msi.user_assigned_identities.create_or_update("rg-ids", name, {"location": "eastus"})
    state["principal"] = ident.principal_id
    for n in ("fic-a", "fic-b"):
        msi.federated_identity_credentials.create_or_update(
            "rg-ids", name, n, {"issuer": "https://issuer.example", "subject": f"system:serviceaccount:py:{n}", "audiences": ["api://AzureADTokenExchange"]}
        )
    names = sorted(f.name for f in msi.federated_identity_credentials.list("rg-ids", name, top=1))
    assert names == ["fic-a", "fic-b"], names
    return f"principal {ident.principal_id}"


@check("role definition by name, role assignment create twice")
def _():
    scope = f"/subscriptions/{SUB}/resourceGroups/rg-sandbox/providers/Microsoft.KeyVault/vaults/kv-sandbox"
    defs = list(authz.role_definitions.list(scope, filter="roleName eq 'Key Vault Secrets User'"))
    assert [d.name for d in defs] == [SECRETS_USER], [d.name for d in defs]
    params = {"role_definition_id": defs[0].id, "principal_id": state["principal"], "principal_type": "ServicePrincipal"}
    authz.role_assignments.create(scope, str(uuid.uuid4()), params)
    try:
        authz.role_assignments.create(scope, str(uuid.uuid4()), params)
    except ResourceExistsError as e:
        assert e.error.code == "RoleAssignmentExists", e.error.code
        return "second create: 409 RoleAssignmentExists"
    raise AssertionError("the second identical role assignment was accepted")


@check("vault get, vault list, resources list with $filter")
def _():
    vault = kv.vaults.get("rg-sandbox", "kv-legacy")
    state["legacy_uri"] = vault.properties.vault_uri
    state["sandbox_uri"] = kv.vaults.get("rg-sandbox", "kv-sandbox").properties.vault_uri
    listed = sorted(v.name for v in kv.vaults.list())
    assert {"kv-sandbox", "kv-legacy"} <= set(listed), listed
    filtered = [r.name for r in resources.resources.list(filter="resourceType eq 'Microsoft.KeyVault/vaults' and name eq 'kv-legacy'")]
    assert filtered == ["kv-legacy"], filtered
    return ", ".join(listed)


@check("set-policy: vault access policy add, then full vault PUT")
def _():
    entry = AccessPolicyEntry(tenant_id=TENANT, object_id=state["principal"], permissions=Permissions(secrets=["get", "list"]))
    kv.vaults.update_access_policy("rg-sandbox", "kv-legacy", "add", VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=[entry])))
    vault = kv.vaults.get("rg-sandbox", "kv-legacy")
    assert any(p.object_id == state["principal"] for p in vault.properties.access_policies)
    # `az keyvault set-policy` writes the whole vault back with create_or_update
    vault.properties.access_policies = [p for p in vault.properties.access_policies if p.object_id != state["principal"]]
    kv.vaults.begin_create_or_update("rg-sandbox", "kv-legacy", {"location": vault.location, "properties": vault.properties}).result()
    after = kv.vaults.get("rg-sandbox", "kv-legacy")
    assert not any(p.object_id == state["principal"] for p in after.properties.access_policies)
    return "added, then removed by PUT"


@check("secret set / get / list / delete / recover")
def _():
    # The sandbox vault lives on 127.0.0.1 while its challenge names https://vault.azure.net.
    client = SecretClient(state["sandbox_uri"], credential, verify_challenge_resource=False)
    name = f"py-{RUN}"
    client.set_secret(name, "value-" + RUN)
    got = client.get_secret(name)
    assert got.value == "value-" + RUN
    assert got.properties.recoverable_days == 90, got.properties.recoverable_days
    assert name in [p.name for p in client.list_properties_of_secrets()]
    client.begin_delete_secret(name).result()
    client.begin_recover_deleted_secret(name).result()
    assert client.get_secret(name).value == "value-" + RUN
    return f"recovery level {got.properties.recovery_level}"


for r in results:
    print(json.dumps(r), flush=True)
sys.exit(0 if results and all(r["ok"] for r in results) else 1)
