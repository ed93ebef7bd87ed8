// The action's own workflow commands against @actions/core's (the runner's reference client, kept as
// a dev dependency for this): the same lines for hostile text, the same outputs file, the same summary.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as reference from '@actions/core';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as runner from '../../../src/runner/index.ts';
import { commandLine, escapeData, escapeProperty, setSecrets } from '../../../src/runner/commands.ts';
import { Summary } from '../../../src/runner/summary.ts';

const HOSTILE = ['plain', 'a%b', 'line1\nline2', 'cr\rlf\r\n', '::error::injected', 'key=v,alt:x', '%0A', '', ' spaced ', 'ünïcödé ✓'];

/** What `fn` writes to stdout. */
function stdoutOf(fn: () => void): string {
  const original = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stdout.write;
  try {
    fn();
  } finally {
    process.stdout.write = original;
  }
  return out;
}

describe('workflow commands', () => {
  it.each(HOSTILE)('error, warning, debug, add-mask and info print what @actions/core prints for %j', (text) => {
    const props = { title: text, file: `src/${text}.yaml`, startLine: 3, startColumn: 7, endLine: 4, endColumn: 1 };
    expect(stdoutOf(() => runner.error(text, props))).toBe(stdoutOf(() => reference.error(text, props)));
    // With only empty properties @actions/core leaves a space after the name (`::warning ::`); both parse alike.
    const theirs = stdoutOf(() => reference.warning(text, { title: text }));
    expect(stdoutOf(() => runner.warning(text, { title: text }))).toBe(text ? theirs : theirs.replace('::warning ::', '::warning::'));
    process.env.RUNNER_DEBUG = '1';
    try {
      expect(stdoutOf(() => runner.debug(text))).toBe(stdoutOf(() => reference.debug(text)));
    } finally {
      delete process.env.RUNNER_DEBUG;
    }
    expect(stdoutOf(() => runner.setSecret(text))).toBe(stdoutOf(() => reference.setSecret(text)));
    expect(stdoutOf(() => runner.info(text))).toBe(stdoutOf(() => reference.info(text)));
  });

  it('debug lines are written only when the runner shows them (RUNNER_DEBUG=1)', () => {
    delete process.env.RUNNER_DEBUG;
    expect(stdoutOf(() => runner.debug('hidden'))).toBe('');
    process.env.RUNNER_DEBUG = '0';
    expect(stdoutOf(() => runner.debug('hidden'))).toBe('');
    process.env.RUNNER_DEBUG = '1';
    expect(stdoutOf(() => runner.debug('shown'))).toBe('::debug::shown\n');
    delete process.env.RUNNER_DEBUG;
  });

  it('many masks in one write print what setSecret prints for each, in order', () => {
    const texts = HOSTILE.filter(Boolean);
    let writes = 0;
    const batched = stdoutOf(() => {
      const counting = process.stdout.write;
      process.stdout.write = ((chunk: string) => (writes++, counting(chunk))) as typeof process.stdout.write;
      try {
        setSecrets(texts);
        setSecrets([]);
      } finally {
        process.stdout.write = counting;
      }
    });
    expect(writes).toBe(1);
    expect(batched).toBe(texts.map((t) => stdoutOf(() => reference.setSecret(t))).join(''));
  });

  it('no data or property can end its command line or start another', () => {
    for (const t of HOSTILE) {
      expect(escapeData(t)).not.toMatch(/[\r\n]/);
      expect(escapeProperty(t)).not.toMatch(/[\r\n:,]/);
      expect(commandLine('warning', { title: t }, t).split('\n')).toHaveLength(1);
    }
  });

  it('a group wraps what its function prints, and ends even when the function throws', async () => {
    const lines: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      lines.push(chunk);
      return true;
    }) as typeof process.stdout.write;
    try {
      await expect(
        runner.group('Sync\nx', async () => {
          runner.info('inside');
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
    } finally {
      process.stdout.write = original;
    }
    expect(lines.join('')).toBe('::group::Sync%0Ax\ninside\n::endgroup::\n');
  });

  it('setFailed sets exit code 1 and annotates the error', () => {
    const before = process.exitCode;
    try {
      expect(stdoutOf(() => runner.setFailed('it failed'))).toBe('::error::it failed\n');
      expect(process.exitCode).toBe(1);
    } finally {
      process.exitCode = before;
    }
  });
});

describe('inputs and outputs', () => {
  let dir: string;
  const saved = { ...process.env };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'akv-aks-runner-'));
  });
  afterEach(() => {
    process.env = { ...saved };
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads an input as the runner passes it, as @actions/core does', () => {
    process.env['INPUT_PROVE-ACCESS'] = '  changed \n';
    process.env.INPUT_MY_INPUT = 'x';
    for (const name of ['prove-access', 'my input', 'absent']) expect(runner.getInput(name)).toBe(reference.getInput(name));
    expect(runner.getInput('prove-access')).toBe('changed');
  });

  it('writes an output to GITHUB_OUTPUT in the heredoc form @actions/core writes, multi-line values included', () => {
    const ours = join(dir, 'ours.txt');
    const theirs = join(dir, 'theirs.txt');
    writeFileSync(ours, '');
    writeFileSync(theirs, '');
    const value = '{"a":1}\nsecond line\r\n';
    process.env.GITHUB_OUTPUT = ours;
    runner.setOutput('report', value);
    process.env.GITHUB_OUTPUT = theirs;
    reference.setOutput('report', value);
    const normalize = (t: string): string => t.replace(/ghadelimiter_[0-9a-f-]{36}/g, 'DELIMITER');
    expect(normalize(readFileSync(ours, 'utf8'))).toBe(normalize(readFileSync(theirs, 'utf8')));
    expect(readFileSync(ours, 'utf8')).toMatch(/^report<<ghadelimiter_[0-9a-f-]{36}\n/);
  });

  it('refuses an outputs file that does not exist rather than creating one', () => {
    process.env.GITHUB_OUTPUT = join(dir, 'missing.txt');
    expect(() => runner.setOutput('x', 'y')).toThrow(/Missing file at path/);
  });
});

describe('the job summary', () => {
  it('builds the same HTML as @actions/core for every element the report uses', () => {
    const build = (s: Pick<Summary, 'addHeading' | 'addRaw' | 'addTable' | 'addDetails' | 'addList' | 'addCodeBlock' | 'addEOL'>): void => {
      s.addHeading('Key Vault → AKS secrets', 2).addRaw('headline', true);
      s.addHeading('Changes', 3).addHeading('odd level', 9);
      s.addTable([
        [
          { data: 'Kind', header: true },
          { data: 'Name', header: true },
        ],
        ['secret', 'a &amp; b'],
        [{ data: 'wide', colspan: 2 }],
      ]);
      s.addDetails('3 unchanged', '\n\n<table></table>\n');
      s.addList(['one', 'two']).addList(['first'], true);
      s.addCodeBlock('error text').addEOL();
    };
    const ours = new Summary();
    build(ours);
    reference.summary.emptyBuffer();
    build(reference.summary as unknown as Summary);
    expect(ours.stringify()).toBe(reference.summary.stringify());
    reference.summary.emptyBuffer();
  });

  it('appends to GITHUB_STEP_SUMMARY and empties the buffer; names the variable when it is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'akv-aks-summary-'));
    const saved = process.env.GITHUB_STEP_SUMMARY;
    try {
      const file = join(dir, 'summary.md');
      writeFileSync(file, 'before\n');
      process.env.GITHUB_STEP_SUMMARY = file;
      const s = new Summary().addHeading('x', 3);
      await s.write();
      expect(readFileSync(file, 'utf8')).toBe('before\n<h3>x</h3>\n');
      expect(s.stringify()).toBe('');
      delete process.env.GITHUB_STEP_SUMMARY;
      await expect(new Summary().addRaw('y').write()).rejects.toThrow(/GITHUB_STEP_SUMMARY/);
    } finally {
      if (saved === undefined) delete process.env.GITHUB_STEP_SUMMARY;
      else process.env.GITHUB_STEP_SUMMARY = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
