// Bundles the action with ncc into dist/ (committed; `--check` verifies it is byte-identical to a
// fresh build, as CI does). The pipeline is bundled once, minified, into dist/lib/; the action's
// entries (dist/index.js, dist/verify/index.js) are src/main.ts and src/verify.ts with their one
// import pointed at that bundle, so the sub-action costs no second copy. The CLI, which needs no
// SDK, has its own small bundle.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { minify } from 'terser';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const ncc = join(root, 'node_modules', '@vercel', 'ncc', 'dist', 'ncc', 'cli.js');

const BUNDLES: Array<{ src: string; out: string; shebang?: boolean }> = [
  { src: 'src/pipeline/action.ts', out: 'lib' },
  { src: 'src/cli/main.ts', out: 'cli', shebang: true },
];
const ENTRIES: Array<{ src: string; out: string; lib: string }> = [
  { src: 'src/main.ts', out: 'index.js', lib: './lib/index.js' },
  { src: 'src/verify.ts', out: 'verify/index.js', lib: '../lib/index.js' },
];

async function build(outDir: string): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  for (const b of BUNDLES) {
    const dir = join(outDir, b.out);
    execFileSync(process.execPath, [ncc, 'build', join(root, b.src), '-o', dir, '-m', '--license', 'licenses.txt', '--target', 'es2023', '-q'], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    // ncc minifies its entry file only; the chunks of dynamic imports get the same treatment here.
    for (const chunk of readdirSync(dir).filter((f) => /^\d+\.index\.js$/.test(f))) {
      const file = join(dir, chunk);
      const result = await minify(readFileSync(file, 'utf8'), { module: true, compress: true, mangle: true, format: { comments: false } });
      if (result.code === undefined) throw new Error(`terser produced nothing for ${file}`);
      writeFileSync(file, result.code);
    }
    if (b.shebang) {
      const file = join(dir, 'index.js');
      const text = readFileSync(file, 'utf8');
      if (!text.startsWith('#!')) writeFileSync(file, `#!/usr/bin/env node\n${text}`);
      chmodSync(file, 0o755);
    }
  }
  for (const e of ENTRIES) {
    const text = readFileSync(join(root, e.src), 'utf8');
    if (!text.includes("'./pipeline/action.ts'")) throw new Error(`${e.src} must import './pipeline/action.ts' (the bundled pipeline)`);
    const file = join(outDir, e.out);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text.replace("'./pipeline/action.ts'", `'${e.lib}'`));
  }
  writeFileSync(join(outDir, 'package.json'), '{ "type": "module" }\n');
  // The manifest's JSON Schema ships with the action, for editors (yaml-language-server).
  const schema = join(root, 'src', 'manifest', 'schema.json');
  if (existsSync(schema)) cpSync(schema, join(outDir, 'akv-aks.schema.json'));
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

if (process.argv.includes('--check')) {
  const fresh = mkdtempSync(join(tmpdir(), 'akv-aks-dist-'));
  await build(fresh);
  const committed = join(root, 'dist');
  const a = listFiles(committed);
  const b = listFiles(fresh);
  const differing = [...new Set([...a, ...b])].filter((f) => !a.includes(f) || !b.includes(f) || !readFileSync(join(committed, f)).equals(readFileSync(join(fresh, f))));
  rmSync(fresh, { recursive: true, force: true });
  if (differing.length) {
    console.error(`dist/ is stale: ${differing.join(', ')} differ from a fresh build. Run: npm run build, and commit dist/.`);
    process.exit(1);
  }
  console.log('dist/ matches a fresh build of src/.');
} else {
  await build(join(root, 'dist'));
  for (const f of listFiles(join(root, 'dist'))) {
    console.log(`${(statSync(join(root, 'dist', f)).size / 1024).toFixed(0).padStart(6)} kB  dist/${f}`);
  }
}
