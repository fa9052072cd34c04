/**
 * A few KB of `[[[[…` or `{"and":[{"and":[…` parse fine but overflow the stack of recursive consumers
 * (Ajv, JSON.stringify, our own walkers), which then answer 500. Untrusted JSON is checked with this
 * loop before anything recursive sees it.
 *
 * 128 leaves room for legitimate messages: a policy may nest constraints 32 deep (MAX_CONSTRAINT_DEPTH,
 * two JSON levels each) inside a catalog's dataset/offer/rule wrappers.
 */
export const MAX_JSON_DEPTH = 128;

/** Whether objects/arrays nest deeper than `max` levels (a top-level object or array is level 1). Iterative, never recurses. */
export function jsonTooDeep(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const values: unknown[] = [value];
  const depths: number[] = [1];
  while (values.length) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

export const JSON_TOO_DEEP = `JSON nested deeper than ${MAX_JSON_DEPTH} levels`;
