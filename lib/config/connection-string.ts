import { ConfigError } from '../errors.ts';

/** A parsed connection string: keys as first written, in order; look up with {@link getOption}. */
export type ConnectionOptions = ReadonlyMap<string, string>;

/** The `jdbc:` URL prefix of the DataDirect Autonomous REST JDBC driver. */
const JDBC_PREFIX = 'jdbc:datadirect:autorest:';

function fail(message: string, index: number): never {
  // Keys are quoted as written; control characters are shown escaped so the message stays one line.
  const oneLine = message.replace(
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    /[\u0000-\u001f\u007f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  throw new ConfigError('ERR_CONNECTION_STRING', `connection string: ${oneLine} (at character ${index + 1})`);
}

const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);

/**
 * Parses `Key=Value;` pairs: names case-insensitive, whitespace and newlines between pairs,
 * values in `{…}` (`}}` for a literal `}`) or single/double quotes (a doubled quote for a
 * literal one). A repeated key must repeat its value. A `jdbc:datadirect:autorest:` prefix
 * is dropped, with any `//host:port` part before the first `;`.
 *
 * @throws ConfigError `ERR_CONNECTION_STRING` for unbalanced braces or quotes, a pair
 *   without `=`, an empty key, or a key given twice with different values.
 * @see https://learn.microsoft.com/en-us/sql/odbc/reference/syntax/sqldriverconnect-function (syntax DataDirect follows)
 */
export function parseConnectionString(text: string): ConnectionOptions {
  const options = new Map<string, string>();
  const seen = new Map<string, string>();
  let i = 0;
  if (text.trimStart().toLowerCase().startsWith(JDBC_PREFIX)) {
    i = text.toLowerCase().indexOf(JDBC_PREFIX) + JDBC_PREFIX.length;
    const firstSemi = text.indexOf(';', i);
    const head = text.slice(i, firstSemi < 0 ? text.length : firstSemi);
    if (!head.includes('=')) i = firstSemi < 0 ? text.length : firstSemi + 1;
  }
  const n = text.length;
  while (i < n) {
    while (i < n && (isSpace(text[i]) || text[i] === ';')) i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && text[i] !== '=' && text[i] !== ';') i++;
    const key = text.slice(keyStart, i).trim();
    if (i >= n || text[i] === ';')
      fail('a pair has no "=" (write Key=Value; brace values that hold ";")', keyStart);
    if (key === '') fail('empty key before "="', keyStart);
    if (/[{}'"]/.test(key)) fail('a key may not contain braces or quotes', keyStart);
    i++; // '='
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    let value: string;
    const open = text[i];
    if (open === '{' || open === "'" || open === '"') {
      const close = open === '{' ? '}' : open;
      const start = i;
      i++;
      let out = '';
      for (;;) {
        if (i >= n)
          fail(
            open === '{'
              ? `unbalanced "{" in the value of ${key}`
              : `unclosed ${open} quote in the value of ${key}`,
            start,
          );
        const c = text[i]!;
        if (c === close) {
          if (text[i + 1] === close) {
            out += close;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        out += c;
        i++;
      }
      value = out;
      while (i < n && isSpace(text[i])) i++;
      if (i < n && text[i] !== ';')
        fail(`unexpected text after the ${open === '{' ? 'braced' : 'quoted'} value of ${key}`, i);
    } else {
      const start = i;
      while (i < n && text[i] !== ';') i++;
      value = text.slice(start, i).trim();
      if (value.includes('}') && !value.includes('{')) fail(`unbalanced "}" in the value of ${key}`, start);
    }
    const folded = key.toLowerCase();
    const previous = seen.get(folded);
    if (previous !== undefined) {
      if (options.get(previous) !== value) fail(`${key} is given twice with different values`, keyStart);
    } else {
      seen.set(folded, key);
      options.set(key, value);
    }
  }
  return options;
}

/** Looks a key up case-insensitively. */
export function getOption(options: ConnectionOptions, key: string): string | undefined {
  const folded = key.toLowerCase();
  for (const [k, v] of options) if (k.toLowerCase() === folded) return v;
  return undefined;
}

/**
 * Writes options back as a connection string, bracing every value that needs it
 * (`;`, braces, quotes, surrounding spaces, line breaks), with `}}` for a literal `}`.
 */
export function serializeConnectionString(options: Iterable<readonly [string, string]>): string {
  const parts: string[] = [];
  for (const [key, value] of options) {
    if (!/^[^=;{}'"\s][^=;{}'"]*$/.test(key) || key.trim() !== key) {
      throw new TypeError(`cannot serialise key ${JSON.stringify(key)}`);
    }
    const plain = value === value.trim() && !/[;{}'"\r\n]/.test(value);
    parts.push(`${key}=${plain ? value : `{${value.replace(/}/g, '}}')}}`}`);
  }
  return parts.join(';') + (parts.length > 0 ? ';' : '');
}
