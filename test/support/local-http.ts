// Real local HTTP servers for the unit tests of the action's own HTTP clients (login, the job's ID
// token, ARM and Key Vault reads, proxies). A handler gets the request, its whole body and the response.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type LocalHandler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

const open: Server[] = [];

/** Starts a server on 127.0.0.1 and returns its origin (`http://127.0.0.1:<port>`). */
export async function serve(handler: LocalHandler): Promise<string> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => handler(req, body, res));
  });
  open.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes every server started so far (from afterEach or afterAll). */
export async function closeServers(): Promise<void> {
  await Promise.all(open.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
}

/** A JSON answer. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
