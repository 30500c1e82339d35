// The photo picker: the server's size and type limits are shown and checked before sending.
import { formatBytes, formatChoices, t } from "./i18n.js";

const NAMES = { "image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WebP" };

export class PhotoPicker {
  constructor(config, readOnly) {
    this.maxBytes = config.uploadMaxBytes;
    this.types = config.uploadTypes;
    this.readOnly = readOnly;
    this.input = document.getElementById("photo");
    this.hint = document.getElementById("photo-hint");
    this.error = document.getElementById("photo-error");
    this.preview = document.getElementById("photo-preview");
    this.image = document.getElementById("photo-preview-image");
    this.file = null;
    this.url = null;
    this.input.accept = this.types.join(",");
    this.input.addEventListener("change", () => this.pick(this.input.files[0] ?? null));
    document.getElementById("photo-remove").addEventListener("click", () => {
      this.clear();
      this.input.focus();
    });
  }

  typeNames() {
    const names = this.types.map((type) => NAMES[type] ?? type.replace("image/", ""));
    return formatChoices(names);
  }

  translate() {
    this.hint.textContent = t("photo_hint", { types: this.typeNames(), size: formatBytes(this.maxBytes) });
    this.image.alt = t("photo_alt");
    if (this.readOnly()) this.error.textContent = t("photo_read_only");
  }

  setReadOnly() {
    this.clear();
    this.input.disabled = true;
    this.error.textContent = t("photo_read_only");
  }

  /** Checks a chosen file against the limits; returns the message to show, or "". */
  problemWith(file) {
    if (!this.types.includes(file.type)) return t("photo_wrong_type", { types: this.typeNames() });
    if (file.size > this.maxBytes) {
      return t("photo_too_large", { size: formatBytes(file.size), max: formatBytes(this.maxBytes) });
    }
    return "";
  }

  pick(file) {
    this.clear(false);
    if (!file) return;
    const problem = this.problemWith(file);
    if (problem) {
      this.error.textContent = problem;
      this.input.value = "";
      this.input.setAttribute("aria-invalid", "true");
      return;
    }
    this.file = file;
    this.url = URL.createObjectURL(file);
    this.image.src = this.url;
    this.preview.hidden = false;
  }

  /** Forgets the chosen file; `revoke` false keeps its preview URL alive for the message. */
  clear(revoke = true) {
    if (this.url && revoke) URL.revokeObjectURL(this.url);
    this.file = null;
    this.url = null;
    this.input.value = "";
    this.input.removeAttribute("aria-invalid");
    this.error.textContent = "";
    this.preview.hidden = true;
    this.image.removeAttribute("src");
  }

  /** Hands over the chosen file and its preview URL, and empties the picker. */
  take() {
    const taken = { file: this.file, url: this.url };
    this.file = null;
    this.url = null;
    this.clear(false);
    return taken;
  }
}
