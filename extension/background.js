// The service worker: reads the article in a tab, asks the reader's server, highlights the
// answer in the page, and keeps it for the popup. Started by the popup or the keyboard shortcut.
import { ReadError, analyse, techniques } from "./api.js";
import { load } from "./settings.js";

const PAGE_SCRIPTS = ["vendor/Readability.js", "extract.js", "highlight.js"];
// A span whose label the model does not trust: techniques.UNSURE_NAME, UNSURE_COLOUR and its paler().
const UNSURE = { name: "A technique, unsure which", colour: "#c8ccd4", paleColour: "#e6e8ec",
  definition: "The model's labels of this kind are too seldom right to name one." };

async function inPage(tabId, func, args = []) {
  const [{ result }] = await chrome.scripting.executeScript({ target: { tabId }, func, args });
  return result;
}

async function read(tabId, settings) {
  try {
    await chrome.scripting.executeScript({ target: { tabId }, files: PAGE_SCRIPTS });
  } catch (error) {
    throw new ReadError("no-article", `propscope cannot read this page (${error.message}).`);
  }
  const article = await inPage(tabId, () => globalThis.propscope.extract());
  if (!article) throw new ReadError("no-article", "No article found on this page.");
  const [known, analysis] = await Promise.all([techniques(settings), analyse(settings, article)]);
  const byLabel = Object.fromEntries(Object.values(known).map((t) => [t.ptc_label, t]));
  const text = Array.from(analysis.text);  // spans count code points, as the server does
  const named = (label) => known[label] || byLabel[label];
  const findings = analysis.spans.map((span, index) => {
    const technique = named(span.technique);
    const shown = span.alternatives?.length ? { ...UNSURE, name: `${UNSURE.name}: ${span.alternatives
      .map((a) => `${named(a.technique).name} (${a.probability.toFixed(2)})`).join(" or ")}` }
      : { name: technique.name, definition: technique.definition, colour: technique.colour,
          paleColour: technique.pale_colour };
    return { index, start: span.start, end: span.end, text: text.slice(span.start, span.end).join(""),
      confidence: span.confidence, technique: technique.id, ...shown };
  });
  const marked = await inPage(tabId, (spans, sensitivity) => globalThis.propscope.highlight(spans, sensitivity),
    [findings, analysis.model.sensitivity]);
  return { state: "done", id: analysis.id, score: analysis.score, sensitivity: analysis.model.sensitivity,
    url: article.url, server: settings.server, findings, marked };
}

/** Read the article in tab `tabId` and highlight it; returns what the popup shows. */
export async function readTab(tabId) {
  const settings = await load();
  let result;
  try {
    result = await read(tabId, settings);
  } catch (error) {
    result = { state: error instanceof ReadError ? error.state : "failed", message: error.message };
  }
  await chrome.action.setBadgeText({ tabId, text: result.state === "done" ? result.score.toFixed(2) : "!" });
  await chrome.action.setBadgeBackgroundColor({ tabId, color: result.state === "done" ? "#1f2937" : "#b91c1c" });
  await chrome.storage.session.set({ [`tab:${tabId}`]: result });
  return result;
}

/** Scroll to finding `index` in tab `tabId` and focus it. */
export function focusFinding(tabId, index) {
  return inPage(tabId, (i) => globalThis.propscope.focus(i), [index]);
}

chrome.runtime.onMessage.addListener((message, _sender, reply) => {
  const work = message.focus !== undefined ? focusFinding(message.tab, message.focus) : readTab(message.tab);
  work.then(reply, (error) => reply({ state: "failed", message: error.message }));
  return true;  // the reply comes later
});

chrome.commands.onCommand.addListener((command, tab) => {
  if (command === "analyse-page" && tab?.id !== undefined) readTab(tab.id);
});

chrome.tabs.onUpdated.addListener((tabId, change) => {
  if (change.status === "loading") chrome.storage.session.remove(`tab:${tabId}`);
});

chrome.tabs.onRemoved.addListener((tabId) => chrome.storage.session.remove(`tab:${tabId}`));
