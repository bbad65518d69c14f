// The reader's settings, kept in chrome.storage.local: which server, its key, the sensitivity.
export const DEFAULTS = Object.freeze({ server: "http://127.0.0.1:8000", apiKey: "", sensitivity: "balanced" });

export async function load() {
  return { ...DEFAULTS, ...(await chrome.storage.local.get(Object.keys(DEFAULTS))) };
}

export async function save(changes) {
  await chrome.storage.local.set(changes);
}

/** The server's address without a trailing slash, or null when it is not an http(s) URL. */
export function serverBase(server) {
  try {
    const url = new URL(server);
    return url.protocol === "http:" || url.protocol === "https:" ? url.origin : null;
  } catch {
    return null;
  }
}
