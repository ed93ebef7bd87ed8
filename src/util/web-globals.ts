// Node defines the fetch API's classes (FormData, Headers, Request, Response) as lazy globals: the
// first read of any of them loads Node's bundled undici, about 40 ms of CPU. The Azure SDKs read
// `typeof FormData` on every request to detect a multipart body, which the action never sends, so
// every run paid for an HTTP stack it does not use. Measured in docs/performance.md, "Process start".

/**
 * Removes the `FormData` global for the rest of the process, so a multipart check costs nothing.
 * Deleting does not load undici (reading, or redefining it on Node 24, does). For the action's
 * entries only: its process sends no form data; `fetch`, `Headers` and the rest stay as they are.
 */
export function dropFormDataGlobal(): void {
  delete (globalThis as { FormData?: unknown }).FormData;
}
