// Progressive enhancements only: htmx and its ws extension do the real work.
(function () {
  "use strict";
  var byId = function (id) { return document.getElementById(id); };
  var pinned = true; // follow new text only while the reader is at the bottom
  var offline = false; // the socket was open once and is closed now
  var wasLive = null; // the turn controls' last state: a change clears a stale error

  // Reconnect soon after a server restart (the extension's default waits up to 64 s).
  if (window.htmx) {
    htmx.config.wsReconnectDelay = function (n) {
      return Math.min(500 * Math.pow(2, n), 5000) * (0.5 + Math.random() / 2);
    };
  }

  document.addEventListener("scroll", function (e) {
    var t = byId("transcript");
    if (t && e.target === t) { pinned = t.scrollHeight - t.scrollTop - t.clientHeight < 80; }
  }, true);

  function follow() {
    var t = byId("transcript");
    if (t && pinned) { t.scrollTop = t.scrollHeight; }
  }

  function live() { return !!document.querySelector("#turn-controls[data-live=true]"); }

  function showError(text) {
    var box = byId("composer-error");
    if (box) box.textContent = text;
  }

  // Send is offered only when pressing it can work: connected, no answer being written.
  function refreshSend() {
    var form = byId("composer");
    var send = byId("send-button");
    if (send && !(form && form.dataset.sending)) send.disabled = live() || offline;
  }

  // Enter sends, Shift+Enter makes a new line; while an answer is written Enter does nothing
  // (the Stop button is offered instead).
  document.addEventListener("keydown", function (e) {
    if (e.target.id !== "composer-input" || e.key !== "Enter" || e.shiftKey || e.isComposing) return;
    e.preventDefault();
    var form = e.target.form;
    if (!form || !e.target.value.trim() || form.dataset.sending || live()) return;
    form.requestSubmit();
  });

  // Nothing waits in the extension's queue to be sent silently later: while offline a
  // command is refused on screen and the typed text stays in the box.
  document.addEventListener("htmx:wsConfigSend", function (e) {
    if (!offline) return;
    e.preventDefault();
    showError("Not connected: nothing was sent. Your message stays in the box; send it again once the connection is back.");
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
    afterSwaps();
    var form = byId("composer");
    if (form && form.dataset.sending && !document.querySelector("#composer-error:empty")) { unlock(form); }
    refreshSend();
    decorate();
    follow();
  });
  function unlock(form) {
    delete form.dataset.sending;
    form.querySelectorAll("textarea, button").forEach(function (el) { el.disabled = false; });
  }

  // The connection as the person sees it: a banner while the socket is down.
  function setOffline(down, closeCode) {
    offline = down;
    var banner = byId("connection-banner");
    if (banner) {
      var retrying = [1006, 1011, 1012, 1013].indexOf(closeCode) >= 0;
      banner.textContent = !down || retrying ? "Reconnecting…" : "Disconnected. Reload the page to connect again.";
      banner.hidden = !down;
    }
    if (!down && /^Not connected/.test((byId("composer-error") || {}).textContent || "")) showError("");
    refreshSend();
  }
  document.addEventListener("htmx:wsClose", function (e) {
    setOffline(true, e.detail && e.detail.event ? e.detail.event.code : 1006);
  });
  document.addEventListener("htmx:wsOpen", function () { setOffline(false); });

  // htmx gives a swapped element its old attributes until the swap settles, so what the new
  // attributes say is read once the whole message is in (htmx:wsAfterMessage, below).
  var swapped = { controls: false, error: false, badges: [] };
  document.addEventListener("htmx:oobAfterSwap", function (e) {
    var id = e.target && e.target.id;
    if (id === "composer") {
      var input = byId("composer-input");
      if (input) input.focus();
      count();
    } else if (id === "conversation-title") {
      document.title = e.target.textContent.trim() + " · Chat"; // renamed: the browser tab too
    } else if (id === "turn-controls") {
      swapped.controls = true;
    } else if (id === "composer-error") {
      swapped.error = true; // news that came with the state change: not stale
    } else if (/^m\d+-status$/.test(id || "")) {
      swapped.badges.push(id);
    }
  });
  function afterSwaps() {
    if (swapped.controls) {
      var now = live();
      if (wasLive !== null && now !== wasLive && !swapped.error) showError(""); // old errors are stale
      wasLive = now;
    }
    // A badge changed: its message's status class follows (it draws the typing cursor).
    swapped.badges.forEach(function (id) {
      var badge = byId(id);
      var article = byId(id.split("-")[0]);
      var status = badge && (badge.className.match(/badge-(\w+)/) || [])[1];
      if (article && status) article.className = article.className.replace(/status-\w+/, "status-" + status);
    });
    swapped = { controls: false, error: false, badges: [] };
  }

  // Length: a counter near the limit, and a paste that would pass it is refused, not cut.
  function limit() {
    var input = byId("composer-input");
    return input ? parseInt(input.getAttribute("maxlength"), 10) || 0 : 0;
  }
  function count() {
    var input = byId("composer-input");
    var counter = byId("composer-counter");
    var max = limit();
    if (!input || !counter || !max) return;
    var n = input.value.length;
    counter.hidden = n < max * 0.9;
    counter.textContent = n.toLocaleString() + " / " + max.toLocaleString() + " characters";
    counter.classList.toggle("at-limit", n >= max);
  }
  document.addEventListener("input", function (e) { if (e.target.id === "composer-input") count(); });
  document.addEventListener("paste", function (e) {
    var input = e.target;
    if (input.id !== "composer-input" || !e.clipboardData) return;
    var pasted = e.clipboardData.getData("text/plain").replace(/\r\n/g, "\n");
    var max = limit();
    var after = input.value.length - (input.selectionEnd - input.selectionStart) + pasted.length;
    if (!max || after <= max) return;
    e.preventDefault();
    showError("That paste was not added: the message would have " + after.toLocaleString() +
      " characters, and the limit is " + max.toLocaleString() + ". Shorten it or send it in parts.");
  });

  // Copy buttons: one per answer (server-rendered) and one per code block (added here).
  function decorate() {
    document.querySelectorAll(".answer-text.markdown pre").forEach(function (pre) {
      if (pre.querySelector(".copy-code")) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy copy-code";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy code");
      pre.appendChild(button);
    });
  }
  function copy(button, text) {
    var done = function (label) {
      button.textContent = label;
      setTimeout(function () { button.textContent = "Copy"; }, 2500);
    };
    if (!navigator.clipboard) { done("Copy not available here: select the text and copy it"); return; }
    navigator.clipboard.writeText(text).then(
      function () { done("Copied"); },
      function () { done("Copy failed: select the text and copy it"); }
    );
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button.copy, button.unfold");
    if (!button) return;
    if (button.classList.contains("copy-code")) {
      var code = button.parentNode.querySelector("code");
      copy(button, (code || button.parentNode).textContent);
    } else if (button.classList.contains("copy-answer")) {
      var parts = button.closest("article").querySelectorAll(".item-message .answer-text");
      copy(button, Array.prototype.map.call(parts, function (p) {
        var clone = p.cloneNode(true); // without the code blocks' own Copy buttons
        clone.querySelectorAll("button").forEach(function (b) { b.remove(); });
        return clone.textContent.trim();
      }).join("\n\n"));
    } else {
      var bubble = byId(button.getAttribute("aria-controls"));
      var open = bubble.classList.toggle("open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
      button.textContent = open ? "Show less" : "Show all";
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    wasLive = live();
    refreshSend();
    decorate();
    count();
    follow();
  });
})();
