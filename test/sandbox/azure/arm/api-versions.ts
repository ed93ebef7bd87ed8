// Every api-version Azure publishes for the resource types and data planes the sandbox serves,
// GA and preview, newest first. Source: the Azure REST API specifications,
// github.com/Azure/azure-rest-api-specs, where each `stable/<version>` / `preview/<version>`
// folder is one version (paths and the commit each list was read at are given per list).

/**
 * Microsoft.ManagedIdentity/userAssignedIdentities.
 * specification/msi/resource-manager/Microsoft.ManagedIdentity/ManagedIdentity/{stable,preview}/
 * (readme.md at 6192b16c3fe54a97adbda3daed439d347b36cc4a; stable/2026-04-30 at 78815fd071c220a062053b652ff3d49e9b0bc9d4)
 */
export const MSI_IDENTITY_VERSIONS = [
  '2026-05-31',
  '2026-04-30',
  '2025-05-31-preview',
  '2025-01-31-preview',
  '2024-11-30',
  '2023-07-31-preview',
  '2023-01-31',
  '2022-01-31-preview',
  '2021-09-30-preview',
  '2018-11-30',
  '2015-08-31-preview',
] as const;

/** federatedIdentityCredentials first appear in 2022-01-31-preview (same folders as above). */
export const MSI_FIC_VERSIONS = MSI_IDENTITY_VERSIONS.filter((v) => v >= '2022-01-31');

/**
 * Microsoft.Authorization/roleAssignments: the folders holding authorization-RoleAssignmentsCalls.json.
 * specification/authorization/resource-manager/Microsoft.Authorization/{stable,preview}/
 * (readme.md at 007a51db374076edb902fd44eb8299eea6336335; preview/2022-05-01-preview at 63ce90c1166dbc24e3da9ced1b7916fd8ea02d06)
 */
export const ROLE_ASSIGNMENT_VERSIONS = [
  '2022-05-01-preview',
  '2022-04-01',
  '2020-10-01-preview',
  '2020-08-01-preview',
  '2020-04-01-preview',
  '2020-03-01-preview',
  '2018-09-01-preview',
  '2018-01-01-preview',
  '2017-10-01-preview',
  '2015-07-01',
] as const;

/** Microsoft.Authorization/roleDefinitions: the folders holding authorization-RoleDefinitionsCalls.json (same commits). */
export const ROLE_DEFINITION_VERSIONS = ['2022-05-01-preview', '2022-04-01', '2018-01-01-preview', '2015-07-01'] as const;

/**
 * Microsoft.KeyVault/vaults (+ accessPolicies, managedHSMs).
 * specification/keyvault/resource-manager/Microsoft.KeyVault/KeyVault/{stable,preview}/
 * (readme.md at 07de5c4a7e99ce23b17f008f8209255d87640ab6; stable/2026-05-15 at 404a246188594f8926dbe2c4c9509a81df6e5dbe,
 * the default of azure-mgmt-keyvault 14.1.0)
 */
export const KEYVAULT_VERSIONS = [
  '2026-05-15',
  '2026-03-01-preview',
  '2026-02-01',
  '2025-05-01',
  '2024-12-01-preview',
  '2024-11-01',
  '2024-04-01-preview',
  '2023-07-01',
  '2023-02-01',
  '2022-11-01',
  '2022-07-01',
  '2022-02-01-preview',
  '2021-11-01-preview',
  '2021-10-01',
  '2021-06-01-preview',
  '2021-04-01-preview',
  '2020-04-01-preview',
  '2019-09-01',
  '2018-02-14',
  '2018-02-14-preview',
  '2016-10-01',
  '2015-06-01',
] as const;

/**
 * Microsoft.Resources: subscriptions / tenants and the generic resources list (`az keyvault list`
 * reads vaults through it at 2015-11-01: the KeyVault readme's "Vaults_List API endpoint only
 * supports version 2015-11-01").
 * specification/resources/resource-manager/Microsoft.Resources/subscriptions/readme.md (at 1311a1c78a628ebfe9d54eabb538587fcaaa3d90)
 * specification/resources/resource-manager/Microsoft.Resources/resources/readme.md (at 01fd66f3aee58e0bb99d208692333687a9a0e54f)
 */
export const SUBSCRIPTIONS_VERSIONS = ['2022-12-01', '2021-01-01', '2020-01-01', '2019-11-01', '2019-06-01', '2018-06-01', '2016-06-01', '2015-11-01'] as const;
export const RESOURCES_VERSIONS = [
  '2025-08-01-preview',
  '2025-04-01',
  '2025-03-01',
  '2024-11-01',
  '2024-07-01',
  '2024-03-01',
  '2023-07-01',
  '2022-09-01',
  '2021-04-01',
  '2021-01-01',
  '2020-10-01',
  '2020-08-01',
  '2020-06-01',
  '2019-10-01',
  '2019-08-01',
  '2019-07-01',
  '2019-05-10',
  '2019-05-01',
  '2019-03-01',
  '2018-05-01',
  '2018-02-01',
  '2017-05-10',
  '2016-09-01',
  '2016-07-01',
  '2016-02-01',
  '2015-11-01',
] as const;

/**
 * ARM's cloud metadata document (`GET /metadata/endpoints`): 2015-01-01 answers one object (what
 * `az cloud register --endpoint-resource-manager` reads), later versions an array of clouds.
 */
export const METADATA_VERSIONS = ['2022-09-01', '2020-06-01', '2019-05-01', '2018-01-01', '2015-01-01'] as const;

/**
 * Key Vault data plane (secrets, keys, certificates).
 * specification/keyvault/data-plane/ (readme.md at 01707c427716af94a1f70a85778e8eec2c387637:
 * 2015-06-01 ... 7.4-preview.1) and Security.KeyVault.Secrets/main.tsp (322ca802b79740643d0ca38363943df27f9168f9:
 * 7.6-preview.1, 7.6-preview.2); 7.4, 7.5, 7.6, 2025-07-01 and 2026-04-01 are the GA versions the
 * SDKs send.
 */
export const KEYVAULT_DATA_VERSIONS = [
  '2026-04-01',
  '2025-07-01',
  '7.6',
  '7.6-preview.2',
  '7.6-preview.1',
  '7.5',
  '7.5-preview.1',
  '7.4',
  '7.4-preview.1',
  '7.3',
  '7.3-preview',
  '7.2',
  '7.2-preview',
  '7.1',
  '7.1-preview',
  '7.0',
  '7.0-preview',
  '2016-10-01',
  '2015-06-01',
] as const;

/** True when `version` is `since` or newer (api-versions compare by their date prefix). */
export function atLeast(version: string, since: string): boolean {
  return version.slice(0, 10) >= since;
}
