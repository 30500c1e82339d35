// Calls to the REST API: JSON, RFC 9457 problems, and the Server-Sent Events answer stream.
let base = "/api/v1";
const listeners = new Set();

export function configureApi(apiBase) {
  base = apiBase;
}

/** `listener(problem)` hears every problem answer, e.g. to show the maintenance banner. */
export function onProblem(listener) {
  listeners.add(listener);
}

export class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.problem = problem;
    this.status = problem.status;
    this.kind = String(problem.type || "").split("/").pop();
  }
}

async function problemOf(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  const problem = {
    status: response.status,
    type: body.type || "about:blank",
    title: body.title || response.statusText,
    detail: typeof body.detail === "string" ? body.detail : "",
    retryAfter: Number(response.headers.get("Retry-After")) || null,
  };
  for (const listener of listeners) listener(problem);
  return new ApiError(problem);
}

function headersFor(token, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

export async function request(path, { method = "GET", token, json, form, signal } = {}) {
  const init = { method, headers: headersFor(token), signal };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  const response = await fetch(base + path, init);
  if (!response.ok) throw await problemOf(response);
  return response.status === 204 ? null : response.json();
}

export async function fetchBlob(path, token) {
  const response = await fetch(base + path, { headers: headersFor(token, { Accept: "image/*" }) });
  if (!response.ok) throw await problemOf(response);
  return response.blob();
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return { event, data: data.length ? JSON.parse(data.join("\n")) : null };
}

/** POSTs a question and calls `onEvent(name, data)` for each event of the SSE answer. */
export async function streamAnswer(path, token, content, onEvent) {
  const response = await fetch(base + path, {
    method: "POST",
    headers: headersFor(token, { Accept: "text/event-stream", "Content-Type": "application/json" }),
    body: JSON.stringify({ content }),
  });
  if (!response.ok) throw await problemOf(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (block.trim()) onEvent(...Object.values(parseEvent(block)));
    }
  }
}
