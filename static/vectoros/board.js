// The pipeline board: drag a card onto another stage's column (or onto Won/Lost) to move it; the card's own
// stage menu and Move button do the same from the keyboard. Moving to a won or lost stage first asks, in a
// dialog, for the close date and the amount (won) or the reason (lost). The undo offer disappears after its time.
// Every request goes through the card's htmx form, so the server renders the board either way.
(function () {
  "use strict";

  function boardEl() { return document.getElementById("board"); }

  function moveForm(card) { return card && card.querySelector("form.move"); }

  // ---- Drag and drop ---------------------------------------------------------------------------------------
  let dragged = null;

  document.addEventListener("dragstart", function (event) {
    const card = event.target.closest && event.target.closest("#board .card[draggable=true]");
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.deal);
  });

  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    document.querySelectorAll(".drop-over").forEach(function (el) { el.classList.remove("drop-over"); });
  });

  function dropZone(event) {
    return event.target.closest && event.target.closest("#board [data-drop-stage]");
  }

  document.addEventListener("dragover", function (event) {
    const zone = dropZone(event);
    if (!zone || !dragged) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    zone.classList.add("drop-over");
  });

  document.addEventListener("dragleave", function (event) {
    const zone = dropZone(event);
    if (zone && !zone.contains(event.relatedTarget)) zone.classList.remove("drop-over");
  });

  document.addEventListener("drop", function (event) {
    const zone = dropZone(event);
    if (!zone || !dragged) return;
    event.preventDefault();
    zone.classList.remove("drop-over");
    const form = moveForm(dragged);
    const select = form && form.querySelector("select[name=stage]");
    if (!select || select.dataset.current === zone.dataset.dropStage) return;
    select.value = zone.dataset.dropStage;
    form.requestSubmit();
  });

  // ---- Closing: ask for the date and the amount or reason before the request goes --------------------------
  function closingKind(form) {
    const select = form.querySelector("select[name=stage]");
    const option = select && select.selectedOptions[0];
    const kind = option ? option.dataset.kind : "open";
    return kind === "won" || kind === "lost" ? { kind: kind, name: option.textContent, select: select } : null;
  }

  document.addEventListener("htmx:confirm", function (event) {
    const form = event.detail.elt;
    if (!form.matches || !form.matches("#board form.move")) return;
    const closing = closingKind(form);
    if (!closing) return;
    const dialog = document.getElementById("close-dialog");
    if (!dialog) return;
    event.preventDefault();
    const card = form.closest(".card");
    const won = closing.kind === "won";
    dialog.querySelector("[data-close-title]").textContent = card.dataset.title;
    dialog.querySelector("[data-close-stage]").textContent = closing.name;
    dialog.querySelector("[data-close-won]").hidden = !won;
    dialog.querySelector("[data-close-lost]").hidden = won;
    const date = dialog.querySelector("#close-date");
    const amount = dialog.querySelector("#close-amount");
    const reason = dialog.querySelector("#close-reason");
    date.value = boardEl().dataset.today;
    date.max = boardEl().dataset.today;
    amount.value = card.dataset.amount;
    amount.required = won;
    reason.value = "";
    reason.required = !won;
    dialog.returnValue = "";
    dialog.addEventListener("close", function onClose() {
      dialog.removeEventListener("close", onClose);
      if (dialog.returnValue !== "confirm") {
        closing.select.value = closing.select.dataset.current;  // cancelled: the menu shows the deal's stage again
        return;
      }
      form.querySelector("input[name=close_date]").value = date.value;
      form.querySelector("input[name=amount]").value = won ? amount.value : "";
      form.querySelector("input[name=lost_reason]").value = won ? "" : reason.value;
      event.detail.issueRequest(true);
    });
    dialog.showModal();
    date.focus();
  });

  // The dialog's own form never goes to the server: its buttons close the dialog with their value (after the
  // browser checked the required answers; Cancel skips that with formnovalidate).
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.matches || !form.matches("#close-dialog [data-close-form]")) return;
    event.preventDefault();
    form.closest("dialog").close(event.submitter ? event.submitter.value : "");
  });

  // ---- The undo offer lasts as long as the server accepts it ---------------------------------------------
  function armUndo(root) {
    const bar = root.querySelector && root.querySelector("[data-undo-bar]");
    const board = boardEl();
    if (!bar || !board || bar.dataset.armed) return;
    bar.dataset.armed = "true";
    window.setTimeout(function () { bar.remove(); }, 1000 * Number(board.dataset.undoSeconds || 60));
  }

  document.addEventListener("DOMContentLoaded", function () { armUndo(document); });
  document.addEventListener("htmx:afterSettle", function () { armUndo(document); });
})();
