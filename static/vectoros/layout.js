// Layout behaviour for every page (no inline scripts: the CSP forbids them).
// 1. The top bar's menu button on narrow screens. Without this script the button stays hidden and the menu is
//    simply laid out open (wrapped), so every section is still reachable; with it the menu folds behind the button.
// 2. A table or box that scrolls (sideways on a phone, or a long timeline) can be scrolled from the keyboard:
//    it takes focus.
(function () {
  "use strict";

  const SCROLL_BOXES = ".table-wrap, table, .board, .tabs, [data-chart], .scroll";

  function focusableScrollBoxes(root) {
    root.querySelectorAll(SCROLL_BOXES).forEach(function (box) {
      const style = getComputedStyle(box);
      const scrolls =
        (box.scrollWidth > box.clientWidth + 1 && style.overflowX !== "visible") ||
        (box.scrollHeight > box.clientHeight + 1 && style.overflowY !== "visible");
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.dataset.scrollBox = "true";
      } else if (!scrolls && box.dataset.scrollBox) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrollBox;
      }
    });
  }

  function setUpMenu() {
    const header = document.querySelector(".topbar");
    const button = header && header.querySelector(".menu-toggle");
    const menu = button && document.getElementById(button.getAttribute("aria-controls"));
    if (!menu) return;

    function setOpen(open) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
      header.classList.toggle("menu-open", open);
    }

    button.hidden = false;
    header.classList.add("menu-ready");
    button.addEventListener("click", function () {
      setOpen(button.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && header.classList.contains("menu-open")) {
        setOpen(false);
        button.focus();
      }
    });
  }

  function setUp() {
    setUpMenu();
    focusableScrollBoxes(document);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
  window.addEventListener("load", function () { focusableScrollBoxes(document); });
  window.addEventListener("resize", function () { focusableScrollBoxes(document); });
  document.addEventListener("htmx:afterSettle", function () { focusableScrollBoxes(document); });
})();
