// Placeholder: the sandbox issues replace this with a start of the local Azure + Kubernetes world.
export default async function globalSetup(): Promise<void> {}
