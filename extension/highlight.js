// Marks spans in the page, in their techniques' colours, and explains them in a tooltip.
// Runs in the page's isolated world after extract.js; touches the page only through
// <propscope-mark> elements around its text and one <propscope-ui> host with a shadow root.
(() => {
  const ns = (globalThis.propscope ??= {});
  const MARK = "propscope-mark";
  const TEXT_ON_COLOUR = "#111827";  // techniques.HIGHLIGHT_TEXT: every technique colour is chosen for it
  let tooltip = null;
  let explained = [];  // per span index: {name, definition, confidence, colour}
  let sensitivity = "";

  function style(element, properties) {
    for (const [name, value] of Object.entries(properties)) element.style.setProperty(name, value, "important");
  }

  /** Remove every mark, leaving the page's text nodes as they were. */
  ns.clear = function clear() {
    const parents = new Set();
    for (const mark of document.querySelectorAll(MARK)) {
      parents.add(mark.parentNode);
      mark.replaceWith(...mark.childNodes);
    }
    for (const parent of parents) if (parent.isConnected) parent.normalize();
    hide();
  };

  /** The spans' covered characters as pieces of text nodes, cut at every span boundary. */
  function pieces(spans) {
    const cuts = [...new Set(spans.flatMap((s) => [s.start, s.end]))].sort((a, b) => a - b);
    const result = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const [start, end] = [cuts[i], cuts[i + 1]];
      const covering = spans.filter((s) => s.start <= start && end <= s.end)
        .sort((a, b) => a.start - b.start || b.end - a.end);
      if (!covering.length) continue;
      let piece = null;
      for (const at of ns.where.slice(start, end)) {
        if (!at) { piece = null; continue; }
        if (piece && piece.node === at.node && piece.to === at.from) piece.to = at.to;
        else result.push((piece = { node: at.node, from: at.from, to: at.to, covering }));
      }
    }
    return result;
  }

  /** Wrap each piece in one mark per covering span, outermost first: the innermost one's colour
   * fills the text (paler where that span has others nested in it), and each span around it
   * draws a bar of its colour under it, lower the further out, parted by a 1-pixel gap. */
  function wrap(piece, enclosing) {
    const { node, from, to, covering } = piece;
    if (!node.isConnected || node.parentNode.namespaceURI !== "http://www.w3.org/1999/xhtml") return;
    node.splitText(to);
    const text = node.splitText(from);
    const innermost = covering.length - 1;
    let parent = null;
    covering.forEach((span, depth) => {
      const mark = document.createElement(MARK);
      mark.className = "propscope-hl";
      mark.dataset.propscopeSpan = String(span.index);
      mark.dataset.propscopeDepth = String(depth);
      const { colour, paleColour } = explained[span.index];
      style(mark, depth === innermost
        ? { background: enclosing.has(span) ? paleColour : colour, color: TEXT_ON_COLOUR, "border-radius": "2px",
            cursor: "help" }
        : { "border-bottom": `3px solid ${colour}`, "padding-bottom": `${4 * (innermost - 1 - depth) + 1}px`,
            cursor: "help" });
      if (parent) parent.append(mark);
      else text.before(mark);
      parent = mark;
    });
    parent.append(text);
  }

  /** Highlight `spans` ({index, start, end, name, definition, confidence, colour, paleColour},
   * code-point offsets into the text extract() returned); returns how many spans were marked. */
  ns.highlight = function highlight(spans, chosenSensitivity) {
    ns.clear();
    explained = [];
    for (const span of spans) explained[span.index] = span;
    sensitivity = chosenSensitivity;
    // Later pieces first, so that cutting a text node leaves the offsets of earlier pieces valid.
    const enclosing = new Set(spans.filter((outer) => spans.some((inner) => outer.start <= inner.start
      && inner.end <= outer.end && inner.end - inner.start < outer.end - outer.start)));
    for (const piece of pieces(spans).reverse()) wrap(piece, enclosing);
    const first = new Set();
    for (const mark of document.querySelectorAll(MARK)) {
      const index = Number(mark.dataset.propscopeSpan);
      if (first.has(index)) continue;
      first.add(index);
      mark.tabIndex = 0;
      mark.setAttribute("aria-description", describe(index));
    }
    listen();
    return first.size;
  };

  /** Scroll to span `index` and focus it, which opens its tooltip. */
  ns.focus = function focus(index) {
    const mark = document.querySelector(`${MARK}[data-propscope-span="${Number(index)}"][tabindex]`);
    if (!mark) return false;
    mark.scrollIntoView({ block: "center" });
    mark.focus({ preventScroll: true });
    return true;
  };

  function describe(index) {
    const t = explained[index];
    return `${t.name} · confidence ${t.confidence.toFixed(2)}. ${t.definition}`;
  }

  function ui() {
    if (tooltip?.isConnected) return tooltip.shadowRoot.querySelector(".tip");
    tooltip = document.createElement("propscope-ui");
    style(tooltip, { all: "initial", position: "fixed", top: "0", left: "0", width: "0", height: "0",
      "z-index": "2147483647" });
    const root = tooltip.attachShadow({ mode: "open" });
    const sheet = document.createElement("style");
    sheet.textContent = `
      .tip { position: fixed; display: none; width: min(24rem, calc(100vw - 16px)); box-sizing: border-box;
             background: #111827; color: #f9fafb; padding: .5rem .75rem; border-radius: .375rem;
             font: 14px/1.4 system-ui, sans-serif; box-shadow: 0 4px 12px rgba(0,0,0,.25); }
      .tip.open { display: block; }
      b { display: block; }
      p { margin: .15rem 0 .5rem; }
      small { color: #d1d5db; }`;
    const tip = document.createElement("div");
    tip.className = "tip";
    tip.setAttribute("role", "tooltip");
    root.append(sheet, tip);
    document.documentElement.append(tooltip);
    return tip;
  }

  function show(mark) {
    const indices = [];
    for (let m = mark; m?.localName === MARK; m = m.parentElement) indices.unshift(Number(m.dataset.propscopeSpan));
    const tip = ui();
    tip.replaceChildren();
    for (const i of indices) {
      const t = explained[i];
      const title = document.createElement("b");
      title.textContent = `${t.name} · confidence ${t.confidence.toFixed(2)}`;
      const definition = document.createElement("p");
      definition.textContent = t.definition;
      tip.append(title, definition);
    }
    const setting = document.createElement("small");
    setting.textContent = `Sensitivity: ${sensitivity} · propscope`;
    tip.append(setting);
    tip.classList.add("open");
    const box = mark.getBoundingClientRect();
    const below = box.bottom + 6 + tip.offsetHeight <= innerHeight;
    tip.style.top = `${below ? box.bottom + 6 : Math.max(8, box.top - 6 - tip.offsetHeight)}px`;
    tip.style.left = `${Math.max(8, Math.min(box.left, innerWidth - tip.offsetWidth - 8))}px`;
  }

  function hide() {
    tooltip?.shadowRoot.querySelector(".tip").classList.remove("open");
  }

  const markOf = (event) => (event.target instanceof Element ? event.target.closest(MARK) : null);

  function listen() {
    if (ns.listening) return;
    ns.listening = true;
    // Passive listeners on the document: the page's own handlers see every event as before.
    const options = { capture: true, passive: true };
    document.addEventListener("mouseover", (e) => { const m = markOf(e); if (m) show(m); }, options);
    document.addEventListener("mouseout", (e) => { if (markOf(e) && !markOf({ target: e.relatedTarget })) hide(); }, options);
    document.addEventListener("focusin", (e) => { const m = markOf(e); if (m) show(m); }, options);
    document.addEventListener("focusout", (e) => { if (markOf(e)) hide(); }, options);
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") hide(); }, options);
    addEventListener("scroll", hide, options);
    addEventListener("resize", hide, options);
  }
})();
