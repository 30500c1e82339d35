// Renders answer text (a small Markdown subset) as DOM nodes built from text only: nothing a
// guide or a model writes can become markup.
import { el } from "./dom.js";
import { t } from "./i18n.js";

const SAFETY = /safety|warning|danger|caution|安全|注意|危険|警告/i;
const HEADING = /^\*\*([^*]+)\*\*:?$/;
const BULLET = /^[-*•]\s+(.*)$/;
const NUMBERED = /^(\d+)[.)]\s+(.*)$/;

/** Inline text: **bold** and [n] references (links to the nth cited guide). */
function appendInline(parent, text, citations) {
  const parts = text.split(/(\*\*[^*]+\*\*|\[\d+\])/);
  for (const part of parts) {
    if (!part) continue;
    const bold = part.match(/^\*\*([^*]+)\*\*$/);
    const ref = part.match(/^\[(\d+)\]$/);
    if (bold) {
      parent.append(el("strong", "", bold[1]));
    } else if (ref && citations[Number(ref[1]) - 1]) {
      const link = el("a", "ref", part);
      link.href = `#/guides/${citations[Number(ref[1]) - 1].guide_id}`;
      link.setAttribute("aria-label", t("citation_number", { n: ref[1] }));
      parent.append(link);
    } else {
      parent.append(document.createTextNode(part));
    }
  }
}

function safetyBox(title) {
  const box = el("div", "safety");
  box.setAttribute("role", "note");
  const head = el("p", "safety-title");
  head.append(el("span", "safety-icon", "⚠"));
  head.append(document.createTextNode(` ${title || t("safety_heading")}`));
  box.append(head);
  return box;
}

/** Fills `target` with the formatted answer; safety sections become warning boxes. */
export function renderAnswer(target, text, citations = []) {
  target.replaceChildren();
  let container = target;
  let list = null;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) {
      container = target;
      list = null;
      continue;
    }
    const heading = line.match(HEADING);
    if (heading) {
      list = null;
      if (SAFETY.test(heading[1])) {
        container = safetyBox(heading[1]);
        target.append(container);
      } else {
        container = target;
        container.append(el("p", "answer-heading", heading[1]));
      }
      continue;
    }
    const bullet = line.match(BULLET);
    const numbered = line.match(NUMBERED);
    if (bullet || numbered) {
      const kind = numbered ? "ol" : "ul";
      if (!list || list.tagName.toLowerCase() !== kind) {
        list = el(kind);
        if (numbered) list.start = Number(numbered[1]);
        container.append(list);
      }
      const item = el("li");
      appendInline(item, numbered ? numbered[2] : bullet[1], citations);
      list.append(item);
      continue;
    }
    list = null;
    const paragraph = el("p");
    appendInline(paragraph, line, citations);
    container.append(paragraph);
  }
}

/** Cards that link each cited guide's page (and its original source, if any). */
export function renderCitations(citations) {
  const section = el("section", "citations");
  if (!citations.length) return section;
  const title = el("h3", "citations-title", t("sources"));
  title.dataset.i18n = "sources";
  section.append(title);
  const list = el("ul", "citation-list");
  citations.forEach((citation, index) => {
    const card = el("li", "citation");
    const link = el("a", "citation-link");
    link.href = `#/guides/${citation.guide_id}`;
    link.append(el("span", "citation-number", `[${index + 1}]`));
    link.append(el("span", "citation-title", citation.title));
    card.append(link);
    if (citation.url && /^https?:\/\//.test(citation.url)) {
      const source = el("a", "citation-source", t("source_link"));
      source.href = citation.url;
      source.rel = "noopener noreferrer";
      source.target = "_blank";
      card.append(source);
    }
    list.append(card);
  });
  section.append(list);
  return section;
}
