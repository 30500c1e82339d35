// Guide pages (#/guides/ID) and guide search (#/search?q=...), rendered from text only.
import { ApiError, request } from "./api.js";
import { el } from "./dom.js";
import { formatDate, formatMinutes, t, tCount } from "./i18n.js";

function fact(list, label, value) {
  if (value === null || value === undefined || value === "") return;
  list.append(el("dt", "", label), el("dd", "", value));
}

function itemsOrNone(title, items) {
  const section = el("section", "guide-list");
  section.append(el("h2", "", title));
  if (!items.length) {
    section.append(el("p", "", t("guide_none")));
    return section;
  }
  const list = el("ul");
  for (const item of items) list.append(el("li", "", item));
  section.append(list);
  return section;
}

// Images the API serves itself; anything else is only linked, so the page requests nothing
// from another site until the reader chooses to follow the link.
const GUIDE_IMAGE = /^\/api\/v1\/guide-images\/[0-9a-f]{32}\.(?:jpg|png|gif|webp)$/;

function stepImages(images, stepNumber) {
  const nodes = [];
  let shown = 0;
  for (const url of images ?? []) {
    if (typeof url !== "string") continue;
    if (GUIDE_IMAGE.test(url)) {
      shown += 1;
      const image = el("img", "step-image");
      image.src = url;
      image.alt = t("guide_step_image", { step: stepNumber, n: shown });
      image.loading = "lazy";
      image.style.maxWidth = "100%";
      nodes.push(image);
    } else if (url.startsWith("https://")) {
      const link = el("a", "step-image-link", t("guide_step_image_link"));
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      const line = el("p", "step-image-external");
      line.append(link);
      nodes.push(line);
    }
  }
  return nodes;
}

function stepsOf(guide) {
  const section = el("section", "guide-steps");
  section.append(el("h2", "", t("guide_steps")));
  const list = el("ol", "steps");
  for (const [index, step] of guide.steps.entries()) {
    const item = el("li", "step");
    if (step.title) item.append(el("h3", "step-title", step.title));
    item.append(el("p", "step-text", step.text));
    item.append(...stepImages(step.images, step.position ?? index + 1));
    list.append(item);
  }
  section.append(list);
  return section;
}

function difficultyOf(value) {
  return value ? t(`difficulty_${value}`) : null;
}

/** Fills the guide view with guide `id`, moving focus to its title. */
export async function showGuide(container, id) {
  container.setAttribute("aria-busy", "true");
  container.replaceChildren(el("p", "status", t("guide_loading")));
  let guide;
  try {
    guide = await request(`/guides/${encodeURIComponent(id)}`);
  } catch (error) {
    const missing = error instanceof ApiError && [404, 422].includes(error.status);
    container.replaceChildren(el("p", "error", missing ? t("guide_not_found") : error.message));
    container.setAttribute("aria-busy", "false");
    return;
  }
  const title = el("h1", "guide-title", guide.title);
  title.id = "guide-title";
  title.tabIndex = -1;
  const facts = el("dl", "facts");
  fact(facts, t("guide_device"), guide.device?.name);
  fact(facts, t("guide_difficulty"), difficultyOf(guide.difficulty));
  fact(facts, t("guide_time"), guide.time_minutes ? formatMinutes(guide.time_minutes) : null);
  fact(facts, t("guide_language"), t(`language_${guide.language}`));
  const parts = [title, facts];
  if (guide.summary) parts.push(el("p", "summary", guide.summary));
  if (guide.safety_warnings.length) {
    const box = el("div", "safety");
    box.setAttribute("role", "note");
    box.append(el("h2", "safety-title", `⚠ ${t("guide_safety")}`));
    const list = el("ul");
    for (const warning of guide.safety_warnings) list.append(el("li", "", warning));
    box.append(list);
    parts.push(box);
  }
  parts.push(itemsOrNone(t("guide_tools"), guide.tools), itemsOrNone(t("guide_parts"), guide.parts));
  parts.push(stepsOf(guide));
  const updated = el("p", "updated", t("guide_updated", { date: formatDate(guide.updated_at) }));
  parts.push(updated);
  container.replaceChildren(...parts);
  container.setAttribute("aria-busy", "false");
  title.focus();
}

function resultItem(hit) {
  const item = el("li", "result");
  const link = el("a", "result-title", hit.title);
  link.href = `#/guides/${hit.id}`;
  const meta = [hit.device, difficultyOf(hit.difficulty), hit.time_minutes ? formatMinutes(hit.time_minutes) : null];
  item.append(link, el("p", "result-meta", meta.filter(Boolean).join(" · ")));
  const text = hit.snippet || hit.summary;
  if (text) item.append(el("p", "result-snippet", text));
  return item;
}

/** Runs a guide search and lists the hits. */
export async function showSearch(query) {
  const heading = document.getElementById("search-heading");
  const status = document.getElementById("search-status");
  const results = document.getElementById("search-results");
  heading.textContent = query ? t("search_heading", { q: query }) : t("search_all_heading");
  status.textContent = t("search_loading");
  results.replaceChildren();
  heading.focus();
  try {
    const found = await request(`/guides?${new URLSearchParams({ q: query, limit: "20" })}`);
    status.textContent = found.count ? tCount("search_count", found.count) : t("search_none");
    results.replaceChildren(...found.data.map(resultItem));
  } catch (error) {
    status.textContent = t("error_generic", { detail: error.message });
  }
}
