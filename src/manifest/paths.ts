// Field paths and their source positions in the parsed YAML document.
import { isAlias, isMap, isPair, isScalar, isSeq } from 'yaml';
import type { Document, LineCounter, Node, Pair } from 'yaml';
import type { YamlLocator, YamlPath } from '../util/block-yaml.ts';
import { SHOWABLE } from '../util/escape.ts';
import type { Position } from './types.ts';

/** A field of the manifest: keys and list indexes from the root. */
export type FieldPath = YamlPath;

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `['targets', 0, 'objects', 1, 'alias']` -> `targets[0].objects[1].alias`. */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (PLAIN_KEY.test(seg)) out += out === '' ? seg : `.${seg}`;
    else if (SHOWABLE.test(seg)) out += `[${JSON.stringify(seg)}]`;
    else out += '[…]'; // a key that is not a plain name is not echoed: the position says which
  }
  return out;
}

interface Located {
  node?: Node;
  /** The key node when the last segment addressed a mapping entry. */
  key?: Node;
  /** How many segments were resolved (the rest do not exist in the source). */
  depth: number;
}

/** Maps field paths to positions in one YAML document. */
export class SourceMap implements YamlLocator {
  readonly #doc: Document;
  readonly #lines: LineCounter;

  constructor(doc: Document, lines: LineCounter) {
    this.#doc = doc;
    this.#lines = lines;
  }

  /** Key -> pair of each mapping, built on first use: a lookup per segment stays O(1). */
  readonly #index = new WeakMap<object, Map<string, Pair>>();

  #pair(map: { items: Pair[] }, key: string): Pair | undefined {
    let index = this.#index.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) {
        if (isPair(p) && isScalar(p.key)) {
          const k = String(p.key.value);
          if (!index.has(k)) index.set(k, p);
        }
      }
      this.#index.set(map, index);
    }
    return index.get(key);
  }

  #deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.#doc) : node;
  }

  #walk(path: FieldPath): Located {
    let node = this.#deref(this.#doc.contents) as Node | undefined;
    let key: Node | undefined;
    let depth = 0;
    for (const seg of path) {
      if (typeof seg === 'string' && isMap(node)) {
        const pair = this.#pair(node, seg);
        if (!pair) break;
        key = pair.key as Node;
        node = (this.#deref(pair.value) ?? undefined) as Node | undefined;
      } else if (typeof seg === 'number' && isSeq(node)) {
        const item = node.items[seg];
        if (item === undefined) break;
        key = undefined;
        node = this.#deref(item) as Node;
      } else {
        break;
      }
      depth++;
    }
    return { node, key, depth };
  }

  #pos(offset: number): Position {
    const { line, col } = this.#lines.linePos(offset);
    return { line, col };
  }

  /** As YamlLocator.locate. */
  locate(path: FieldPath, at: 'key' | 'value' = 'value'): Position {
    const found = this.#walk(path);
    const exact = found.depth === path.length;
    const preferKey = at === 'key' || !exact;
    const emptyValue = found.node === undefined || (isScalar(found.node) && found.node.value === null && found.node.source === '');
    const keyRange = found.key?.range;
    const valueRange = found.node?.range;
    if ((preferKey || emptyValue) && keyRange) return this.#pos(keyRange[0]);
    if (valueRange && !emptyValue) return this.#pos(valueRange[0]);
    if (keyRange) return this.#pos(keyRange[0]);
    return { line: 1, col: 1 };
  }

  has(path: FieldPath): boolean {
    return this.#walk(path).depth === path.length;
  }
}
