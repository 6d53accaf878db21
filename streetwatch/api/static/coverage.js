// The coverage page: road segments and grid cells from the page's GeoJSON, coloured by status.
(function () {
  "use strict";
  function init() {
    const el = document.getElementById("coverage-map");
    if (!el || !window.streetwatchMakeMap) return;
    const data = JSON.parse(el.dataset.geojson || "{}");
    const colours = JSON.parse(el.dataset.colours || "{}");
    if (!data.features || !data.features.length) { el.textContent = "nothing to show: no road network and no patrol yet"; return; }
    // The city's grid cells (网格) when it has some, the H3 cells otherwise.
    const hasGrids = data.features.some(function (f) { return f.properties.kind === "grid"; });
    const areaKind = hasGrids ? "grid" : "cell";
    const cells = L.geoJSON({ type: "FeatureCollection", features: data.features.filter(function (f) { return f.properties.kind === areaKind; }) }, {
      style: function (f) { return { color: colours[f.properties.status], weight: hasGrids ? 2 : 1, opacity: 0.5, fillOpacity: 0.08, dashArray: hasGrids ? "6 4" : null }; },
      onEachFeature: function (f, layer) {
        const p = f.properties;
        layer.bindTooltip((hasGrids ? "网格 " + p.id + " " + p.name + (p.unit ? " (" + p.unit + ")" : "") : "cell " + p.id) + ": " + p.status);
      },
    });
    const roads = L.geoJSON({ type: "FeatureCollection", features: data.features.filter(function (f) { return f.properties.kind === "road"; }) }, {
      style: function (f) { return { color: colours[f.properties.status], weight: 7, opacity: 1 }; },
      onEachFeature: function (f, layer) {
        const p = f.properties;
        layer.bindTooltip(p.name + " (" + p.id + ", " + p.road_class + "): " + p.status +
          (p.last_patrolled ? ", last " + p.last_patrolled.slice(0, 16).replace("T", " ") : "") +
          ", " + p.passes + " pass" + (p.passes === 1 ? "" : "es") + (p.road_chief ? "; 路长 " + p.road_chief : ""));
      },
    });
    const bounds = L.featureGroup([cells, roads]).getBounds();
    const map = window.streetwatchMakeMap(el, [0, 0], 15, bounds);
    map.options.zoomSnap = 0.25;  // then fill the map: whole zoom levels leave it half empty
    map.fitBounds(bounds.pad(0.05), { animate: false });
    cells.addTo(map);
    roads.addTo(map);
    window.streetwatchCoverageMap = map;  // for the page test: where a street is drawn
    el.dataset.ready = "true";
  }
  document.addEventListener("DOMContentLoaded", init);
})();
