/* PyPI Trends pages: charts (uPlot), theme, copy buttons, keyboard search.
 *
 * No inline script anywhere: chart data comes as JSON in each chart's
 * data-spec attribute, and htmx is configured (meta htmx-config) not to
 * evaluate code nor keep script tags of swapped content. Runs on first load and
 * on every htmx swap (htmx.onLoad).
 */
(function () {
  "use strict";

  var root = document.documentElement;
  root.classList.add("js");

  // ---- Theme: auto (system), light or dark, remembered in localStorage.
  var THEMES = ["auto", "light", "dark"];
  function storedTheme() {
    try { return localStorage.getItem("theme") || "auto"; } catch (e) { return "auto"; }
  }
  function applyTheme(theme) {
    // An embed asked for a theme (?theme=light|dark) keeps it.
    if (document.body && document.body.getAttribute("data-fixed-theme")) return;
    if (theme === "auto") root.removeAttribute("data-theme");
    else root.setAttribute("data-theme", theme);
    var button = document.getElementById("theme-toggle");
    if (button) button.title = "Theme: " + theme;
  }
  applyTheme(storedTheme());
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("#theme-toggle");
    if (!button) return;
    var next = THEMES[(THEMES.indexOf(storedTheme()) + 1) % THEMES.length];
    try { localStorage.setItem("theme", next); } catch (e) { /* private mode */ }
    applyTheme(next);
    redrawAll();
  });

  function isDark() {
    var theme = root.getAttribute("data-theme");
    if (theme) return theme === "dark";
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  // ---- Charts.
  var PALETTE = ["#1f77b4", "#e8590c", "#2f9e44", "#d6336c", "#7048e8",
                 "#0c8599", "#f08c00", "#5c940d", "#862e9c", "#868e96"];
  var charts = [];

  function fmtCount(v) {
    if (v == null) return "–";
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1).replace(/\.0$/, "") + "B";
    if (a >= 1e6) return (v / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
    return String(Math.round(v));
  }
  function fmtValue(spec, v) {
    if (v == null) return "–";
    return spec.percent ? v.toFixed(v < 10 ? 2 : 1) + " %" : fmtCount(v);
  }
  function fmtX(spec, x) {
    if (!spec.time) return "week " + x;
    return new Date(x * 1000).toISOString().slice(0, 10);
  }

  // Stacked areas: each band is drawn as the running sum of the series below it.
  function stack(spec) {
    var acc = spec.x.map(function () { return 0; });
    return spec.series.map(function (s) {
      return s.values.map(function (v, i) {
        if (v == null) return null;
        acc[i] += v;
        return acc[i];
      });
    });
  }

  function colorOf(spec, k) {
    var slot = spec.series[k] && spec.series[k].color;
    return PALETTE[(slot == null ? k : slot) % PALETTE.length];
  }

  // Release ticks and log-event bands: DOM elements over the plot (not canvas
  // strokes), so each carries its label for assistive tech and tests; the
  // tooltip of the hovered week names them. Repositioned on every redraw.
  function markersPlugin(spec) {
    var layer;
    return {
      hooks: {
        init: function (u) {
          if (!(spec.releases && spec.releases.length) && !(spec.events && spec.events.length)) return;
          layer = document.createElement("div");
          layer.className = "chart-markers";
          u.over.appendChild(layer);
        },
        draw: function (u) {
          if (!layer) return;
          layer.textContent = "";
          var width = u.over.clientWidth;
          var lo = u.scales.x.min, hi = u.scales.x.max;
          (spec.events || []).forEach(function (e) {
            var x0 = Math.max(lo, e.x0), x1 = Math.min(hi, e.x1);
            if (x1 <= x0) return;
            var left = Math.max(0, u.valToPos(x0, "x"));
            var right = Math.min(width, u.valToPos(x1, "x"));
            var band = document.createElement("div");
            band.className = "event-band";
            band.title = e.label;
            band.setAttribute("data-label", e.label);
            band.style.left = left + "px";
            band.style.width = Math.max(2, right - left) + "px";
            layer.appendChild(band);
          });
          (spec.releases || []).forEach(function (r) {
            if (r.x < lo || r.x > hi) return;
            var tick = document.createElement("div");
            tick.className = "release-tick";
            tick.title = r.label;
            tick.setAttribute("data-label", r.label);
            tick.style.left = Math.round(u.valToPos(r.x, "x")) + "px";
            tick.style.background = colorOf(spec, r.series);
            layer.appendChild(tick);
          });
        }
      }
    };
  }

  function tooltipPlugin(spec) {
    var tip;
    return {
      hooks: {
        init: function (u) {
          tip = document.createElement("div");
          tip.className = "chart-tooltip";
          tip.hidden = true;
          u.over.appendChild(tip);
          u.over.addEventListener("mouseleave", function () { tip.hidden = true; });
        },
        setCursor: function (u) {
          var i = u.cursor.idx;
          if (i == null || u.cursor.left < 0) { tip.hidden = true; return; }
          tip.textContent = "";
          var head = document.createElement("strong");
          head.textContent = fmtX(spec, spec.x[i]);
          tip.appendChild(head);
          var rows = spec.series.map(function (s, k) {
            return { label: s.label, value: s.values[i], color: colorOf(spec, k) };
          });
          if (spec.kind !== "stacked") {
            rows.sort(function (a, b) { return (b.value || 0) - (a.value || 0); });
          } else if (rows.every(function (r) { return r.value == null; })) {
            // A gap: no breakdown rows for this week (below the file's breakdown
            // threshold, or no downloads), not a week of zeros.
            var gap = document.createElement("div");
            gap.className = "tip-gap";
            gap.textContent = "No breakdown this week";
            tip.appendChild(gap);
            rows = [];
          } else {
            rows.reverse();
          }
          rows.forEach(function (r) {
            var line = document.createElement("div");
            var dot = document.createElement("span");
            dot.className = "dot";
            dot.style.background = r.color;
            line.appendChild(dot);
            line.appendChild(document.createTextNode(r.label + ": " + fmtValue(spec, r.value)));
            tip.appendChild(line);
          });
          // Releases and log events of the hovered week.
          var x = spec.x[i];
          (spec.releases || []).forEach(function (r) {
            if (r.x !== x) return;
            var line = document.createElement("div");
            line.className = "tip-release";
            line.textContent = "Release: " + r.label;
            tip.appendChild(line);
          });
          (spec.events || []).forEach(function (e) {
            if (x < e.x0 || x >= e.x1) return;
            var line = document.createElement("div");
            line.className = "tip-event";
            line.textContent = "Note: " + e.label;
            tip.appendChild(line);
          });
          tip.hidden = false;
          var left = u.cursor.left + 12;
          var width = tip.offsetWidth;
          if (left + width > u.over.clientWidth) left = Math.max(0, u.cursor.left - width - 12);
          tip.style.left = left + "px";
          tip.style.top = Math.max(0, u.cursor.top - 10) + "px";
        }
      }
    };
  }

  function markerPlugin(spec) {
    // A dashed vertical line at the last complete week ("data through").
    return {
      hooks: {
        draw: function (u) {
          if (spec.marker == null) return;
          var x = Math.round(u.valToPos(spec.marker, "x", true));
          var ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = isDark() ? "#adb5bd" : "#495057";
          ctx.setLineDash([4, 4]);
          ctx.lineWidth = 1;
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.setLineDash([]);
          ctx.fillStyle = ctx.strokeStyle;
          ctx.font = Math.round(11 * devicePixelRatio) + "px system-ui, sans-serif";
          ctx.textAlign = "right";
          ctx.fillText(spec.markerLabel, x - 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
          ctx.restore();
        }
      }
    };
  }

  // Indices of values whose neighbours are both missing (null when there are none).
  function isolated(u, si) {
    var ys = u.data[si], out = [];
    for (var i = 0; i < ys.length; i++) {
      if (ys[i] != null && (i === 0 || ys[i - 1] == null) && (i === ys.length - 1 || ys[i + 1] == null)) {
        out.push(i);
      }
    }
    return out.length ? out : null;
  }

  function chartOptions(spec, width) {
    var ink = isDark() ? "#c2c7d0" : "#373c44";
    var grid = isDark() ? "rgba(255,255,255,0.08)" : "rgba(0,0,0,0.08)";
    var stacked = spec.kind === "stacked";
    var series = [{ label: spec.time ? "Week" : spec.xLabel, value: function (u, v) { return v == null ? "" : fmtX(spec, v); } }];
    spec.series.forEach(function (s, k) {
      var color = colorOf(spec, k);
      series.push({
        label: s.label,
        stroke: color,
        width: stacked ? 1 : 2,
        fill: stacked ? color + "cc" : undefined,
        spanGaps: false,
        // No dots on lines, except a value with gaps on both sides (a week
        // with a breakdown between weeks without): it would draw no line at all.
        points: { show: false, size: 6, fill: color, filter: isolated },
        value: function (u, v, si, i) { return fmtValue(spec, i == null ? v : spec.series[si - 1].values[i]); }
      });
    });
    var bands = [];
    if (stacked) {
      for (var k = spec.series.length; k > 1; k--) bands.push({ series: [k, k - 1] });
    }
    return {
      width: width,
      height: width < 600 ? 240 : 340,
      series: series,
      bands: bands,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: {
        x: { time: spec.time },
        y: stacked ? { range: [0, 100] } : { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } }
      },
      axes: [
        { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid } },
        {
          stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid }, size: 60,
          values: function (u, splits) { return splits.map(function (v) { return spec.percent ? v + "%" : fmtCount(v); }); }
        }
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      plugins: [tooltipPlugin(spec), markerPlugin(spec), markersPlugin(spec)]
    };
  }

  function draw(holder) {
    var source = holder.getAttribute("data-spec");
    if (!source || typeof uPlot === "undefined") return;
    var spec = JSON.parse(source);
    var values = spec.kind === "stacked" ? stack(spec) : spec.series.map(function (s) { return s.values; });
    // Stacked bands are drawn top series first so each fills down to the one below.
    holder.textContent = "";
    var width = Math.max(280, holder.clientWidth);
    var plot = new uPlot(chartOptions(spec, width), [spec.x].concat(values), holder);
    holder.setAttribute("data-series", String(spec.series.length));
    holder.classList.add("drawn");
    charts.push({ holder: holder, plot: plot, spec: spec, width: width });
  }

  function redrawAll() {
    var old = charts;
    charts = [];
    old.forEach(function (c) { c.plot.destroy(); if (document.body.contains(c.holder)) draw(c.holder); });
  }

  function forget(element) {
    charts = charts.filter(function (c) {
      if (element.contains(c.holder)) { c.plot.destroy(); return false; }
      return true;
    });
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      charts.forEach(function (c) {
        var width = Math.max(280, c.holder.clientWidth);
        if (width !== c.width) {
          c.width = width;
          c.plot.setSize({ width: width, height: width < 600 ? 240 : 340 });
        }
      });
    }, 100);
  });
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redrawAll);
  }

  // ---- Copy buttons (embed code, badge markdown).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) return;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { field.select(); });
    } else {
      field.select();
      try { if (document.execCommand("copy")) done(); } catch (e) { /* selected for manual copy */ }
    }
  });

  // ---- Search box: arrow keys move through the suggestions, Escape closes them.
  function suggestionLinks() {
    return Array.prototype.slice.call(document.querySelectorAll("#suggestions a.suggestion"));
  }
  document.addEventListener("keydown", function (event) {
    var input = document.getElementById("pkg-search");
    if (!input) return;
    var links = suggestionLinks();
    var inSearch = event.target === input;
    var index = links.indexOf(event.target);
    if (!inSearch && index < 0) return;
    if (event.key === "ArrowDown" && links.length) {
      event.preventDefault();
      links[Math.min(index + 1, links.length - 1)].focus();
    } else if (event.key === "ArrowUp" && index >= 0) {
      event.preventDefault();
      if (index === 0) input.focus(); else links[index - 1].focus();
    } else if (event.key === "Escape") {
      document.getElementById("suggestions").textContent = "";
      input.focus();
    }
  });

  // Keep typing after adding a package: the new page's search box gets the focus.
  var refocus = false;
  // The control a change came from: the swap replaces it, so its twin in the
  // new <main> (same name, and value for checkboxes) gets the focus back.
  var changed = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var el = event.detail.elt;
    refocus = !!(el && el.closest && (el.closest("#suggestions") || el.closest("#add-form")));
    var trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    var control = trigger && trigger.target;
    changed = null;
    if (control && control.name && control.closest && control.closest("form.state")) {
      changed = { name: control.name, value: control.type === "checkbox" ? control.value : null };
    }
  });

  function announce(text) {
    var live = document.getElementById("announce");
    if (!live) return;
    // Cleared first so the same text twice is still read out.
    live.textContent = "";
    setTimeout(function () { live.textContent = text; }, 50);
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    // outerHTML swap: detail.target is the old <main>, already detached.
    if (!event.detail.target || event.detail.target.id !== "main") return;
    var target = document.getElementById("main");
    if (!target) return;
    var heading = target.querySelector("h1");
    var what = heading ? heading.textContent.trim() : document.title;
    if (changed) {
      var selector = '[name="' + changed.name + '"]' +
        (changed.value != null ? '[value="' + changed.value + '"]' : "") +
        ":not([type=hidden])";
      var again = target.querySelector(selector);
      if (again) again.focus({ preventScroll: true });
      changed = null;
    }
    announce("Updated: " + what + ".");
  });
  document.addEventListener("htmx:beforeCleanupElement", function (event) { forget(event.target); });

  function init(element) {
    var scope = element && element.querySelectorAll ? element : document;
    var holders = scope.querySelectorAll("[data-chart]");
    if (scope.matches && scope.matches("[data-chart]")) draw(scope);
    Array.prototype.forEach.call(holders, draw);
    if (refocus && scope.querySelector && scope.querySelector("#pkg-search")) {
      refocus = false;
      scope.querySelector("#pkg-search").focus();
    }
    var button = document.getElementById("theme-toggle");
    if (button) button.title = "Theme: " + storedTheme();
  }

  if (typeof htmx !== "undefined") {
    htmx.onLoad(init);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
})();
