// Maps with the vendored Leaflet (global L): the district's grids drawn from GeoJSON on a plain
// background; a tile layer only when the server's console settings name one.

let configPromise = null;

/** The console settings the server exposes (tile layer); fetched once. */
export function consoleConfig() {
  if (!configPromise) {
    configPromise = fetch("config.json")
      .then((response) => (response.ok ? response.json() : {}))
      .catch(() => ({}));
  }
  return configPromise;
}

const GRID_STYLES = {
  district: { color: "#17324d", weight: 3, fill: false },
  town: { color: "#2c5a85", weight: 2, dashArray: "6 4", fill: false },
  community: { color: "#4a7bab", weight: 1.5, fill: false },
  cell: { color: "#7f9bb8", weight: 1, fillColor: "#ffffff", fillOpacity: 0.55 },
};

/**
 * A map in `element` showing `grids` (a GeoJSON FeatureCollection); cells whose id is in
 * `highlight` are tinted. Resolves to {map, gridLayer}.
 */
export async function gridMap(element, grids, { highlight = new Set(), interactiveGrids = true, labels = false } = {}) {
  const config = await consoleConfig();
  const map = L.map(element, { zoomSnap: 0.25, attributionControl: Boolean(config.tile_url) });
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { attribution: config.tile_attribution || "", maxZoom: 19 }).addTo(map);
    element.classList.add("with-tiles");
  }
  const gridLayer = L.geoJSON(grids, {
    interactive: interactiveGrids,
    style: (feature) => {
      const style = { ...(GRID_STYLES[feature.properties.level] || GRID_STYLES.cell) };
      if (highlight.has(feature.id)) Object.assign(style, { fillColor: "#fde293", fillOpacity: 0.6, fill: true, color: "#b06000", weight: 2 });
      return style;
    },
    onEachFeature: (feature, layer) => {
      if (feature.properties.level === "cell") {
        // Leaflet writes a string tooltip as HTML; a text node keeps names as text.
        layer.bindTooltip(document.createTextNode(feature.properties.name), labels
          ? { permanent: true, direction: "center", className: "grid-label", opacity: 0.9 }
          : { sticky: true, direction: "top", opacity: 0.9 });
      }
    },
  }).addTo(map);
  let bounds = gridLayer.getBounds();
  if (highlight.size) {
    const own = grids.features.filter((feature) => highlight.has(feature.id));
    const ownBounds = L.geoJSON({ type: "FeatureCollection", features: own }).getBounds();
    if (ownBounds.isValid()) bounds = ownBounds;
  }
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [16, 16] });
  else map.setView([30.26, 120.15], 13);
  return { map, gridLayer };
}
