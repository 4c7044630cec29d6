import { ConfigError } from '../errors.ts';
import { parseConnectionString, type ConnectionOptions } from './connection-string.ts';

/**
 * Reads one `[DSN]` section of an odbc.ini file as connection options. Lines starting
 * with `;` or `#` are comments. A line is read as connection-string pairs when it parses
 * as such (so `Key='quoted'` and pasted `A=1;B=2;` lines work), else as one literal
 * `Key=Value` (a value may then hold `;`).
 *
 * @throws ConfigError `ERR_CONNECTION_STRING` when the section is missing or a line has no `=`.
 */
export function readOdbcIniSection(text: string, dsn: string): ConnectionOptions {
  const sections: string[] = [];
  const options = new Map<string, string>();
  let inSection = false;
  let found = false;
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    const header = /^\[(.*)\]$/.exec(line);
    if (header) {
      const name = header[1]!.trim();
      sections.push(name);
      inSection = name.toLowerCase() === dsn.toLowerCase();
      found ||= inSection;
      return;
    }
    if (!inSection) return;
    let pairs: Iterable<[string, string]>;
    try {
      pairs = parseConnectionString(line);
    } catch {
      const eq = line.indexOf('=');
      if (eq <= 0) {
        throw new ConfigError(
          'ERR_CONNECTION_STRING',
          `odbc.ini line ${index + 1}: expected Key=Value in [${dsn}]`,
        );
      }
      pairs = [[line.slice(0, eq).trim(), line.slice(eq + 1).trim()]];
    }
    for (const [key, value] of pairs) {
      // Within a section a later line wins, as in unixODBC.
      for (const existing of [...options.keys()])
        if (existing.toLowerCase() === key.toLowerCase()) options.delete(existing);
      options.set(key, value);
    }
  });
  if (!found) {
    const known = sections.filter((s) => s.toLowerCase() !== 'odbc data sources');
    throw new ConfigError(
      'ERR_CONNECTION_STRING',
      `odbc.ini has no [${dsn}] section; data sources: ${known.length > 0 ? known.join(', ') : 'none'}`,
    );
  }
  return options;
}
