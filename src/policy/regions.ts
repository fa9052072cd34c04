/**
 * Countries and the regions the `spatial` and `country` operands understand. A right operand such as
 * `EU`, `DE` or an IRI ending in one (`http://example.org/EU`, `http://ontologi.es/place/DE`) names a set
 * of ISO 3166-1 alpha-2 codes; a country names the set holding only itself.
 */

/** The 27 member states of the European Union (since 2020-02-01). */
export const EU_MEMBERS: readonly string[] = [
  'AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE',
  'IT', 'LV', 'LT', 'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE',
];

const EFTA_MEMBERS = ['IS', 'LI', 'NO', 'CH'];

export const REGIONS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['EU', new Set(EU_MEMBERS)],
  ['EEA', new Set([...EU_MEMBERS, 'IS', 'LI', 'NO'])],
  ['EFTA', new Set(EFTA_MEMBERS)],
]);

/** EU usage differs from ISO 3166-1 for two countries. */
const COUNTRY_ALIASES: ReadonlyMap<string, string> = new Map([
  ['EL', 'GR'],
  ['UK', 'GB'],
]);

const COUNTRY_CODE = /^[A-Z]{2}$/;

/** The canonical country code, or undefined if `text` is not an alpha-2 code. */
export function normalizeCountry(text: string): string | undefined {
  const upper = text.toUpperCase();
  if (!COUNTRY_CODE.test(upper)) return undefined;
  return COUNTRY_ALIASES.get(upper) ?? upper;
}

/**
 * Resolves a region or country name, or an IRI whose last segment is one, to its canonical name and
 * member set. Undefined when unrecognised.
 */
export function resolveRegion(text: string): { name: string; countries: ReadonlySet<string> } | undefined {
  const tail = text.slice(Math.max(text.lastIndexOf('/'), text.lastIndexOf('#'), text.lastIndexOf(':')) + 1);
  const upper = tail.toUpperCase();
  const region = REGIONS.get(upper);
  if (region) return { name: upper, countries: region };
  const country = normalizeCountry(tail);
  return country === undefined ? undefined : { name: country, countries: new Set([country]) };
}
