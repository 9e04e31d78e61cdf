// A "Print" button: <button type="button" data-print>. A file, not an inline handler, so the
// pages' Content-Security-Policy (scripts from this server only) allows it.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
});
