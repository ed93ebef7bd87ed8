// Reading the manifest file: only a regular text file of bounded size, read with a bounded read, so a
// path naming a directory, a FIFO, a device, a kernel pseudo-file (/proc/self/environ) or a symlink
// out of the workspace is refused before a byte of it can reach a message.
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { logSafe } from '../util/escape.ts';
import { MAX_MANIFEST_BYTES } from './limits.ts';

/** A manifest that cannot be read; the message is one line, `FILE: error: ...`, without file text. */
export class ManifestReadError extends Error {
  readonly code: string;
  constructor(shownAs: string, code: string, reason: string) {
    super(`${logSafe(shownAs)}: error: ${reason}`);
    this.name = 'ManifestReadError';
    this.code = code;
  }
}

export interface ReadOptions {
  /** Name used in messages (the path as the user wrote it). */
  shownAs?: string;
  /** When set, the file's real path (symlinks resolved) must lie inside this directory. */
  within?: string;
}

/** Kernel pseudo-file systems: their files claim to be regular files of size 0. */
const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

const ERRNO_REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied: the manifest is not readable',
  EPERM: 'permission denied: the manifest is not readable',
  EISDIR: 'is a directory, not a manifest file',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the path is too long',
};

function fail(shownAs: string, e: unknown, extra = ''): never {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  throw new ManifestReadError(shownAs, code, `${ERRNO_REASONS[code] ?? `cannot read the manifest (${code})`}${extra}`);
}

function kindOf(stat: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Reads `file` as UTF-8 text: a regular file (a symlink is followed only to a regular file, inside
 * `within` when given), not under /proc, /sys or /dev, at most MAX_MANIFEST_BYTES, valid UTF-8
 * without NUL bytes. Throws ManifestReadError otherwise.
 */
export function readManifestText(file: string, opts: ReadOptions = {}): string {
  const shownAs = opts.shownAs ?? file;
  const real = allowedPath(file, opts.within, shownAs);
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the type check below then refuses it.
    fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (e) {
    fail(shownAs, e);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new ManifestReadError(shownAs, 'ENOTREG', `is ${kindOf(stat)}, not a manifest file`);
    if (stat.size > MAX_MANIFEST_BYTES) throw tooLarge(shownAs);
    return decodeText(readBounded(fd, stat.size, shownAs), shownAs);
  } finally {
    closeSync(fd);
  }
}

/** The file's real path, refused when it leaves `within` (or is in its .git) or is a kernel pseudo-file. */
function allowedPath(file: string, within: string | undefined, shownAs: string): string {
  let real: string;
  try {
    lstatSync(file); // a dangling symlink reads as ENOENT from realpath; lstat names the path itself
    real = realpathSync(file);
  } catch (e) {
    fail(shownAs, e);
  }
  if (within !== undefined) {
    let root: string;
    try {
      root = realpathSync(within);
    } catch {
      root = within;
    }
    if (!isInside(root, real)) {
      throw new ManifestReadError(shownAs, 'EOUTSIDE', 'resolves outside the workspace; the manifest must be a file in the repository');
    }
    if (isInside(`${root}${sep}.git`, real)) {
      throw new ManifestReadError(shownAs, 'EOUTSIDE', 'is inside .git, not a manifest file');
    }
  }
  if (PSEUDO_ROOTS.some((r) => isInside(r, real))) {
    throw new ManifestReadError(shownAs, 'EPSEUDO', 'is a kernel pseudo-file or device, not a manifest file');
  }
  return real;
}

/**
 * Reads until end of file but never past one byte more than the bound (a file that grew, or lied
 * about its size, is caught by that byte), whatever the size fstat reported.
 */
function readBounded(fd: number, size: number, shownAs: string): Buffer {
  let buf = Buffer.alloc(Math.min(MAX_MANIFEST_BYTES + 1, Math.max(size + 1, 64 * 1024)));
  let length = 0;
  for (;;) {
    if (length === buf.length) {
      if (buf.length > MAX_MANIFEST_BYTES) throw tooLarge(shownAs);
      const bigger = Buffer.alloc(Math.min(MAX_MANIFEST_BYTES + 1, buf.length * 2));
      buf.copy(bigger, 0, 0, length);
      buf = bigger;
    }
    let n: number;
    try {
      n = readSync(fd, buf, length, buf.length - length, null);
    } catch (e) {
      fail(shownAs, e);
    }
    if (n === 0) break;
    length += n;
  }
  if (length > MAX_MANIFEST_BYTES) throw tooLarge(shownAs);
  return buf.subarray(0, length);
}

function tooLarge(shownAs: string): ManifestReadError {
  return new ManifestReadError(shownAs, 'EFBIG', `is larger than ${MAX_MANIFEST_BYTES} bytes (1 MiB), the bound for a manifest`);
}

function decodeText(bytes: Buffer, shownAs: string): string {
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw new ManifestReadError(shownAs, 'EBINARY', `is not a text file (a NUL byte at offset ${nul})`);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ManifestReadError(shownAs, 'EBINARY', 'is not UTF-8 text');
  }
}
