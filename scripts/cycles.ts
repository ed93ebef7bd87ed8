// `node scripts/cycles.ts [DIR]`: fails when src/ has an import cycle, between files or between the
// top-level folders (src/vault, src/identity, ...; a file directly in src/ is its own unit). Imports
// are resolved by TypeScript's own module resolution with the project's tsconfig; type-only imports
// count, since a type living in the wrong module is what makes the runtime cycles of tomorrow. It also
// keeps the shared leaves (names.ts, plan/, util/) free of imports from the steps.
// The rules it enforces are in docs/architecture.md.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

const root = resolve(import.meta.dirname, '..');

export type Graph = Map<string, Set<string>>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

function compilerOptions(): ts.CompilerOptions {
  const config = ts.readConfigFile(join(root, 'tsconfig.json'), (p) => ts.sys.readFile(p));
  return ts.parseJsonConfigFileContent(config.config, ts.sys, root).options;
}

/** The file-level import graph of every .ts file under `dir`, keyed by path relative to `dir`. */
export function fileGraph(dir: string): Graph {
  const options = compilerOptions();
  const files = sourceFiles(dir);
  const graph: Graph = new Map(files.map((f) => [relative(dir, f), new Set<string>()]));
  for (const file of files) {
    const imports = ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles;
    for (const { fileName } of imports) {
      const resolved = ts.resolveModuleName(fileName, file, options, ts.sys).resolvedModule;
      if (!resolved || resolved.isExternalLibraryImport) continue;
      const target = relative(dir, resolved.resolvedFileName);
      if (graph.has(target)) graph.get(relative(dir, file))!.add(target);
    }
  }
  return graph;
}

/** Folder-level graph: src/vault/x.ts -> vault; src/context.ts -> context.ts. */
export function folderGraph(files: Graph): Graph {
  const unit = (f: string): string => f.split(sep)[0]!;
  const graph: Graph = new Map();
  for (const [from, tos] of files) {
    const edges = graph.get(unit(from)) ?? new Set<string>();
    graph.set(unit(from), edges);
    for (const to of tos) if (unit(to) !== unit(from)) edges.add(unit(to));
  }
  return graph;
}

/** Strongly connected components of more than one node (or a node importing itself), Tarjan. */
export function cycles(graph: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.has(v)) found.push(component.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** One concrete loop through a component, for the message: a -> b -> ... -> a. */
export function loopThrough(graph: Graph, component: string[]): string[] {
  const members = new Set(component);
  const start = component[0]!;
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(parent.get(path[0]!)!);
        return [...path, start];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...component, start];
}

/** Folders (and top-level files) every step may import: they import nothing of src/ but each other. */
export const LEAVES = ['names.ts', 'plan', 'util'];

/** Edges out of a leaf to anything but another leaf, as `from -> to`. */
export function leafViolations(folders: Graph): string[] {
  return LEAVES.flatMap((leaf) => [...(folders.get(leaf) ?? [])].filter((to) => !LEAVES.includes(to)).map((to) => `${leaf} -> ${to}`));
}

function describe(level: string, graph: Graph, component: string[]): string {
  const loop = `${level} cycle: ${loopThrough(graph, component).join(' -> ')}`;
  return component.length > 2 ? `${loop} (one loop of ${component.join(', ')})` : loop;
}

function main(): void {
  const dir = resolve(root, process.argv[2] ?? 'src');
  const files = fileGraph(dir);
  const folders = folderGraph(files);
  const problems = [
    ...cycles(files).map((c) => describe('file', files, c)),
    ...cycles(folders).map((c) => describe('folder', folders, c)),
    ...leafViolations(folders).map((edge) => `dependency-free module imports a step: ${edge}`),
  ];
  const where = relative(root, dir) || '.';
  if (problems.length) {
    process.stderr.write(`${problems.join('\n')}\n${problems.length} import cycle(s) in ${where}/ (rules: docs/architecture.md)\n`);
    process.exit(1);
  }
  process.stdout.write(`no import cycle in ${where}/ (${files.size} files, ${folders.size} folders)\n`);
}

if (resolve(process.argv[1] ?? '') === resolve(import.meta.filename)) main();
