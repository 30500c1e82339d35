// Strings, dates and numbers in the reader's language: one string table per language.
const tables = new Map();
let language = "en";
let table = {};

export function setTable(lang, strings) {
  tables.set(lang, strings);
}

export async function useLanguage(lang, assets, remember = false) {
  if (!tables.has(lang)) {
    const response = await fetch(`${assets}strings/${lang}.json`);
    if (!response.ok) throw new Error(`strings ${lang}: ${response.status}`);
    tables.set(lang, await response.json());
  }
  language = lang;
  table = tables.get(lang);
  document.documentElement.lang = lang;
  document.title = table.app_title;
  // A choice is remembered for the server too, so the maintenance page speaks it as well.
  if (remember) document.cookie = `lang=${lang}; path=/; max-age=31536000; SameSite=Lax`;
}

export function currentLanguage() {
  return language;
}

/** The translated string `key` with its {placeholders} filled in. */
export function t(key, values = {}) {
  const text = table[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** `t` of `key_one` or `key_other` (as the language's plural rules pick), with {count}. */
export function tCount(key, count) {
  const form = new Intl.PluralRules(language).select(count);
  const chosen = `${key}_${form}` in table ? `${key}_${form}` : `${key}_other`;
  return t(chosen, { count: formatNumber(count) });
}

export function formatNumber(value) {
  return new Intl.NumberFormat(language).format(value);
}

export function formatBytes(bytes) {
  const units = [["megabyte", 1024 * 1024], ["kilobyte", 1024], ["byte", 1]];
  const [unit, size] = units.find(([, size]) => bytes >= size) ?? units[2];
  return new Intl.NumberFormat(language, {
    style: "unit", unit, unitDisplay: "short", maximumFractionDigits: 1,
  }).format(bytes / size);
}

export function formatMinutes(minutes) {
  return new Intl.NumberFormat(language, { style: "unit", unit: "minute", unitDisplay: "long" })
    .format(minutes);
}

export function formatDate(iso, withTime = false) {
  const options = withTime ? { dateStyle: "medium", timeStyle: "short" } : { dateStyle: "long" };
  return new Intl.DateTimeFormat(language, options).format(new Date(iso));
}

/** Alternatives in the language's style: "a, b, or c" / "a、b、またはc". */
export function formatChoices(items) {
  return new Intl.ListFormat(language, { style: "long", type: "disjunction" }).format(items);
}

/** Re-translates every element marked with data-i18n (text) or data-i18n-* (attributes). */
export function translateDocument(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-placeholder]")) {
    element.placeholder = t(element.dataset.i18nPlaceholder);
  }
  for (const element of root.querySelectorAll("[data-i18n-aria-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nAriaLabel));
  }
}
