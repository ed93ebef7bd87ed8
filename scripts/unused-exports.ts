// `node scripts/unused-exports.ts`: fails on an export of src/ that nothing uses (export it no more,
// or delete it), and on one only tests use (dead code kept alive by its tests). A use is any
// reference resolved by the type checker, through imports and re-exports, outside the declaration.
// An export kept on purpose for a contract test says so with a `@public` JSDoc tag and its reason.
import { relative, resolve, sep } from 'node:path';
import ts from 'typescript';

const root = resolve(import.meta.dirname, '..');

export interface ExportUse {
  file: string;
  name: string;
  usedBy: 'nothing' | 'tests only';
}

function program(): ts.Program {
  const config = ts.readConfigFile(resolve(root, 'tsconfig.json'), (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  return ts.createProgram(parsed.fileNames, parsed.options);
}

const isSrc = (file: string): boolean => relative(root, file).startsWith(`src${sep}`);

/** Every symbol referenced from src/ and from elsewhere (tests, scripts), aliases resolved. */
function references(p: ts.Program, checker: ts.TypeChecker): { inSrc: Set<ts.Symbol>; elsewhere: Set<ts.Symbol> } {
  const inSrc = new Set<ts.Symbol>();
  const elsewhere = new Set<ts.Symbol>();
  for (const sf of p.getSourceFiles()) {
    if (sf.isDeclarationFile || sf.fileName.includes(`${sep}node_modules${sep}`) || sf.fileName.includes('/node_modules/')) continue;
    const into = isSrc(sf.fileName) ? inSrc : elsewhere;
    const visit = (node: ts.Node): void => {
      if (ts.isIdentifier(node) && !isDeclarationName(node)) {
        let symbol = checker.getSymbolAtLocation(node);
        if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
        if (symbol) into.add(symbol);
        // `{ a }` shorthand: the identifier is also a use of the value `a`.
        if (ts.isShorthandPropertyAssignment(node.parent)) {
          const value = checker.getShorthandAssignmentValueSymbol(node.parent);
          if (value) into.add(value);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { inSrc, elsewhere };
}

function isDeclarationName(node: ts.Identifier): boolean {
  const parent = node.parent;
  if (ts.isImportSpecifier(parent) || ts.isExportSpecifier(parent) || ts.isImportClause(parent) || ts.isNamespaceImport(parent)) return true;
  if (ts.isShorthandPropertyAssignment(parent) || ts.isPropertyAccessExpression(parent)) return false;
  return ts.getNameOfDeclaration(parent as ts.Declaration) === node;
}

export function unusedExports(): ExportUse[] {
  const p = program();
  const checker = p.getTypeChecker();
  const { inSrc, elsewhere } = references(p, checker);
  const found: ExportUse[] = [];
  for (const sf of p.getSourceFiles()) {
    if (!isSrc(sf.fileName)) continue;
    const moduleSymbol = checker.getSymbolAtLocation(sf);
    if (!moduleSymbol) continue;
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      // A re-export (`export { x } from './y.ts'`) is judged where x is declared.
      if (symbol !== exported || symbol.declarations?.every((d) => d.getSourceFile() !== sf)) continue;
      if (inSrc.has(symbol) || symbol.declarations?.some((d) => ts.getJSDocTags(d).some((t) => t.tagName.text === 'public'))) continue;
      found.push({ file: relative(root, sf.fileName), name: exported.name, usedBy: elsewhere.has(symbol) ? 'tests only' : 'nothing' });
    }
  }
  return found.sort((a, b) => a.file.localeCompare(b.file) || a.name.localeCompare(b.name));
}

function main(): void {
  const found = unusedExports();
  if (!found.length) {
    process.stdout.write('every export of src/ is used by src/\n');
    return;
  }
  for (const f of found) process.stderr.write(`${f.file}: ${f.name} is exported but used by ${f.usedBy}\n`);
  process.stderr.write(`${found.length} export(s) of src/ unused by src/: delete them, or drop the export\n`);
  process.exit(1);
}

if (resolve(process.argv[1] ?? '') === resolve(import.meta.filename)) main();
