// Legend filters and click-to-open explanations; the page works without this script too.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelector("form[data-autosubmit]")?.requestSubmit();  // opened by the bookmarklet
  const highlights = Array.from(document.querySelectorAll(".hl"));
  const filters = Array.from(document.querySelectorAll("button.filter"));

  function applyFilters() {
    const shown = new Set(filters.filter((b) => b.getAttribute("aria-pressed") === "true").map((b) => b.dataset.technique));
    for (const hl of highlights) {
      const visible = hl.dataset.techniques.split("|").some((t) => shown.has(t));
      hl.classList.toggle("muted", !visible);
      hl.tabIndex = visible ? 0 : -1;
    }
  }

  for (const button of filters) {
    button.addEventListener("click", () => {
      button.setAttribute("aria-pressed", button.getAttribute("aria-pressed") === "true" ? "false" : "true");
      applyFilters();
    });
  }

  for (const hl of highlights) {
    hl.addEventListener("click", () => {
      const wasOpen = hl.classList.contains("open");
      highlights.forEach((other) => other.classList.remove("open"));
      if (!wasOpen) hl.classList.add("open");
    });
    hl.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); hl.click(); }
      if (event.key === "Escape") hl.classList.remove("open");
    });
  }
});
