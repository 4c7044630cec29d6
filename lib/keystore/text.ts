/**
 * Text from inside a keystore (aliases, certificate names) made fit for a one-line error
 * message or listing: no control or format characters, no line breaks, bounded length.
 */

/** An alias made safe for a one-line message (no control characters, bounded length). */
export function printable(alias: string): string {
  const clean = alias.replace(/[\p{Cc}\p{Cf}]/gu, '?');
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}

/** A distinguished name as Node prints it (one RDN per line), on one line. */
export function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}
