// ensureLowkeyJar / findJava with stand-in `mvn` and `java` scripts (no registry is asked).
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureLowkeyJar, findJava, LOWKEY_VERSION } from '../../sandbox/azure/vault/lowkey.ts';

let dir: string;
let bin: string;
const savedJava = process.env.AKV_AKS_JAVA;

function script(name: string, body: string): string {
  const p = join(bin, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lowkey-test-'));
  bin = join(dir, 'bin');
  mkdirSync(bin);
});

afterEach(() => {
  if (savedJava === undefined) delete process.env.AKV_AKS_JAVA;
  else process.env.AKV_AKS_JAVA = savedJava;
  rmSync(dir, { recursive: true, force: true });
});

describe('ensureLowkeyJar', () => {
  it('asks Maven for the pinned artifact once and returns the cached jar', async () => {
    const calls = join(dir, 'calls');
    // the stand-in writes the jar named after -Dartifact into -DoutputDirectory
    const mvn = script(
      'mvn',
      `echo "$@" >> ${calls}
for a in "$@"; do case "$a" in -DoutputDirectory=*) out="\${a#-DoutputDirectory=}";; -Dartifact=*) art="\${a#-Dartifact=}";; esac; done
v=$(echo "$art" | cut -d: -f3); a=$(echo "$art" | cut -d: -f2)
echo jar > "$out/$a-$v.jar"`,
    );
    const lines: string[] = [];
    const jar = await ensureLowkeyJar(join(dir, 'cache'), (m) => lines.push(m), { mvn });
    expect(jar).toBe(join(dir, 'cache', 'lowkey-vault', `lowkey-vault-app-${LOWKEY_VERSION}.jar`));
    expect(readFileSync(calls, 'utf8')).toContain(`-Dartifact=com.github.nagyesta.lowkey-vault:lowkey-vault-app:${LOWKEY_VERSION}:jar`);
    expect(lines.some((l) => l.includes('first start only'))).toBe(true);
    await ensureLowkeyJar(join(dir, 'cache'), () => undefined, { mvn });
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('returns undefined when the registry refuses, and remembers it for a day', async () => {
    const calls = join(dir, 'calls');
    const mvn = script('mvn', `echo call >> ${calls}\necho "[ERROR] Could not find artifact com.github.nagyesta.lowkey-vault:lowkey-vault-app:jar" ; exit 1`);
    const lines: string[] = [];
    expect(await ensureLowkeyJar(join(dir, 'cache'), (m) => lines.push(m), { mvn })).toBeUndefined();
    expect(lines.join('\n')).toContain('the registry does not serve this artifact');
    expect(existsSync(join(dir, 'cache', 'lowkey-vault', `${LOWKEY_VERSION}.unavailable`))).toBe(true);
    expect(await ensureLowkeyJar(join(dir, 'cache'), () => undefined, { mvn })).toBeUndefined();
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toHaveLength(1);
    // force asks again
    await ensureLowkeyJar(join(dir, 'cache'), () => undefined, { force: true, mvn });
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toHaveLength(2);
  });
});

describe('findJava', () => {
  it('takes AKV_AKS_JAVA when it is recent enough, and skips an older one', async () => {
    const j25 = script('java25', `echo 'openjdk version "25.0.1" 2025-10-21' >&2`);
    process.env.AKV_AKS_JAVA = j25;
    expect(await findJava(25)).toBe(j25);
    const j8 = script('java8', `echo 'java version "1.8.0_402"' >&2`);
    process.env.AKV_AKS_JAVA = j8;
    expect(await findJava(25)).not.toBe(j8);
    expect(await findJava(8)).toBe(j8);
  });
});
