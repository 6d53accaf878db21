// The review page's behaviour: keyboard shortcuts on the queue and the small Leaflet maps.
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

  document.addEventListener("keydown", function (event) {
    const el = item();
    if (!el || !el.dataset.violationId) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest && event.target.closest("input, select, textarea")) return;
    const key = event.key.toLowerCase();
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
  }

  document.addEventListener("DOMContentLoaded", function () { initItemMap(); initCasesMap(); });
  document.addEventListener("htmx:afterSwap", function () { setRejecting(false); initItemMap(); });
})();
