// The conversation: a session kept in sessionStorage, streamed answers, history and photos.
import { ApiError, fetchBlob, request, streamAnswer } from "./api.js";
import { renderAnswer, renderCitations } from "./answer.js";
import { el } from "./dom.js";
import { formatDate, t } from "./i18n.js";

const SESSION_KEY = "repairgpt.session";
const PHOTOS_KEY = "repairgpt.photos";

function load(key, fallback) {
  try {
    return JSON.parse(sessionStorage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
}

export class Conversation {
  constructor({ photos, isReadOnly }) {
    this.photos = photos;
    this.isReadOnly = isReadOnly;
    this.list = document.getElementById("messages");
    this.status = document.getElementById("chat-status");
    this.session = load(SESSION_KEY, null);
    this.userTurns = 0;
  }

  say(message) {
    this.status.textContent = message;
  }

  forget() {
    sessionStorage.removeItem(SESSION_KEY);
    sessionStorage.removeItem(PHOTOS_KEY);
    this.session = null;
    this.userTurns = 0;
    this.list.replaceChildren();
  }

  async ensureSession() {
    if (this.session) return this.session;
    const created = await request("/chat/sessions", { method: "POST", json: {} });
    this.session = { id: created.id, token: created.token };
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(this.session));
    return this.session;
  }

  /** Shows the session's earlier messages (after a reload); forgets a session that is gone. */
  async restore() {
    if (!this.session) return;
    const { id, token } = this.session;
    try {
      const history = await request(`/chat/sessions/${id}/messages?limit=500`, { token });
      const photos = load(PHOTOS_KEY, {});
      for (const message of history.data) {
        if (message.role === "user") {
          const photo = photos[this.userTurns];
          this.addUser(message.content, message.created_at, null, photo);
        } else {
          const body = this.addAssistant(message.created_at);
          renderAnswer(body.answer, message.content, message.citations);
          body.item.append(renderCitations(message.citations));
          body.answer.setAttribute("aria-busy", "false");
        }
      }
    } catch (error) {
      if (error instanceof ApiError && [401, 404].includes(error.status)) {
        this.forget();
        this.say(t("session_expired"));
      } else {
        this.say(t("history_failed"));
      }
    }
  }

  header(who, iso) {
    const head = el("p", "who");
    const name = el("span", "", t(who));
    name.dataset.i18n = who; // re-translated when the language changes
    head.append(name);
    const time = el("time", "", formatDate(iso, true));
    time.dateTime = iso;
    head.append(" ", time);
    return head;
  }

  addUser(text, iso, photoUrl = null, uploadId = null) {
    const item = el("li", "message user");
    item.append(this.header("you", iso), el("p", "text", text));
    if (photoUrl || uploadId) {
      const image = el("img", "attached");
      image.alt = t("photo_alt");
      if (photoUrl) image.src = photoUrl;
      else this.showUpload(image, uploadId);
      item.append(image);
    }
    this.list.append(item);
    this.userTurns += 1;
    return item;
  }

  async showUpload(image, uploadId) {
    try {
      const blob = await fetchBlob(`/uploads/${uploadId}/content`, this.session?.token);
      image.src = URL.createObjectURL(blob);
    } catch {
      image.remove();
    }
  }

  addAssistant(iso) {
    const item = el("li", "message assistant");
    const answer = el("div", "answer");
    answer.setAttribute("aria-live", "polite");
    answer.setAttribute("aria-busy", "true");
    item.append(this.header("assistant", iso), answer);
    this.list.append(item);
    return { item, answer };
  }

  async upload(file, session, turn) {
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("session_id", session.id);
    const upload = await request("/uploads", { method: "POST", token: session.token, form });
    const photos = load(PHOTOS_KEY, {});
    photos[turn] = upload.id;
    sessionStorage.setItem(PHOTOS_KEY, JSON.stringify(photos));
  }

  async openSession() {
    try {
      return await this.ensureSession();
    } catch (error) {
      if (error instanceof ApiError && error.kind === "read-only") {
        throw new Error(t("read_only_no_session"));
      }
      throw error;
    }
  }

  /** Sends one question (and photo) and streams the answer into the conversation. */
  async ask(question, photo) {
    let session = await this.openSession();
    const turn = this.userTurns;
    this.addUser(question, new Date().toISOString(), photo.url);
    if (photo.file) {
      try {
        await this.upload(photo.file, session, turn);
      } catch (error) {
        this.say(t("photo_upload_failed", { detail: error.message }));
      }
    }
    const reply = this.addAssistant(new Date().toISOString());
    this.say(t("answer_streaming"));
    try {
      await this.stream(session, question, reply);
    } catch (error) {
      if (!(error instanceof ApiError) || ![401, 404].includes(error.status)) {
        reply.item.remove();
        throw error;
      }
      // The session expired on the server: carry on in a new one.
      sessionStorage.removeItem(SESSION_KEY);
      this.session = null;
      session = await this.openSession();
      await this.stream(session, question, reply);
    }
    reply.answer.setAttribute("aria-busy", "false");
    this.say(t("answer_done"));
    return reply.item;
  }

  async stream(session, question, { item, answer }) {
    let text = "";
    const path = `/chat/sessions/${session.id}/messages/stream`;
    await streamAnswer(path, session.token, question, (event, data) => {
      if (event === "delta") {
        text += data.text;
        renderAnswer(answer, text);
      } else if (event === "done") {
        renderAnswer(answer, data.answer, data.citations);
        item.append(renderCitations(data.citations));
        if (!data.saved) {
          const note = el("p", "note", t("not_saved"));
          note.dataset.i18n = "not_saved";
          item.append(note);
        }
      } else if (event === "error") {
        item.append(el("p", "error", t("error_generic", { detail: data.detail })));
      }
    });
  }
}
