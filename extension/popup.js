// The popup: start a reading of the open tab, pick the sensitivity, list the findings.
// popup.html?tab=ID shows the same for tab ID in a tab of its own (the tests use it).
import { load, save } from "./settings.js";

const status = document.getElementById("status");
const list = document.getElementById("findings");
const sensitivity = document.getElementById("sensitivity");

async function targetTab() {
  const given = new URLSearchParams(location.search).get("tab");
  if (given) {
    document.body.classList.add("tab");
    return Number(given);
  }
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab.id;
}

function say(state, message) {
  status.dataset.state = state;
  status.textContent = message;
}

function show(tab, result) {
  list.replaceChildren();
  if (result.state !== "done") {
    say(result.state, result.message);
    return;
  }
  const count = result.findings.length;
  say("done", `Score ${result.score.toFixed(2)} · ${count} ${count === 1 ? "span" : "spans"} at ${result.sensitivity} sensitivity`
    + (count ? ". Choose one to go to it." : "."));
  for (const finding of result.findings) {
    const button = document.createElement("button");
    button.type = "button";
    button.style.borderLeftColor = finding.colour;
    const name = document.createElement("b");
    name.textContent = `${finding.name} · ${finding.confidence.toFixed(2)}`;
    button.append(name, `“${finding.text}”`);
    button.addEventListener("click", () => chrome.runtime.sendMessage({ tab, focus: finding.index }));
    const item = document.createElement("li");
    item.append(button);
    list.append(item);
  }
}

const tab = await targetTab();
const settings = await load();
sensitivity.value = settings.sensitivity;
sensitivity.addEventListener("change", () => save({ sensitivity: sensitivity.value }));
const kept = (await chrome.storage.session.get(`tab:${tab}`))[`tab:${tab}`];
if (kept) show(tab, kept);

document.getElementById("read").addEventListener("submit", async (event) => {
  event.preventDefault();
  await save({ sensitivity: sensitivity.value });
  list.replaceChildren();
  say("working", "Reading the article…");
  show(tab, await chrome.runtime.sendMessage({ tab }));
});
