// The review page's behaviour: keyboard shortcuts on the queue, labelling on the evidence frame, the small Leaflet maps.
(function () {
  "use strict";
  const REJECT_KEYS = { "1": "false_detection", "2": "compliant", "3": "duplicate", "4": "unclear_image" };
  let rejecting = false;
  let busy = false;

  function item() { return document.getElementById("item"); }

  function setRejecting(on) {
    rejecting = on;
    const el = item();
    if (el) el.classList.toggle("rejecting", on);
  }

  function swapFrom(method, url, values) {
    const el = item();
    if (!el || !url || busy) return;
    busy = true;
    // htmx.ajax sends HX-Request: true, which cookie-authenticated POSTs need (CSRF defence).
    htmx.ajax(method, url, { target: "#item", swap: "outerHTML", values: values || {} })
      .finally(function () { busy = false; });
  }

  // --- labels for training: edits staged on the evidence frame, saved with Enter (api/web_labels.py) ---
  const staged = { box: null, cls: null, missed: null, empty: false };
  let drawMissed = false;       // B: the next drag draws a box around a missed object
  let pickerFor = "detection";  // what the class picker changes: "detection" or "missed"
  let drag = null;

  function labeller() { return document.querySelector("#item figure.labeller"); }
  function picker() { return document.getElementById("label-class"); }
  function hasStaged() { return Boolean(staged.box || staged.cls || staged.missed || staged.empty); }

  function resetStaged() {
    staged.box = staged.cls = staged.missed = null;
    staged.empty = drawMissed = false;
    pickerFor = "detection";
    renderStaged();
  }

  function pixelAt(fig, clientX, clientY) {  // a point on the figure, in the frame's pixels
    const r = fig.getBoundingClientRect();
    const fx = Math.min(Math.max((clientX - r.left) / r.width, 0), 1);
    const fy = Math.min(Math.max((clientY - r.top) / r.height, 0), 1);
    return [fx * Number(fig.dataset.frameW), fy * Number(fig.dataset.frameH)];
  }

  function round(box) { return box.map(function (v) { return Math.round(v * 10) / 10; }); }

  function place(el, fig, box) {
    if (!el) return;
    if (!box) { el.hidden = true; return; }
    const w = Number(fig.dataset.frameW), h = Number(fig.dataset.frameH);
    el.style.left = (100 * box[0] / w) + "%";
    el.style.top = (100 * box[1] / h) + "%";
    el.style.width = (100 * (box[2] - box[0]) / w) + "%";
    el.style.height = (100 * (box[3] - box[1]) / h) + "%";
    el.hidden = false;
  }

  function renderStaged(message) {
    const fig = labeller();
    const status = document.getElementById("label-status");
    if (!fig || !status) return;
    place(fig.querySelector(".draft-detection"), fig, staged.box);
    place(fig.querySelector(".draft-missed"), fig, staged.missed && staged.missed.box);
    fig.classList.toggle("drawing-missed", drawMissed);
    fig.classList.toggle("staged-empty", staged.empty);
    const mark = fig.querySelector(".empty-mark");
    if (mark) mark.hidden = !(staged.empty || fig.classList.contains("marked-empty"));
    const parts = [];
    if (staged.empty) parts.push("nothing here");
    if (staged.box) parts.push("box " + round(staged.box).join(", "));
    if (staged.cls) parts.push("class " + staged.cls);
    if (staged.missed) parts.push("missed " + (staged.missed.cls || "(class? press C)"));
    if (drawMissed) parts.push("drag a box around the missed object");
    status.classList.toggle("staged", parts.length > 0);
    status.textContent = message || (parts.length ? parts.join(" · ") + " — Enter save, Esc discard" : "");
  }

  function openPicker(target) {
    const select = picker();
    if (!select) return;
    pickerFor = target;
    select.value = target === "missed" ? (staged.missed && staged.missed.cls) || ""
                                       : staged.cls || select.dataset.current;
    select.focus();
    renderStaged(target === "missed" ? "choose the missed object's class, Enter to save"
                                     : "choose the class, Enter to save");
  }

  function applyPicked(value) {
    if (pickerFor === "missed" && staged.missed) staged.missed.cls = value || null;
    else staged.cls = value && value !== picker().dataset.current ? value : null;
  }

  function saveLabels() {
    const fig = labeller();
    if (!fig) return;
    if (staged.missed && !staged.missed.cls) { openPicker("missed"); return; }
    if (!hasStaged()) { renderStaged("nothing to save: drag a box, press C for the class or E for nothing here"); return; }
    const values = staged.empty ? { empty: "true" } : {};
    if (!staged.empty) {
      if (staged.box) values.box = round(staged.box).join(",");
      if (staged.cls) values.class_name = staged.cls;
      if (staged.missed) { values.missed_box = round(staged.missed.box).join(","); values.missed_class = staged.missed.cls; }
    }
    swapFrom("POST", fig.dataset.labelsUrl, values);
  }

  document.addEventListener("mousedown", function (event) {
    const fig = event.target.closest && event.target.closest("#item figure.labeller");
    if (!fig || event.button !== 0) return;
    event.preventDefault();
    const start = pixelAt(fig, event.clientX, event.clientY);
    drag = { fig: fig, start: start, missed: drawMissed };
  });

  document.addEventListener("mousemove", function (event) {
    if (!drag) return;
    const at = pixelAt(drag.fig, event.clientX, event.clientY);
    const box = [Math.min(drag.start[0], at[0]), Math.min(drag.start[1], at[1]),
                 Math.max(drag.start[0], at[0]), Math.max(drag.start[1], at[1])];
    place(drag.fig.querySelector(drag.missed ? ".draft-missed" : ".draft-detection"), drag.fig, box);
    drag.box = box;
  });

  document.addEventListener("mouseup", function () {
    if (!drag) return;
    const done = drag;
    drag = null;
    const box = done.box;
    if (!box || box[2] - box[0] < 2 || box[3] - box[1] < 2) { renderStaged(); return; }  // a click, not a box
    staged.empty = false;
    if (done.missed) {
      drawMissed = false;
      staged.missed = { box: box, cls: null };
      openPicker("missed");
    } else {
      staged.box = box;
      renderStaged();
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.id !== "label-class") return;
    applyPicked(event.target.value);
    renderStaged();
  });

  document.addEventListener("keydown", function (event) {
    const el = item();
    if (!el || !el.dataset.violationId) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.id === "label-class") {  // the class picker: Enter takes the class and saves, Esc leaves
      if (event.key === "Enter") {
        event.preventDefault();
        applyPicked(event.target.value);
        event.target.blur();
        saveLabels();
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.target.blur();
        renderStaged();
      }
      return;
    }
    if (event.target.closest && event.target.closest("input, select, textarea")) return;
    const key = event.key.toLowerCase();
    if (!rejecting && ["b", "c", "e", "enter", "escape"].indexOf(key) >= 0) {
      if (key === "b") { drawMissed = !drawMissed; renderStaged(); }
      else if (key === "c") openPicker(staged.missed && !staged.missed.cls ? "missed" : "detection");
      else if (key === "e") {
        const on = !staged.empty;
        resetStaged();
        staged.empty = on;
        renderStaged();
      } else if (key === "enter") saveLabels();
      else if (hasStaged() || drawMissed) resetStaged();
      else return;
      event.preventDefault();
      return;
    }
    if (hasStaged() && ["a", "r", "j", "k", "s"].indexOf(key) >= 0) {  // never lose a reviewer's unsaved labels
      renderStaged("save your label edits (Enter) or discard them (Esc) first");
      event.preventDefault();
      return;
    }
    if (rejecting) {
      if (REJECT_KEYS[key]) {
        setRejecting(false);
        swapFrom("POST", el.dataset.decideUrl, { action: "reject", reason_code: REJECT_KEYS[key] });
      } else if (key === "escape" || key === "r") {
        setRejecting(false);
      }
      event.preventDefault();
      return;
    }
    if (el.dataset.kind === "labelling") {  // the labelling queue: no decisions, S skips the frame
      if (key === "s") swapFrom("POST", el.dataset.skipUrl);
      else if (key === "j") swapFrom("GET", el.dataset.nextUrl);
      else if (key === "k") swapFrom("GET", el.dataset.prevUrl);
      else return;
      event.preventDefault();
      return;
    }
    if (key === "a") swapFrom("POST", el.dataset.decideUrl, { action: "approve" });
    else if (key === "r") setRejecting(true);
    else if (key === "j") swapFrom("GET", el.dataset.nextUrl);
    else if (key === "k") swapFrom("GET", el.dataset.prevUrl);
    else return;
    event.preventDefault();
  });

  // A map with tiles from the configured URL, or a plain grid (graticule) when there is none.
  function makeMap(el, center, zoom, bounds) {
    const map = L.map(el, { zoomControl: false, attributionControl: Boolean(document.body.dataset.tileUrl) });
    const tiles = document.body.dataset.tileUrl;
    if (tiles) {
      L.tileLayer(tiles, { attribution: document.body.dataset.tileAttribution || "", maxZoom: 19 }).addTo(map);
    }
    if (bounds) map.fitBounds(bounds.pad(0.2), { animate: false });
    else map.setView(center, zoom, { animate: false });
    if (!tiles) drawGraticule(map);  // after the view is final, so the grid covers it
    return map;
  }

  window.streetwatchMakeMap = makeMap;  // the coverage page's map (coverage.js) is made the same way

  function drawGraticule(map) {
    const b = map.getBounds().pad(1);
    const span = Math.max(b.getNorth() - b.getSouth(), b.getEast() - b.getWest());
    const step = Math.pow(10, Math.floor(Math.log10(span / 4)));
    const style = { color: "#94a3b8", weight: 1, interactive: false };
    for (let lat = Math.floor(b.getSouth() / step) * step; lat <= b.getNorth(); lat += step) {
      L.polyline([[lat, b.getWest()], [lat, b.getEast()]], style).addTo(map);
    }
    for (let lon = Math.floor(b.getWest() / step) * step; lon <= b.getEast(); lon += step) {
      L.polyline([[b.getSouth(), lon], [b.getNorth(), lon]], style).addTo(map);
    }
  }

  let itemMap = null;
  function initItemMap() {
    const el = document.getElementById("map");
    if (itemMap) { itemMap.remove(); itemMap = null; }
    if (!el) return;
    if (!el.dataset.lat) { el.textContent = "position unknown"; return; }
    const at = [parseFloat(el.dataset.lat), parseFloat(el.dataset.lon)];
    itemMap = makeMap(el, at, 17);
    L.circleMarker(at, { radius: 7, color: "#f43f5e", weight: 3 }).addTo(itemMap);
  }

  function initCasesMap() {
    const el = document.getElementById("cases-map");
    if (!el) return;
    const markers = JSON.parse(el.dataset.markers || "[]").filter(function (m) { return m.lat !== null; });
    if (!markers.length) { el.textContent = "no case to show on the map"; return; }
    const group = L.featureGroup(markers.map(function (m) {
      return L.circleMarker([m.lat, m.lon], { radius: 6, color: "#2563eb" }).bindTooltip(m.label);
    }));
    const map = makeMap(el, [markers[0].lat, markers[0].lon], 14, markers.length > 1 ? group.getBounds() : null);
    group.addTo(map);
    initHeatLayer(map, el);
  }

  // The heat layer (Leaflet.heat, vendored): GET /hotspots for the chosen period, kind and the page's family.
  function initHeatLayer(map, el) {
    const toggle = document.getElementById("heat-toggle");
    if (!toggle || !L.heatLayer) return;
    const kind = document.getElementById("heat-kind");
    const since = document.getElementById("heat-since");
    const until = document.getElementById("heat-until");
    const status = document.getElementById("heat-status");
    const day = function (d) { return d.toISOString().slice(0, 10); };
    const today = new Date();
    if (!until.value) until.value = day(new Date(today.getTime() + 86400000));
    if (!since.value) since.value = day(new Date(today.getTime() - 30 * 86400000));
    let layer = null;
    let asked = 0;
    function refresh() {
      if (layer) { map.removeLayer(layer); layer = null; }
      el.dataset.heatPoints = "";
      status.textContent = "";
      if (!toggle.checked || !since.value || !until.value) return;
      const params = new URLSearchParams({ kind: kind.value, since: since.value + "T00:00:00",
                                           until: until.value + "T00:00:00" });
      if (el.dataset.family) params.set("family", el.dataset.family);
      const ticket = ++asked;
      fetch("/hotspots?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)); })
        .then(function (data) {
          if (ticket !== asked || !toggle.checked) return;  // a newer request or the toggle went off
          const max = data.points.reduce(function (m, p) { return Math.max(m, p[2]); }, 1);
          layer = L.heatLayer(data.points, { radius: 28, blur: 20, max: max, minOpacity: 0.35 }).addTo(map);
          el.dataset.heatPoints = String(data.count);
          status.textContent = data.count + " " + data.kind + " in the period";
        })
        .catch(function (err) { status.textContent = "heat map: " + err.message; });
    }
    [toggle, kind, since, until].forEach(function (input) { input.addEventListener("change", refresh); });
  }

  // Cases page: "issue" draws and archives the case's rectification notice (POST /cases/{id}/notice), then
  // shows the link to its PDF. The header marks the cookie-signed POST as the page's own (CSRF defence).
  document.addEventListener("click", function (ev) {
    const button = ev.target.closest && ev.target.closest("button.issue-notice");
    if (!button) return;
    const cell = button.closest("td.notice");
    const status = cell.querySelector(".notice-status");
    button.disabled = true;
    status.textContent = "…";
    fetch("/cases/" + button.dataset.case + "/notice", { method: "POST", credentials: "same-origin",
                                                         headers: { "HX-Request": "true" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, status: r.status, body: body }; }); })
      .then(function (res) {
        if (!res.ok) { status.textContent = res.body.detail || ("error " + res.status); return; }
        const link = cell.querySelector("a.notice-link");
        link.hidden = false;
        status.textContent = res.body.created ? "issued " + res.body.notice_number : "unchanged";
        status.title = "sha256 " + res.body.sha256;
      })
      .catch(function (err) { status.textContent = String(err); })
      .finally(function () { button.disabled = false; });
  });

  document.addEventListener("DOMContentLoaded", function () { initItemMap(); initCasesMap(); });
  document.addEventListener("htmx:afterSwap", function () { setRejecting(false); resetStaged(); });
  // After settling: htmx settles an element that kept its id (#map) by restoring its attributes, which would
  // wipe the classes Leaflet adds (its container would lose its positioning and the map would draw off-place).
  document.addEventListener("htmx:afterSettle", initItemMap);
})();
