// Progressive enhancements only: htmx and its ws extension do the real work.
(function () {
  "use strict";
  var transcript = function () { return document.getElementById("transcript"); };
  var pinned = true; // follow new text only while the reader is at the bottom

  document.addEventListener("scroll", function (e) {
    var t = transcript();
    if (t && e.target === t) { pinned = t.scrollHeight - t.scrollTop - t.clientHeight < 80; }
  }, true);

  function follow() {
    var t = transcript();
    if (t && pinned) { t.scrollTop = t.scrollHeight; }
  }

  // Enter sends, Shift+Enter makes a new line.
  document.addEventListener("keydown", function (e) {
    if (e.target.id !== "composer-input" || e.key !== "Enter" || e.shiftKey || e.isComposing) return;
    e.preventDefault();
    var form = e.target.form;
    if (form && e.target.value.trim() && !form.dataset.sending) form.requestSubmit();
  });

  // While the person's own turn is starting, the composer is disabled; any reply re-enables it.
  document.addEventListener("htmx:wsAfterSend", function (e) {
    var form = e.target.closest && e.target.closest("#composer");
    if (!form) return;
    form.dataset.sending = "1";
    form.querySelectorAll("textarea, button").forEach(function (el) { el.disabled = true; });
    pinned = true;
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    var form = document.getElementById("composer");
    var live = document.querySelector("#turn-controls[data-live=true]");
    if (form && form.dataset.sending && !document.querySelector("#composer-error:empty") ) { unlock(form); }
    var send = document.getElementById("send-button");
    if (send && !(form && form.dataset.sending)) { send.disabled = !!live; }
    follow();
  });
  function unlock(form) {
    delete form.dataset.sending;
    form.querySelectorAll("textarea, button").forEach(function (el) { el.disabled = false; });
  }
  document.addEventListener("htmx:oobAfterSwap", function (e) {
    if (e.target && e.target.id === "composer") {
      var input = document.getElementById("composer-input");
      if (input) input.focus();
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    follow();
    var live = document.querySelector("#turn-controls[data-live=true]");
    var send = document.getElementById("send-button");
    if (send && live) send.disabled = true;
  });
})();
