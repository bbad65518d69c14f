// The options page: which server the extension talks to, and its API key.
import { DEFAULTS, load, save, serverBase } from "./settings.js";

const server = document.getElementById("server");
const key = document.getElementById("key");
const status = document.getElementById("status");

function say(state, message) {
  status.dataset.state = state;
  status.textContent = message;
}

const settings = await load();
server.value = settings.server;
key.value = settings.apiKey;

document.getElementById("options").addEventListener("submit", async (event) => {
  event.preventDefault();
  const base = serverBase(server.value.trim() || DEFAULTS.server);
  if (!base) {
    say("failed", "The server address must be an http:// or https:// URL.");
    return;
  }
  // 127.0.0.1 and localhost are granted at install; any other server only if the reader agrees now.
  const origins = [`${base}/*`];
  if (!(await chrome.permissions.contains({ origins })) && !(await chrome.permissions.request({ origins }))) {
    say("failed", `Not saved: the extension may not talk to ${base} without your permission.`);
    return;
  }
  await save({ server: base, apiKey: key.value.trim() });
  say("done", `Saved. The extension talks to ${base}${key.value.trim() ? " with your key" : ""}.`);
});
