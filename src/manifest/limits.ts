// Input bounds of a manifest, in one place (docs/input-bounds.md states them). Each keeps a hostile
// or broken file within a fixed time and memory budget while leaving room for real manifests.

/** Largest manifest file read: 1 MiB. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/** YAML tokens lexed before parsing: the parser's time and memory grow with this, not with bytes. */
export const MAX_YAML_TOKENS = 250_000;
/** Alias expansions (yaml's maxAliasCount): room for merge keys used by every target of a large file. */
export const MAX_ALIAS_COUNT = 1_000;
/** Entries of one YAML mapping. */
export const MAX_MAPPING_ENTRIES = 2_000;
/** Errors printed for one file; the rest are counted in one last line. */
export const MAX_REPORTED_ISSUES = 50;

/**
 * Count limits of the manifest's lists: schema.json enforces them as maxItems.
 * @public stated here for docs/input-bounds.md; test/unit/manifest/hostile-bounds.test.ts keeps the schema equal
 */
export const MAX_SECRETS = 5_000;
/** @public as MAX_SECRETS */
export const MAX_TARGETS = 200;
/** @public as MAX_SECRETS */
export const MAX_OBJECTS_PER_TARGET = 250;
/** Key Vault: at most 15 tags; names up to 512 characters, values up to 256. */
export const MAX_TAGS = 15;
/**
 * Tags a manifest may set on a secret: MAX_TAGS minus the eight the action adds to each version it
 * writes (`managed-by`, `akv-aks-instance`, `-manifest`, `-repository`, `-cluster`, `-commit`,
 * `-source`, `-digest`: vault/plan.ts).
 */
export const MAX_USER_TAGS = MAX_TAGS - 8;
/** Kubernetes: all annotations of one object together at most 256 KiB. */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;
/** A file name in the mount (objectAlias): Linux NAME_MAX, in UTF-8 bytes. */
export const MAX_FILE_NAME_BYTES = 255;
/** Longest `99999d`-style duration accepted: 100 years (a larger one cannot be a Key Vault date). */
export const MAX_DURATION_SECONDS = 100 * 366 * 86_400;
