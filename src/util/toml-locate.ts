// Where each value of a TOML document is written (line and column, 1-based), so an error about a value can
// point at it like a compiler does: smol-toml returns plain values without positions. This is a scanner for
// documents that already parsed, not a validator: it follows tables `[a.b]`, arrays of tables `[[a]]`
// (nested too), dotted and quoted keys, inline tables and arrays, strings of every kind and comments, and
// on anything it does not understand it stops and returns what it found so far (a caller then names the
// file alone). It never throws.

export type TomlPathSegment = string | number;

export interface TomlLocation {
  /** Keys and array indexes from the root: `mounts[1].source` is ['mounts', 1, 'source']. */
  readonly path: readonly TomlPathSegment[];
  readonly line: number;
  readonly column: number;
}

class Stop extends Error {}

const BARE_KEY = /[A-Za-z0-9_-]/;
const ESCAPES: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', e: '\x1b', '"': '"', '\\': '\\' };

class Scanner {
  private i = 0;
  private line = 1;
  private lineStart = 0;
  readonly found: TomlLocation[] = [];
  /** Arrays of tables seen so far (by their resolved path) and how many elements each has. */
  private readonly tableArrays = new Map<string, number>();

  constructor(private readonly text: string) {}

  private peek(offset = 0): string {
    return this.text[this.i + offset] ?? '';
  }

  private startsWith(s: string): boolean {
    return this.text.startsWith(s, this.i);
  }

  private advance(n = 1): void {
    for (let k = 0; k < n && this.i < this.text.length; k++) {
      if (this.text[this.i] === '\n') {
        this.line++;
        this.lineStart = this.i + 1;
      }
      this.i++;
    }
  }

  private here(): { line: number; column: number } {
    return { line: this.line, column: this.i - this.lineStart + 1 };
  }

  private record(path: readonly TomlPathSegment[], at: { line: number; column: number }): void {
    this.found.push({ path: [...path], ...at });
  }

  private expect(c: string): void {
    if (this.peek() !== c) throw new Stop();
    this.advance();
  }

  /** Spaces and tabs; with `newlines`, also line breaks and comments (inside arrays, between statements). */
  private skip(newlines: boolean): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t') this.advance();
      else if (c === '#') while (this.i < this.text.length && this.peek() !== '\n') this.advance();
      else if (newlines && (c === '\n' || c === '\r')) this.advance();
      else return;
    }
  }

  private basicString(): string {
    this.expect('"');
    let out = '';
    while (this.peek() !== '"') {
      const c = this.peek();
      if (c === '' || c === '\n') throw new Stop();
      if (c === '\\') {
        const e = this.peek(1);
        if (e === 'u' || e === 'U') {
          const len = e === 'u' ? 4 : 8;
          out += String.fromCodePoint(Number.parseInt(this.text.slice(this.i + 2, this.i + 2 + len), 16) || 0);
          this.advance(2 + len);
        } else {
          out += ESCAPES[e] ?? e;
          this.advance(2);
        }
      } else {
        out += c;
        this.advance();
      }
    }
    this.advance();
    return out;
  }

  private literalString(): string {
    this.expect("'");
    const end = this.text.indexOf("'", this.i);
    const nl = this.text.indexOf('\n', this.i);
    if (end < 0 || (nl >= 0 && nl < end)) throw new Stop();
    const out = this.text.slice(this.i, end);
    this.advance(end - this.i + 1);
    return out;
  }

  private multiline(quote: string): void {
    this.advance(3);
    for (;;) {
      if (this.i >= this.text.length) throw new Stop();
      if (quote === '"""' && this.peek() === '\\') this.advance(2);
      else if (this.startsWith(quote)) {
        // Up to two quotes may close the content right before the delimiter (`""""` ends with a quote).
        while (this.peek(3) === quote[0]) this.advance();
        this.advance(3);
        return;
      } else this.advance();
    }
  }

  private simpleKey(): string {
    const c = this.peek();
    if (c === '"') return this.basicString();
    if (c === "'") return this.literalString();
    const start = this.i;
    while (BARE_KEY.test(this.peek())) this.advance();
    if (this.i === start) throw new Stop();
    return this.text.slice(start, this.i);
  }

  private dottedKey(): string[] {
    const key = [this.simpleKey()];
    for (;;) {
      this.skip(false);
      if (this.peek() !== '.') return key;
      this.advance();
      this.skip(false);
      key.push(this.simpleKey());
    }
  }

  /** Inserts the current index after every prefix that is an array of tables (`[[a]]` then `[a.b]`). */
  private resolve(key: readonly string[]): TomlPathSegment[] {
    const out: TomlPathSegment[] = [];
    for (const segment of key) {
      out.push(segment);
      const count = this.tableArrays.get(JSON.stringify(out));
      if (count !== undefined) out.push(count - 1);
    }
    return out;
  }

  private value(path: readonly TomlPathSegment[]): void {
    this.record(path, this.here());
    const c = this.peek();
    if (this.startsWith('"""') || this.startsWith("'''")) this.multiline(this.text.slice(this.i, this.i + 3));
    else if (c === '"') this.basicString();
    else if (c === "'") this.literalString();
    else if (c === '[') this.array(path);
    else if (c === '{') this.inlineTable(path);
    else {
      // Numbers, booleans, dates (a date-time may contain one space).
      const start = this.i;
      while (this.i < this.text.length && !/[,\]}\n\r#]/.test(this.peek())) this.advance();
      if (this.i === start) throw new Stop();
    }
  }

  private array(path: readonly TomlPathSegment[]): void {
    this.expect('[');
    for (let index = 0; ; index++) {
      this.skip(true);
      if (this.peek() === ']') break;
      this.value([...path, index]);
      this.skip(true);
      if (this.peek() === ',') this.advance();
      else if (this.peek() !== ']') throw new Stop();
    }
    this.advance();
  }

  private inlineTable(path: readonly TomlPathSegment[]): void {
    this.expect('{');
    for (;;) {
      this.skip(true);
      if (this.peek() === '}') break;
      const key = this.dottedKey();
      this.expect('=');
      this.skip(false);
      this.value([...path, ...key]);
      this.skip(true);
      if (this.peek() === ',') this.advance();
      else if (this.peek() !== '}') throw new Stop();
    }
    this.advance();
  }

  private header(): TomlPathSegment[] {
    const at = this.here();
    const isArray = this.startsWith('[[');
    this.advance(isArray ? 2 : 1);
    this.skip(false);
    const key = this.dottedKey();
    this.skip(false);
    if (isArray) {
      if (!this.startsWith(']]')) throw new Stop();
      this.advance(2);
    } else this.expect(']');
    const table = [...this.resolve(key.slice(0, -1)), key[key.length - 1] ?? ''];
    if (isArray) {
      const id = JSON.stringify(table);
      const count = (this.tableArrays.get(id) ?? 0) + 1;
      this.tableArrays.set(id, count);
      table.push(count - 1);
    }
    this.record(table, at);
    return table;
  }

  scan(): void {
    let table: TomlPathSegment[] = [];
    for (;;) {
      this.skip(true);
      if (this.i >= this.text.length) return;
      if (this.peek() === '[') {
        table = this.header();
        continue;
      }
      const key = this.dottedKey();
      this.expect('=');
      this.skip(false);
      this.value([...table, ...key]);
    }
  }
}

/** Every key and table of `text` with where its value (or its `[header]`) starts. */
export function locateToml(text: string): TomlLocation[] {
  const scanner = new Scanner(text);
  try {
    scanner.scan();
  } catch {
    // Stop, or anything unexpected: what was found before it is still right.
  }
  return scanner.found;
}

/** The position of the first value whose path `matches`, or undefined. */
export function findTomlValue(
  text: string,
  matches: (path: readonly TomlPathSegment[]) => boolean,
): { line: number; column: number } | undefined {
  const hit = locateToml(text).find((l) => matches(l.path));
  return hit ? { line: hit.line, column: hit.column } : undefined;
}
