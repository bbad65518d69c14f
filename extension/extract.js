// The article's text, taken from the live DOM the reader sees, with a map back to its text nodes.
// Runs in the page's isolated world (chrome.scripting), after vendor/Readability.js.
(() => {
  const ns = (globalThis.propscope ??= {});
  const BLOCKS = new Set(["ADDRESS", "ARTICLE", "ASIDE", "BLOCKQUOTE", "DD", "DIV", "DL", "DT", "FIGCAPTION", "FIGURE",
    "FOOTER", "H1", "H2", "H3", "H4", "H5", "H6", "HEADER", "HR", "LI", "MAIN", "OL", "P", "PRE", "SECTION", "TABLE",
    "TD", "TH", "TR", "UL"]);

  function textNodes(root) {
    const walker = root.ownerDocument.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    return nodes;
  }

  function blockOf(node, root) {
    let element = node.parentNode;
    while (element && element !== root && !BLOCKS.has(element.nodeName)) element = element.parentNode;
    return element;
  }

  /**
   * Readability reads a copy of the document; its article keeps the copy's own text nodes, and
   * the i-th text node of the copy stands for the i-th of the page, so every character of the
   * text points back at the page. Returns {text, title, url, site}, or null without an article.
   */
  ns.extract = function extract() {
    ns.clear?.();
    const copy = document.cloneNode(true);
    const live = textNodes(document.documentElement);
    const page = new Map(textNodes(copy.documentElement).map((node, i) => [node, live[i]]));
    const article = new Readability(copy, { serializer: (element) => element }).parse();
    if (!article) return null;
    const chars = [];
    const where = [];  // per character: {node, from, to} in the page node's UTF-16 offsets, or null for a break
    let block = null;
    const trimEnd = () => {
      while (chars.length && chars[chars.length - 1] === " ") { chars.pop(); where.pop(); }
    };
    const walker = document.createTreeWalker(article.content, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      if (node.nodeName === "BR" && chars.length) {
        trimEnd();
        chars.push("\n"); where.push(null);
      }
      const target = page.get(node);
      if (node.nodeType !== Node.TEXT_NODE || !target || !target.isConnected) continue;
      const here = blockOf(node, article.content);
      if (here !== block && chars.length && /\S/.test(node.data)) {
        trimEnd();
        while (chars.length && chars[chars.length - 1] === "\n") { chars.pop(); where.pop(); }
        chars.push("\n", "\n"); where.push(null, null);
      }
      if (/\S/.test(node.data)) block = here;
      let offset = 0;
      for (const char of node.data) {
        const size = char.length;
        if (/\s/.test(char)) {
          const last = chars.length ? chars[chars.length - 1] : "\n";
          if (last === " " && where[where.length - 1]?.node === target) where[where.length - 1].to = offset + size;
          else if (last !== " " && last !== "\n") { chars.push(" "); where.push({ node: target, from: offset, to: offset + size }); }
        } else {
          chars.push(char); where.push({ node: target, from: offset, to: offset + size });
        }
        offset += size;
      }
    }
    trimEnd();
    const text = chars.join("");
    if (!text.trim()) return null;
    ns.where = where;
    return { text, title: article.title || document.title, url: location.href, site: article.siteName || location.hostname };
  };
})();
