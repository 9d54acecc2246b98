// The overview's date slider: progressive enhancement over a plain GET form. Without this
// script the form still works (date picker, "as known on" select and a Show button).
(function () {
  "use strict";

  var DAY_MS = 24 * 60 * 60 * 1000;

  function isoDay(start, offset) {
    var parts = start.split("-").map(Number);
    var time = Date.UTC(parts[0], parts[1] - 1, parts[2]) + offset * DAY_MS;
    return new Date(time).toISOString().slice(0, 10);
  }

  function offsetOf(start, day) {
    var a = start.split("-").map(Number);
    var b = day.split("-").map(Number);
    return Math.round((Date.UTC(b[0], b[1] - 1, b[2]) - Date.UTC(a[0], a[1] - 1, a[2])) / DAY_MS);
  }

  function label(day) {
    var lang = document.documentElement.lang === "nl" ? "nl-BE" : "en-GB";
    var parts = day.split("-").map(Number);
    return new Intl.DateTimeFormat(lang, {
      day: "numeric", month: "short", year: "numeric", timeZone: "UTC"
    }).format(new Date(Date.UTC(parts[0], parts[1] - 1, parts[2])));
  }

  function enhance(form) {
    var box = form.querySelector("[data-slider]");
    var slider = form.querySelector("#at-slider");
    var dateInput = form.querySelector("#at");
    var known = form.querySelector("#known_at");
    var status = document.getElementById("moment-status");
    if (!box || !slider || !dateInput) {
      return;
    }
    var start = slider.dataset.start;
    var timer = null;
    var latest = 0;
    box.hidden = false;

    function showDay(day) {
      slider.setAttribute("aria-valuetext", label(day));
    }

    function refresh() {
      var url = new URL(form.action, window.location.href);
      url.search = new URLSearchParams(new FormData(form)).toString();
      var request = ++latest;
      var state = document.getElementById("state");
      state.setAttribute("aria-busy", "true");
      fetch(url.toString(), { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (response.redirected && response.url.indexOf("/ui/login") !== -1) {
            window.location.assign(response.url);
            return null;
          }
          return response.text().then(function (html) {
            return { ok: response.ok, html: html };
          });
        })
        .then(function (result) {
          if (!result || request !== latest) {
            return;
          }
          var page = new DOMParser().parseFromString(result.html, "text/html");
          var fresh = page.getElementById("state");
          var current = document.getElementById("state");
          if (!result.ok || !fresh) {
            var problem = page.querySelector("[role=alert]");
            status.textContent = problem ? problem.textContent : String(result.html).slice(0, 200);
            current.removeAttribute("aria-busy");
            return;
          }
          current.replaceWith(document.importNode(fresh, true));
          window.history.replaceState(null, "", url.pathname + url.search);
          var heading = page.getElementById("state-title");
          status.textContent = heading ? heading.textContent.replace(/\s+/g, " ").trim() : "";
        })
        .catch(function (error) {
          status.textContent = String(error);
          document.getElementById("state").removeAttribute("aria-busy");
        });
    }

    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 250);
    }

    slider.addEventListener("input", function () {
      var day = isoDay(start, Number(slider.value));
      dateInput.value = day;
      showDay(day);
    });
    slider.addEventListener("change", later);
    dateInput.addEventListener("change", function () {
      if (dateInput.value) {
        slider.value = String(offsetOf(start, dateInput.value));
        showDay(dateInput.value);
        later();
      }
    });
    if (known) {
      known.addEventListener("change", later);
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      refresh();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("moment-form");
    if (form) {
      enhance(form);
    }
  });
})();
