// The chat page: start-up, views (#/, #/guides/ID, #/search?q=), banners and the language.
import { configureApi, onProblem } from "./api.js";
import { Conversation } from "./chat.js";
import { showGuide, showSearch } from "./guides.js";
import { currentLanguage, formatNumber, setTable, t, translateDocument, useLanguage } from "./i18n.js";
import { PhotoPicker } from "./photo.js";

const boot = JSON.parse(document.getElementById("boot").textContent);
const state = { readOnly: boot.readOnly, maintenance: null, route: "" };
const $ = (id) => document.getElementById(id);

function banner(kind, title, text) {
  const box = document.createElement("div");
  box.className = `banner banner-${kind}`;
  box.dataset.kind = kind;
  const head = document.createElement("strong");
  head.textContent = title;
  box.append(head, document.createTextNode(` ${text}`));
  return box;
}

function showBanners() {
  const boxes = [];
  if (state.maintenance !== null) {
    boxes.push(banner("maintenance", t("banner_maintenance_title"), t("banner_maintenance", { message: state.maintenance })));
  }
  if (state.readOnly) boxes.push(banner("read-only", t("banner_read_only_title"), t("banner_read_only")));
  $("banners").replaceChildren(...boxes);
}

const photos = new PhotoPicker(boot, () => state.readOnly);
const conversation = new Conversation({ photos, isReadOnly: () => state.readOnly });

function enterReadOnly() {
  state.readOnly = true;
  photos.setReadOnly();
  showBanners();
}

onProblem((problem) => {
  const kind = String(problem.type).split("/").pop();
  if (problem.status === 503 && kind === "maintenance") {
    state.maintenance = problem.detail || t("maintenance_title");
    showBanners();
  } else if (problem.status === 503 && kind === "read-only") {
    enterReadOnly();
  }
});

function translateAll() {
  translateDocument();
  $("question-hint").textContent = t("question_hint", { max: formatNumber(boot.questionMaxLength) });
  $("language-select").value = currentLanguage();
  photos.translate();
  showBanners();
}

function showView(name) {
  for (const view of ["chat", "search", "guide"]) $(`${view}-view`).hidden = view !== name;
}

async function route() {
  const hash = location.hash;
  const guide = hash.match(/^#\/guides\/(\d+)$/);
  const search = hash.match(/^#\/search(?:\?(.*))?$/);
  if (guide) {
    showView("guide");
    await showGuide($("guide"), guide[1]);
  } else if (search) {
    showView("search");
    const query = new URLSearchParams(search[1] ?? "").get("q") ?? "";
    $("search-input").value = query;
    await showSearch(query);
  } else if (hash === "" || hash === "#/") {
    showView("chat");
  }
}

async function send(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  const invalid = !question ? t("question_empty")
    : question.length > boot.questionMaxLength ? t("question_too_long", { max: formatNumber(boot.questionMaxLength) }) : "";
  if (invalid) {
    $("question").setAttribute("aria-invalid", "true");
    conversation.say(invalid);
    $("question").focus();
    return;
  }
  $("question").removeAttribute("aria-invalid");
  $("send").disabled = true;
  conversation.say(t("sending"));
  const photo = photos.take();
  $("question").value = "";
  try {
    await conversation.ask(question, photo);
    if (state.maintenance !== null) {
      state.maintenance = null;
      showBanners();
    }
  } catch (error) {
    $("question").value = question;
    conversation.say(error instanceof TypeError ? t("error_network") : t("error_generic", { detail: error.message }));
  } finally {
    $("send").disabled = false;
    $("question").focus();
  }
}

function wire() {
  $("ask-form").addEventListener("submit", send);
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("ask-form").requestSubmit();
  });
  $("new-conversation").addEventListener("click", () => {
    conversation.forget();
    conversation.say(t("new_conversation_started"));
    $("question").focus();
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = $("search-input").value.trim();
    location.hash = `#/search?${new URLSearchParams({ q: query })}`;
  });
  $("language-select").addEventListener("change", async (event) => {
    await useLanguage(event.target.value, boot.assets, true);
    translateAll();
    await route();
  });
  window.addEventListener("hashchange", route);
}

async function start() {
  configureApi(boot.api);
  setTable(boot.lang, boot.strings);
  await useLanguage(boot.lang, boot.assets);
  $("question").maxLength = boot.questionMaxLength;
  translateAll();
  if (state.readOnly) enterReadOnly();
  wire();
  await Promise.all([conversation.restore(), route()]);
  document.body.dataset.ready = "true";
}

start();
