// The only network code: requests to the reader's own propscope server, and what each failure means.
import { serverBase } from "./settings.js";

export class ReadError extends Error {
  /** `state` names the popup's message: no-server, no-key, bad-key, refused, too-long, no-article, failed. */
  constructor(state, message) {
    super(message);
    this.state = state;
  }
}

async function request(settings, path, init = {}) {
  const base = serverBase(settings.server);
  if (!base) throw new ReadError("failed", `The server address ${settings.server} is not an http(s) URL; fix it in the options.`);
  const headers = { ...(init.headers || {}) };
  if (settings.apiKey) headers["X-API-Key"] = settings.apiKey;
  let response;
  try {
    response = await fetch(base + path, { ...init, headers, credentials: "omit" });
  } catch {
    throw new ReadError("no-server", `No propscope server answers at ${base}. Start one with: propscope serve`);
  }
  if (response.ok) return response.json();
  const detail = await response.json().then((body) => body.detail || "", () => "");
  if (response.status === 401) {
    throw new ReadError(settings.apiKey ? "bad-key" : "no-key", settings.apiKey
      ? "The server refused the API key; check it in the options."
      : "The server needs an API key; enter it in the options.");
  }
  if (response.status === 403) {
    throw new ReadError("refused", `The server refuses this extension (${detail}). Start it with: `
      + `propscope serve --extension-origin ${location.origin}`);
  }
  if (response.status === 413) {
    throw new ReadError("too-long", `This article is too long for the server (${detail}).`);
  }
  throw new ReadError("failed", `The server answered ${response.status}: ${detail || response.statusText}`);
}

/** The 14 techniques: id, name, definition and colour, by id. */
export async function techniques(settings) {
  const list = await request(settings, "/api/v1/techniques");
  return Object.fromEntries(list.map((t) => [t.id, t]));
}

/** The server's Analysis of an article's text; the page's URL and title are stored with it. */
export async function analyse(settings, article) {
  return request(settings, "/api/v1/analyze", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      text: article.text,
      sensitivity: settings.sensitivity,
      source: { url: article.url, title: article.title, name: article.site },
    }),
  });
}
