/**
 * Text from outside (a provider's `error_description`, say) made fit for a one-line
 * message or log field: runs of control characters become one space, and it is bounded.
 */
export function oneLineText(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
