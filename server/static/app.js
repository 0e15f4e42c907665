// CEDetect command centre.  Plain JavaScript, no dependencies, nothing fetched from outside this server.
//
// Map: an SVG in an equirectangular projection scaled by cos(mean latitude).  Borders, zones and
// trails live in world units inside #world (one transform pans and zooms them, strokes do not
// scale); crossings, trucks and alert flashes are re-placed in screen pixels in #overlay on every
// view change so that their symbols and labels keep their size.
"use strict";

(() => {
  const API = "/api/v1";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const POLL_MS = 2000;
  const FETCH_TIMEOUT_MS = 8000;
  const TRAIL_POINTS = 20;
  const MOVE_MS = 1800; // a truck glides to its new fix over about one poll interval
  const STALE_S = 300; // a tracker not heard from for longer than this greys the truck out
  const ALERTED_S = 600; // a truck with an alert younger than this is drawn red...
  const ALERTING_SEVERITIES = new Set(["medium", "high", "critical"]); // ...if the alert is at least medium
  const MAX_ALERTS = 300;
  const RESUME_OVERLAP_MS = 120000;
  const KM_PER_DEG = 111.32;

  const $ = (id) => document.getElementById(id);
  const svg = $("map");
  const world = $("world");
  const layers = {
    countries: $("layer-countries"),
    zones: $("layer-zones"),
    trails: $("layer-trails"),
    countryLabels: $("layer-country-labels"),
    zonePins: $("layer-zone-pins"),
    crossings: $("layer-crossings"),
    flashes: $("layer-flashes"),
    evidence: $("layer-evidence"),
    trucks: $("layer-trucks"),
  };

  function el(name, attrs = {}, parent = null) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // --- clock: the server's, from the Date header of our own requests ----------------------------
  let serverOffsetMs = 0;
  function noteServerDate(response) {
    const header = response.headers.get("Date");
    const serverMs = header ? Date.parse(header) : NaN;
    // The header has whole seconds: keep the offset only when it is more than that rounding.
    if (!Number.isNaN(serverMs)) {
      const offset = serverMs - Date.now();
      serverOffsetMs = Math.abs(offset) > 1500 ? offset : 0;
    }
  }
  const serverNow = () => Date.now() + serverOffsetMs;

  async function getJSON(path) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const response = await fetch(API + path, { signal: controller.signal, cache: "no-store" });
      noteServerDate(response);
      if (!response.ok) {
        let reason = `HTTP ${response.status}`;
        try {
          const body = await response.json();
          if (body && body.error) reason = body.error;
        } catch (_) { /* not JSON */ }
        throw new Error(reason);
      }
      return await response.json();
    } finally {
      clearTimeout(timer);
    }
  }

  function setIndicator(id, state, text) {
    const node = $(id);
    node.dataset.state = state;
    node.querySelector(".state-text").textContent = text;
  }

  function pad2(n) { return String(n).padStart(2, "0"); }
  function utcTime(date) { return `${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())}`; }
  function utcDate(date) { return `${date.getUTCFullYear()}-${pad2(date.getUTCMonth() + 1)}-${pad2(date.getUTCDate())}`; }
  function age(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${pad2(Math.floor((s % 3600) / 60))}`;
    return `${Math.floor(s / 86400)} d`;
  }

  setInterval(() => { $("clock").textContent = `${utcTime(new Date(serverNow()))} UTC`; }, 250);

  // --- projection and view -------------------------------------------------------------------
  const projection = { lon0: 35, lat0: 39, k: Math.cos((39 * Math.PI) / 180) };
  const project = (lon, lat) => [(lon - projection.lon0) * projection.k, -(lat - projection.lat0)];
  const unproject = (x, y) => [x / projection.k + projection.lon0, projection.lat0 - y];

  const view = { scale: 60, tx: 0, ty: 0, userMoved: false };
  let homeBox = null; // [minX, minY, maxX, maxY] in world units: Turkey
  const MIN_SCALE = 8;
  const MAX_SCALE = 40000;

  function size() {
    const box = svg.getBoundingClientRect();
    return [Math.max(1, box.width), Math.max(1, box.height)];
  }

  function toScreen(lon, lat) {
    const [x, y] = project(lon, lat);
    return [x * view.scale + view.tx, y * view.scale + view.ty];
  }

  function fitHome() {
    if (!homeBox) return;
    const [w, h] = size();
    const [x0, y0, x1, y1] = homeBox;
    const margin = 0.07;
    const scale = Math.min(w / ((x1 - x0) * (1 + 2 * margin)), h / ((y1 - y0) * (1 + 2 * margin)));
    view.scale = scale;
    view.tx = w / 2 - ((x0 + x1) / 2) * scale;
    view.ty = h / 2 - ((y0 + y1) / 2) * scale;
    view.userMoved = false;
    scheduleRender();
  }

  function zoomAt(factor, sx, sy) {
    const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, view.scale * factor));
    const f = scale / view.scale;
    view.tx = sx - (sx - view.tx) * f;
    view.ty = sy - (sy - view.ty) * f;
    view.scale = scale;
    view.userMoved = true;
    scheduleRender();
  }

  function centreOn(lon, lat, minScale) {
    const [w, h] = size();
    if (minScale && view.scale < minScale) view.scale = minScale;
    const [x, y] = project(lon, lat);
    view.tx = w / 2 - x * view.scale;
    view.ty = h / 2 - y * view.scale;
    view.userMoved = true;
    scheduleRender();
  }

  let renderQueued = false;
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      renderView();
    });
  }

  function renderView() {
    world.setAttribute("transform", `translate(${view.tx.toFixed(2)} ${view.ty.toFixed(2)}) scale(${view.scale.toFixed(4)})`);
    placeCountryLabels();
    placeZonePins();
    placeCrossings();
    placeFlashes();
    placeEvidence();
    placeTrucks(performance.now());
    renderScaleBar();
  }

  // Pan with drag, zoom with the wheel and the buttons.
  let drag = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, tx: view.tx, ty: view.ty, moved: false };
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < 3) return;
    drag.moved = true;
    svg.classList.add("dragging");
    view.tx = drag.tx + dx;
    view.ty = drag.ty + dy;
    view.userMoved = true;
    scheduleRender();
  });
  const endDrag = () => { drag = null; svg.classList.remove("dragging"); };
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const box = svg.getBoundingClientRect();
    const delta = event.deltaMode === 1 ? event.deltaY * 20 : event.deltaY;
    zoomAt(Math.exp(-delta * 0.0015), event.clientX - box.left, event.clientY - box.top);
  }, { passive: false });
  const zoomCentre = (factor) => { const [w, h] = size(); zoomAt(factor, w / 2, h / 2); };
  $("zoom-in").addEventListener("click", () => zoomCentre(1.6));
  $("zoom-out").addEventListener("click", () => zoomCentre(1 / 1.6));
  $("zoom-reset").addEventListener("click", fitHome);
  new ResizeObserver(() => { if (view.userMoved) scheduleRender(); else fitHome(); }).observe(svg);

  function renderScaleBar() {
    const pxPerKm = view.scale / KM_PER_DEG;
    const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
    let km = steps[0];
    for (const step of steps) if (step * pxPerKm <= 140) km = step;
    $("scale-line").style.width = `${Math.round(km * pxPerKm)}px`;
    $("scale-text").textContent = km < 1 ? `${km * 1000} m` : `${km} km`;
  }

  // --- static layers: borders, zones, crossings -----------------------------------------------
  function ringsOf(geometry) {
    if (!geometry) return [];
    if (geometry.type === "Polygon") return geometry.coordinates;
    if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
    return [];
  }

  function pathData(rings) {
    return rings
      .map((ring) => ring.map(([lon, lat], i) => {
        const [x, y] = project(lon, lat);
        return `${i ? "L" : "M"}${x.toFixed(4)} ${y.toFixed(4)}`;
      }).join("") + "Z")
      .join("");
  }

  function ringArea(ring) {
    let area = 0;
    for (let i = 1; i < ring.length; i += 1) area += ring[i - 1][0] * ring[i][1] - ring[i][0] * ring[i - 1][1];
    return area / 2;
  }

  function ringCentroid(ring) {
    let a = 0, cx = 0, cy = 0;
    for (let i = 1; i < ring.length; i += 1) {
      const [x0, y0] = ring[i - 1], [x1, y1] = ring[i];
      const cross = x0 * y1 - x1 * y0;
      a += cross; cx += (x0 + x1) * cross; cy += (y0 + y1) * cross;
    }
    return a ? [cx / (3 * a), cy / (3 * a)] : ring[0];
  }

  function bbox(rings) {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (const ring of rings) {
      for (const [lon, lat] of ring) {
        const [x, y] = project(lon, lat);
        minX = Math.min(minX, x); maxX = Math.max(maxX, x);
        minY = Math.min(minY, y); maxY = Math.max(maxY, y);
      }
    }
    return [minX, minY, maxX, maxY];
  }

  const countryLabels = [];
  function drawBorders(collection) {
    const features = collection.features || [];
    const isHome = (f) => ["TUR", "TR"].includes(f.properties.ADM0_A3 || f.properties.ISO_A2);
    const home = features.find(isHome);
    // Centre the projection on Turkey when present, else on everything.
    const all = features.flatMap((f) => ringsOf(f.geometry));
    const focus = home ? ringsOf(home.geometry) : all;
    let minLon = Infinity, maxLon = -Infinity, minLat = Infinity, maxLat = -Infinity;
    for (const ring of focus) for (const [lon, lat] of ring) {
      minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon);
      minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat);
    }
    if (Number.isFinite(minLon)) {
      projection.lon0 = (minLon + maxLon) / 2;
      projection.lat0 = (minLat + maxLat) / 2;
      projection.k = Math.cos((projection.lat0 * Math.PI) / 180);
    }
    layers.countries.replaceChildren();
    layers.countryLabels.replaceChildren();
    countryLabels.length = 0;
    // Neighbours first so that Turkey's brighter outline is drawn on top.
    for (const feature of [...features.filter((f) => f !== home), ...(home ? [home] : [])]) {
      const rings = ringsOf(feature.geometry);
      const name = feature.properties.NAME || feature.properties.ADMIN || "";
      const path = el("path", { d: pathData(rings), class: feature === home ? "country home" : "country" }, layers.countries);
      el("title", {}, path).textContent = name;
      const largest = rings.reduce((best, ring) => (Math.abs(ringArea(ring)) > Math.abs(ringArea(best)) ? ring : best), rings[0]);
      if (largest) {
        const [lon, lat] = ringCentroid(largest);
        const text = el("text", { class: feature === home ? "country-label home" : "country-label" }, layers.countryLabels);
        text.textContent = name;
        countryLabels.push({ node: text, lon, lat });
      }
    }
    homeBox = bbox(focus.length ? focus : all);
    fitHome();
    // A link may open a given view: #view=<lat>,<lon>,<pixels per degree of latitude>.
    const wanted = /^#view=(-?[\d.]+),(-?[\d.]+),([\d.]+)$/.exec(location.hash);
    if (wanted) {
      view.scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, Number(wanted[3])));
      centreOn(Number(wanted[2]), Number(wanted[1]));
    }
  }

  function placeCountryLabels() {
    for (const label of countryLabels) {
      const [x, y] = toScreen(label.lon, label.lat);
      label.node.setAttribute("x", x.toFixed(1));
      label.node.setAttribute("y", y.toFixed(1));
    }
  }

  const zonePins = [];
  function drawZones(collection) {
    layers.zones.replaceChildren();
    layers.zonePins.replaceChildren();
    zonePins.length = 0;
    for (const feature of collection.features || []) {
      const p = feature.properties || {};
      const kind = String(p.kind || "zone").replace(/[^a-z0-9_]/g, "");
      const rings = ringsOf(feature.geometry);
      const path = el("path", { d: pathData(rings), class: `zone ${kind}`, "data-zone-id": p.zone_id || "" }, layers.zones);
      el("title", {}, path).textContent = `${p.name || p.zone_id} (${kind.replace("_", " ")})`;
      if (kind === "restricted") {
        // Zones are a few km across: at country scale a pin keeps them visible.
        const [x0, y0, x1, y1] = bbox(rings);
        const [lon, lat] = unproject((x0 + x1) / 2, (y0 + y1) / 2);
        const pin = el("path", { class: "zone-pin", d: "M0 -5 L5 0 L0 5 L-5 0 Z" }, layers.zonePins);
        el("title", {}, pin).textContent = p.name || p.zone_id;
        zonePins.push({ node: pin, lon, lat, size: Math.max(x1 - x0, y1 - y0) });
      }
    }
  }

  function placeZonePins() {
    for (const pin of zonePins) {
      const [x, y] = toScreen(pin.lon, pin.lat);
      pin.node.setAttribute("transform", `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
      pin.node.style.display = pin.size * view.scale < 14 ? "" : "none";
    }
  }

  const crossingMarks = [];
  function drawCrossings(collection) {
    layers.crossings.replaceChildren();
    crossingMarks.length = 0;
    for (const feature of collection.features || []) {
      const p = feature.properties || {};
      const [lon, lat] = feature.geometry.coordinates;
      const group = el("g", { class: p.approximate ? "crossing approximate" : "crossing" }, layers.crossings);
      el("circle", { r: 4 }, group);
      const label = el("text", {}, group);
      label.textContent = p.name_tr;
      const where = p.approximate ? " (approximate position)" : "";
      el("title", {}, group).textContent = `${p.name_tr} – ${p.name_other_side} (${p.country})${where}`;
      crossingMarks.push({ group, label, lon, lat, name: p.name_tr });
    }
  }

  // Labels are placed greedily: right, left, above, below the dot, skipping any that would
  // overlap one already placed; a crossing whose label fits nowhere shows only its dot (and title).
  function placeCrossings() {
    const placed = [];
    const overlaps = (r) => placed.some((q) => r[0] < q[2] && r[2] > q[0] && r[1] < q[3] && r[3] > q[1]);
    const now = performance.now();
    for (const truck of trucks.values()) {
      // Truck markers and their labels (drawn above the crossings) are kept clear too.
      const [lon, lat] = truckPosition(truck, now);
      const [x, y] = toScreen(lon, lat);
      placed.push([x - 11, y - 11, x + 11, y + 11], [x + 8, y - 20, x + 12 + truck.id.length * 7.2, y - 4]);
    }
    for (const mark of crossingMarks) {
      const [x, y] = toScreen(mark.lon, mark.lat);
      mark.group.setAttribute("transform", `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
      placed.push([x - 5, y - 5, x + 5, y + 5]);
    }
    for (const mark of crossingMarks) {
      const [x, y] = toScreen(mark.lon, mark.lat);
      const w = mark.name.length * 6.3 + 2;
      const options = [
        [7, 4, "start", [x + 7, y - 8, x + 7 + w, y + 6]],
        [-7, 4, "end", [x - 7 - w, y - 8, x - 7, y + 6]],
        [0, -8, "middle", [x - w / 2, y - 20, x + w / 2, y - 6]],
        [0, 16, "middle", [x - w / 2, y + 5, x + w / 2, y + 19]],
      ];
      const choice = options.find((o) => !overlaps(o[3]));
      if (!choice) {
        mark.label.style.display = "none";
        continue;
      }
      mark.label.style.display = "";
      mark.label.setAttribute("x", choice[0]);
      mark.label.setAttribute("y", choice[1]);
      mark.label.setAttribute("text-anchor", choice[2]);
      placed.push(choice[3]);
    }
  }

  async function loadLayers() {
    try {
      const [borders, zones, crossings] = await Promise.all([
        getJSON("/geo/borders"), getJSON("/geo/zones"), getJSON("/geo/crossings"),
      ]);
      drawBorders(borders);
      drawZones(zones);
      drawCrossings(crossings);
      scheduleRender();
    } catch (error) {
      showMapMessage(`Map layers could not be loaded (${error.message}); retrying…`);
      setTimeout(loadLayers, 5000);
      return;
    }
    showMapMessage(null);
  }

  function showMapMessage(text) {
    const box = $("map-message");
    box.hidden = !text;
    box.textContent = text || "";
  }

  // --- trucks ---------------------------------------------------------------------------------
  const trucks = new Map(); // device_id -> state
  let animating = false;

  function truckPosition(truck, now) {
    const t = Math.min(1, (now - truck.t0) / MOVE_MS);
    const e = t < 1 ? 1 - (1 - t) ** 3 : 1; // ease-out
    return [truck.from[0] + (truck.to[0] - truck.from[0]) * e, truck.from[1] + (truck.to[1] - truck.from[1]) * e, t < 1];
  }

  function createTruck(device) {
    const group = el("g", { class: "truck", "data-device-id": device.device_id }, layers.trucks);
    el("circle", { class: "halo", r: 11 }, group);
    const body = el("path", { class: "body", d: "M0 -8 L5.5 6 L0 3 L-5.5 6 Z" }, group);
    const label = el("text", { x: 10, y: -8 }, group);
    label.textContent = device.device_id;
    const title = el("title", {}, group);
    const trail = el("polyline", { class: "trail" }, layers.trails);
    group.addEventListener("click", (event) => { event.stopPropagation(); focusTruck(device.device_id); });
    const p = device.last_position;
    const row = document.createElement("tr");
    row.dataset.deviceId = device.device_id;
    row.append(html("td", "truck-id", device.device_id), html("td", "num speed"), html("td", "num age"));
    row.addEventListener("click", () => focusTruck(device.device_id));
    return {
      id: device.device_id, group, body, title, trail, row,
      from: [p.longitude, p.latitude], to: [p.longitude, p.latitude], t0: 0, data: device, heardMs: 0,
    };
  }

  function updateTrucks(devices) {
    const now = performance.now();
    const seen = new Set();
    for (const device of devices) {
      seen.add(device.device_id);
      let truck = trucks.get(device.device_id);
      if (!truck) {
        truck = createTruck(device);
        trucks.set(device.device_id, truck);
      }
      const p = device.last_position;
      const [lon, lat] = truckPosition(truck, now);
      if (p.longitude !== truck.to[0] || p.latitude !== truck.to[1]) {
        truck.from = [lon, lat];
        truck.to = [p.longitude, p.latitude];
        truck.t0 = now;
      }
      truck.data = device;
      // Staleness is about the tracker still reporting, so it counts from when the fix was received;
      // buffered history or a simulator replaying recent history carries older fix times.
      truck.heardMs = Date.parse(p.received_utc);
      truck.body.setAttribute("data-heading", p.heading_deg);
      truck.title.textContent = `${device.device_id} · ${Math.round(p.speed_kmh)} km/h · ${p.latitude.toFixed(5)}, ${p.longitude.toFixed(5)} · fix ${p.time_utc}`
        + (device.zone_ids.length ? ` · in ${device.zone_ids.join(", ")}` : "");
    }
    for (const [id, truck] of trucks) {
      if (!seen.has(id)) {
        truck.group.remove();
        truck.trail.remove();
        truck.row.remove();
        trucks.delete(id);
      }
    }
    renderTruckList();
    placeCrossings();
    startAnimation();
  }

  function placeTrucks(now) {
    let moving = false;
    for (const truck of trucks.values()) {
      const [lon, lat, inMotion] = truckPosition(truck, now);
      moving = moving || inMotion;
      const [x, y] = toScreen(lon, lat);
      truck.group.setAttribute("transform", `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
      truck.body.setAttribute("transform", `rotate(${Number(truck.data.last_position.heading_deg) || 0})`);
      const points = truck.data.trail.map((q) => project(q.longitude, q.latitude));
      if (points.length) points.pop(); // the newest trail point is the fix the marker is gliding to
      points.push(project(lon, lat));
      truck.trail.setAttribute("points", points.map(([px, py]) => `${px.toFixed(4)},${py.toFixed(4)}`).join(" "));
    }
    return moving;
  }

  function startAnimation() {
    if (animating) return;
    animating = true;
    const frame = (now) => {
      const moving = placeTrucks(now);
      if (moving) requestAnimationFrame(frame);
      else animating = false;
    };
    requestAnimationFrame(frame);
  }

  function renderTruckList() {
    const body = $("truck-list");
    const ids = [...trucks.keys()].sort();
    const now = serverNow();
    ids.forEach((id, index) => {
      const row = trucks.get(id).row;
      if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null); // id order
    });
    for (const id of ids) {
      const truck = trucks.get(id);
      const ageS = (now - truck.heardMs) / 1000;
      const stale = ageS > STALE_S;
      const alerted = alertedDevices.has(id) && now - alertedDevices.get(id) < ALERTED_S * 1000;
      truck.row.querySelector(".speed").textContent = `${Math.round(truck.data.last_position.speed_kmh)} km/h`;
      truck.row.querySelector(".age").textContent = age(ageS);
      truck.row.classList.toggle("stale", stale);
      truck.row.classList.toggle("alerted", alerted);
      truck.group.classList.toggle("stale", stale && !alerted);
      truck.group.classList.toggle("alerted", alerted);
      truck.trail.classList.toggle("stale", stale);
    }
    $("truck-count").textContent = String(ids.length);
    $("truck-empty").hidden = ids.length > 0;
  }
  setInterval(renderTruckList, 1000);

  function focusTruck(id) {
    const truck = trucks.get(id);
    if (truck) centreOn(truck.to[0], truck.to[1], 400);
  }

  async function pollDevices() {
    try {
      const devices = await getJSON(`/devices?trail=${TRAIL_POINTS}`);
      updateTrucks(devices);
      setIndicator("api-status", "open", `${devices.length} tracked`);
    } catch (error) {
      setIndicator("api-status", "error", error.message === "database_unavailable" ? "database down" : "unreachable");
    } finally {
      setTimeout(pollDevices, POLL_MS);
    }
  }

  // --- alerts ---------------------------------------------------------------------------------
  const alerts = new Map(); // alert_id -> alert
  const alertedDevices = new Map(); // device_id -> ms of its newest alert
  let newestCreated = null; // created_utc (ISO) of the newest alert seen: the resume point
  let socket = null;
  let retryMs = 1000;

  function addAlert(alert, live) {
    if (alerts.has(alert.alert_id)) return;
    alerts.set(alert.alert_id, alert);
    if (!newestCreated || Date.parse(alert.created_utc) > Date.parse(newestCreated)) newestCreated = alert.created_utc;
    const when = Date.parse(alert.time_utc);
    for (const id of ALERTING_SEVERITIES.has(alert.severity) ? alert.device_ids : []) {
      if (!alertedDevices.has(id) || alertedDevices.get(id) < when) alertedDevices.set(id, when);
    }
    const list = $("alert-list");
    const item = renderAlert(alert);
    // Newest (by creation) first; a replayed older alert goes where it belongs.
    const created = Date.parse(alert.created_utc);
    let before = list.firstElementChild;
    while (before && Date.parse(alerts.get(before.dataset.alertId).created_utc) > created) before = before.nextElementSibling;
    list.insertBefore(item, before);
    while (list.children.length > MAX_ALERTS) {
      const last = list.lastElementChild;
      alerts.delete(last.dataset.alertId);
      last.remove();
    }
    $("alert-count").textContent = String(alerts.size);
    $("alert-empty").hidden = true;
    if (live) {
      item.classList.add("fresh");
      flash(alert);
      renderTruckList();
    }
  }

  function renderAlert(alert) {
    const item = html("li", `alert sev-${alert.severity}`);
    item.dataset.alertId = alert.alert_id;
    const head = html("div", "alert-head");
    const time = new Date(alert.time_utc);
    const stamp = html("time", null, utcDate(time) === utcDate(new Date(serverNow())) ? utcTime(time) : `${utcDate(time)} ${utcTime(time)}`);
    stamp.dateTime = alert.time_utc;
    stamp.title = `event ${alert.time_utc}\nraised ${alert.created_utc}`;
    head.append(html("span", "sev", alert.severity), html("span", "kind", alert.kind), stamp);
    const meta = html("div", "alert-meta");
    meta.append(html("span", "dev", alert.device_ids.join(", ")));
    if (alert.zone_id) meta.append(html("span", "zone", alert.zone_id));
    item.append(head, html("div", "alert-title", alert.title), meta);
    item.addEventListener("click", () => {
      centreOn(alert.longitude, alert.latitude, 400);
      // The detail panel covers the right of the map: keep the alert in view left of it.
      const [w] = size();
      if (w > 900) { view.tx -= 220; scheduleRender(); }
      flash(alert);
      openAlert(alert);
    });
    return item;
  }

  const flashes = [];
  function flash(alert) {
    const group = el("g", { class: `flash sev-${alert.severity}` }, layers.flashes);
    el("circle", { r: 6 }, group);
    el("circle", { r: 6, class: "delay" }, group);
    el("circle", { r: 4, class: "core" }, group);
    el("title", {}, group).textContent = alert.title;
    const entry = { group, lon: alert.longitude, lat: alert.latitude };
    flashes.push(entry);
    placeFlashes();
    setTimeout(() => {
      group.remove();
      flashes.splice(flashes.indexOf(entry), 1);
    }, 8000);
  }

  function placeFlashes() {
    for (const f of flashes) {
      const [x, y] = toScreen(f.lon, f.lat);
      f.group.setAttribute("transform", `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
    }
  }

  function connectAlerts() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // Resume a little before the newest alert seen: alerts raised close together may commit in
    // another order.  The server replays from there and ids already listed are skipped.
    const since = newestCreated ? new Date(Date.parse(newestCreated) - RESUME_OVERLAP_MS).toISOString() : null;
    const query = since ? `?since=${encodeURIComponent(since)}` : "";
    setIndicator("ws-status", "connecting", "connecting");
    socket = new WebSocket(`${scheme}://${location.host}${API}/alerts/live${query}`);
    socket.addEventListener("open", () => {
      retryMs = 1000;
      setIndicator("ws-status", "open", "live");
    });
    socket.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (_) { return; }
      if (message.type === "alert") addAlert(message.alert, true);
      else if (message.type === "error" && message.error === "invalid_request") newestCreated = null;
    });
    socket.addEventListener("close", () => {
      socket = null;
      const wait = retryMs;
      retryMs = Math.min(retryMs * 2, 30000);
      setIndicator("ws-status", "closed", `reconnecting in ${Math.round(wait / 1000)} s`);
      setTimeout(connectAlerts, wait);
    });
  }

  async function startAlerts() {
    try {
      const recent = await getJSON("/alerts?limit=100");
      for (const alert of recent.reverse()) addAlert(alert, false);
      // Nothing stored yet: resume from (server) now, a little early; duplicates are ignored.
      if (!newestCreated) newestCreated = new Date(serverNow() - 10000).toISOString();
    } catch (_) {
      // The stream replays from the resume point when there is one; without, it starts live.
    }
    connectAlerts();
  }

  // --- alert detail: the evidence chain, then assess -> decide -> respond -> record -------------
  async function sendJSON(method, path, body) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const response = await fetch(API + path, {
        method,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: controller.signal,
        cache: "no-store",
      });
      noteServerDate(response);
      let payload = null;
      try { payload = await response.json(); } catch (_) { /* no body */ }
      if (!response.ok) {
        let reason = (payload && payload.error) || `HTTP ${response.status}`;
        const detail = payload && payload.detail;
        if (Array.isArray(detail) && detail.length && detail[0].msg) reason += `: ${detail[0].msg}`;
        else if (typeof detail === "string") reason += `: ${detail}`;
        throw new Error(reason);
      }
      return payload;
    } finally {
      clearTimeout(timer);
    }
  }

  const STATUS_POLL_MS = 5000;
  const STEP_ORDER = ["new", "assessing", "decided", "responding", "closed"];
  const detail = { alert: null, status: "new", marks: [], token: 0, changing: 0 };

  function fact(list, term, value, className) {
    if (value === null || value === undefined || value === "") return;
    list.append(html("dt", null, term), html("dd", className || null, String(value)));
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : `${utcDate(d)} ${utcTime(d)} UTC`;
  }

  function pct(x) { return typeof x === "number" ? x.toFixed(2) : "–"; }

  function reasonItem(code, weight, text) {
    const li = html("li");
    li.append(html("span", "code", code));
    if (typeof weight === "number") li.append(html("span", "weight", `+${weight.toFixed(2)}`));
    if (text) li.append(html("span", "why", text));
    return li;
  }

  function clearEvidenceLayer() {
    layers.evidence.replaceChildren();
    detail.marks = [];
  }

  function drawEvidenceTrack(anomaly) {
    const fixes = (anomaly.evidence || []).filter((f) => typeof f.latitude === "number");
    const group = el("g", { class: "evidence-track", "data-anomaly-id": anomaly.anomaly_id }, layers.evidence);
    const line = el("polyline", { class: "evidence-line" }, group);
    const dots = fixes.map((f) => {
      const dot = el("circle", { class: "evidence-fix", r: 3.5 }, group);
      el("title", {}, dot).textContent = `${f.device_id} · ${fmtTime(f.time_utc)}` + (f.speed_kmh != null ? ` · ${Math.round(f.speed_kmh)} km/h` : "");
      return dot;
    });
    const centre = el("circle", { class: "evidence-centre", r: 7 }, group);
    el("title", {}, centre).textContent = `${anomaly.kind}: ${anomaly.reason || ""}`;
    detail.marks.push({ line, dots, centre, fixes, lon: anomaly.longitude, lat: anomaly.latitude });
    placeEvidence();
  }

  function placeEvidence() {
    for (const mark of detail.marks) {
      const points = mark.fixes.map((f) => toScreen(f.longitude, f.latitude));
      mark.line.setAttribute("points", points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "));
      points.forEach(([x, y], i) => { mark.dots[i].setAttribute("cx", x.toFixed(1)); mark.dots[i].setAttribute("cy", y.toFixed(1)); });
      const [cx, cy] = toScreen(mark.lon, mark.lat);
      mark.centre.setAttribute("cx", cx.toFixed(1));
      mark.centre.setAttribute("cy", cy.toFixed(1));
    }
  }

  function renderRead(read) {
    const li = html("li", "read");
    li.dataset.detectionId = read.detection_id || "";
    if (read.crop_sha256) {
      const img = document.createElement("img");
      img.className = "crop";
      img.alt = `crop of ${read.kind} ${read.text}`;
      img.src = `${API}/evidence/${encodeURIComponent(read.crop_sha256)}`;
      img.addEventListener("error", () => { img.replaceWith(html("span", "crop missing", "crop not stored")); });
      li.append(img);
    } else {
      li.append(html("span", "crop missing", "no crop"));
    }
    const text = html("div", "read-text");
    text.append(html("span", "plate", read.text));
    text.append(html("span", `match match-${read.match}`, read.match === "one_char_tolerant" ? "1-char tolerant" : read.match));
    const meta = html("div", "read-meta",
      `${read.matched_field || ""} ${read.matched_key || ""} · ${read.camera_id || ""} @ ${read.site || ""} · ${fmtTime(read.time_utc)}`
      + (typeof read.confidence === "number" ? ` · conf ${read.confidence.toFixed(2)}` : ""));
    text.append(meta);
    li.append(text);
    return li;
  }

  function renderAnomaly(anomaly) {
    const li = html("li", "anomaly");
    li.dataset.anomalyId = anomaly.anomaly_id;
    const head = html("div", "anomaly-head");
    head.append(html("span", "kind", anomaly.kind), html("span", "score", `score ${pct(anomaly.score)}`));
    li.append(head, html("div", "why", anomaly.reason || ""),
      html("div", "read-meta", `${fmtTime(anomaly.start_utc)} → ${fmtTime(anomaly.end_utc)}` + (anomaly.zone_id ? ` · ${anomaly.zone_id}` : "")));
    li.addEventListener("click", () => centreOn(anomaly.longitude, anomaly.latitude, 400));
    return li;
  }

  async function showAnomalies(anomalies, token) {
    const list = $("detail-anomalies");
    list.replaceChildren();
    $("detail-anomalies-block").hidden = anomalies.length === 0;
    for (const summary of anomalies) {
      const item = renderAnomaly(summary);
      list.append(item);
      try {
        const full = await getJSON(`/anomalies/${encodeURIComponent(summary.anomaly_id)}`);
        if (token !== detail.token) return;
        item.dataset.fixes = String((full.evidence || []).length);
        item.querySelector(".score").textContent += ` · ${(full.evidence || []).length} fixes`;
        drawEvidenceTrack(full);
      } catch (error) {
        if (token !== detail.token) return;
        item.append(html("div", "error", `evidence fixes unavailable (${error.message})`));
        if (summary.evidence) drawEvidenceTrack(summary); // an anomaly alert carries its fixes in details
      }
    }
  }

  async function showDeclaration(alert, token) {
    const d = alert.details || {};
    const block = $("detail-declaration");
    block.hidden = !d.declaration_id;
    if (!d.declaration_id) return;
    $("detail-declaration-id").textContent = d.declaration_id;
    $("detail-fused").textContent = typeof d.fused_score === "number" ? `fused ${pct(d.fused_score)}` : "";
    const risk = d.declaration_risk;
    $("detail-risk").textContent = risk
      ? `Declaration risk ${pct(risk.risk_score)} · lane ${risk.lane}` + (risk.model_version ? ` · model ${risk.model_version}` : "")
      : "Declaration not scored";
    $("detail-risk").dataset.lane = risk ? risk.lane : "";
    const riskReasons = $("detail-risk-reasons");
    riskReasons.replaceChildren(...(risk ? risk.reasons || [] : []).map((r) => reasonItem(typeof r === "string" ? r : JSON.stringify(r))));
    $("detail-reasons").replaceChildren(...(d.reasons || []).map((r) => reasonItem(r.code, r.weight, r.detail)));
    const goods = $("detail-goods");
    goods.replaceChildren();
    const declared = d.declared || {};
    fact(goods, "Vehicle", declared.vehicle_plate, "mono");
    fact(goods, "Tracker", declared.tracker_device_id, "mono");
    fact(goods, "Expected at", declared.expected_post);
    try {
      const full = await getJSON(`/declarations/${encodeURIComponent(d.declaration_id)}`);
      if (token !== detail.token) return;
      const decl = full.declaration || {};
      fact(goods, "HS6", decl.hs6_code, "mono");
      fact(goods, "Origin", decl.country_of_origin);
      fact(goods, "Importer", decl.importer_id, "mono");
      if (typeof decl.net_mass_kg === "number") fact(goods, "Net mass", `${decl.net_mass_kg} kg`);
      if (typeof decl.item_price_krw === "number") fact(goods, "Price", `${decl.item_price_krw.toLocaleString("en")} KRW`);
    } catch (_) { /* the chain in the alert is enough */ }
  }

  function setStatus(status) {
    detail.status = status;
    const chip = $("detail-status");
    chip.dataset.status = status;
    chip.textContent = status;
    const index = STEP_ORDER.indexOf(status);
    for (const step of $("workflow-steps").children) {
      const i = STEP_ORDER.indexOf(step.dataset.step);
      step.classList.toggle("done", index >= 0 && i < index);
      step.classList.toggle("current", i === index || (status === "new" && i === 1));
    }
    $("step-decide").hidden = !(status === "new" || status === "assessing");
    $("step-respond").hidden = status !== "decided";
    $("outcome-form").hidden = !(status === "responding" || status === "dismissed");
    if (detail.alert) {
      markListStatus(detail.alert.alert_id, status);
    }
  }

  function markListStatus(alertId, status) {
    const item = document.querySelector(`#alert-list li.alert[data-alert-id="${alertId}"]`);
    if (!item || item.dataset.status === status) return;
    item.dataset.status = status;
    let chip = item.querySelector(".status-chip");
    if (!chip) {
      chip = html("span", "status-chip");
      item.querySelector(".alert-head").insertBefore(chip, item.querySelector(".alert-head time"));
    }
    chip.dataset.status = status;
    chip.textContent = status;
  }

  // Statuses set by any analyst (this page or another), marked in the list.
  async function pollStatuses() {
    try {
      const statuses = await getJSON("/alerts/statuses?limit=1000");
      for (const s of statuses) {
        markListStatus(s.alert_id, s.status);
        const open = detail.alert && detail.alert.alert_id === s.alert_id;
        if (open && !detail.changing && detail.status !== s.status) setStatus(s.status);
      }
    } catch (_) { /* the next poll tries again */ }
    finally {
      setTimeout(pollStatuses, STATUS_POLL_MS);
    }
  }

  function workflowMessage(text, isError) {
    const box = $("workflow-message");
    box.textContent = text || "";
    box.classList.toggle("error", Boolean(isError));
  }

  async function changeStatus(status) {
    const alert = detail.alert;
    if (!alert) return false;
    detail.changing += 1;
    try {
      const body = await sendJSON("PUT", `/alerts/${alert.alert_id}/status`, { status });
      if (detail.alert === alert) setStatus(body.status);
      return true;
    } catch (error) {
      workflowMessage(`Could not set the status: ${error.message}`, true);
      return false;
    } finally {
      detail.changing -= 1;
    }
  }

  async function showOutcomes(alert) {
    try {
      const outcomes = await getJSON(`/outcomes?alert_id=${alert.alert_id}`);
      if (detail.alert !== alert) return;
      $("detail-outcomes").replaceChildren(...outcomes.map((o) => {
        const li = html("li", "outcome");
        li.dataset.outcomeId = o.outcome_id;
        li.append(html("span", `outcome-kind out-${o.outcome}`, o.outcome.replace(/_/g, " ")),
          html("span", "read-meta", `${o.officer} · ${fmtTime(o.time_utc)}`));
        if (o.notes) li.append(html("div", "why", o.notes));
        return li;
      }));
    } catch (_) { /* shown again on the next open */ }
  }

  async function openAlert(summary) {
    const token = ++detail.token;
    detail.alert = summary;
    clearEvidenceLayer();
    workflowMessage("");
    const panel = $("alert-detail");
    panel.hidden = false;
    panel.dataset.alertId = summary.alert_id;
    $("detail-sev").textContent = summary.severity;
    panel.className = `detail sev-${summary.severity}`;
    $("detail-kind").textContent = summary.kind;
    $("detail-title").textContent = summary.title;
    const facts = $("detail-facts");
    facts.replaceChildren();
    fact(facts, "When", fmtTime(summary.time_utc));
    fact(facts, "Devices", summary.device_ids.join(", "), "mono");
    fact(facts, "Zone", summary.zone_id, "mono");
    fact(facts, "Where", `${summary.latitude.toFixed(4)}, ${summary.longitude.toFixed(4)}`);
    $("detail-outcomes").replaceChildren();
    $("detail-reads").replaceChildren();
    setStatus("new");
    let alert = summary;
    try {
      alert = await getJSON(`/alerts/${summary.alert_id}`);
    } catch (_) { /* the listed copy has the same details */ }
    if (token !== detail.token) return;
    const d = alert.details || {};
    const chain = Array.isArray(d.evidence) ? d.evidence : [];
    const reads = chain.filter((e) => e.type === "read");
    $("detail-reads-block").hidden = reads.length === 0;
    $("detail-reads").replaceChildren(...reads.map(renderRead));
    let anomalies = chain.filter((e) => e.type === "anomaly");
    if (!anomalies.length && d.anomaly_id) {
      anomalies = [{ anomaly_id: d.anomaly_id, kind: alert.kind, score: d.score, reason: d.reason, start_utc: d.start_utc,
        end_utc: d.end_utc, zone_id: alert.zone_id, latitude: alert.latitude, longitude: alert.longitude, evidence: d.evidence }];
    }
    showDeclaration(alert, token);
    showAnomalies(anomalies, token);
    showOutcomes(alert);
    try {
      const current = await getJSON(`/alerts/${alert.alert_id}/status`);
      if (token !== detail.token) return;
      setStatus(current.status);
      if (current.status === "new") await changeStatus("assessing"); // opening it starts the assessment
    } catch (error) {
      workflowMessage(`Status unavailable: ${error.message}`, true);
    }
  }

  function closeDetail() {
    detail.token += 1;
    detail.alert = null;
    $("alert-detail").hidden = true;
    clearEvidenceLayer();
  }

  $("detail-close").addEventListener("click", closeDetail);
  $("decide-inspect").addEventListener("click", async () => {
    if (await changeStatus("decided")) workflowMessage("Decision: stop and inspect.");
  });
  $("decide-dismiss").addEventListener("click", async () => {
    if (await changeStatus("dismissed")) workflowMessage("Dismissed: no action. An outcome may still be recorded.");
  });
  $("respond-dispatched").addEventListener("click", async () => {
    if (await changeStatus("responding")) workflowMessage("Officers dispatched: record what they find.");
  });
  const officerInput = $("outcome-officer");
  try { officerInput.value = localStorage.getItem("cedetect.officer") || ""; } catch (_) { /* storage off */ }
  $("outcome-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const alert = detail.alert;
    if (!alert) return;
    const outcome = $("outcome-outcome").value;
    const officer = officerInput.value.trim();
    if (!outcome || !officer) {
      workflowMessage(!outcome ? "Choose an outcome." : "Give the officer's name.", true);
      return;
    }
    const button = $("outcome-submit");
    button.disabled = true;
    try {
      const recorded = await sendJSON("POST", "/outcomes", {
        alert_id: alert.alert_id, outcome, officer, notes: $("outcome-notes").value, time_utc: new Date(serverNow()).toISOString(),
      });
      try { localStorage.setItem("cedetect.officer", officer); } catch (_) { /* storage off */ }
      $("outcome-notes").value = "";
      $("outcome-outcome").value = "";
      if (await changeStatus("closed")) {
        const label = recorded.label ? ` (label: fraud ${recorded.label[0]}, critical ${recorded.label[1]})` : "";
        workflowMessage(`Outcome recorded: ${recorded.outcome.replace(/_/g, " ")}${label}.`);
      }
      showOutcomes(alert);
    } catch (error) {
      workflowMessage(`Not recorded: ${error.message}`, true);
    } finally {
      button.disabled = false;
    }
  });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape" && !$("alert-detail").hidden) closeDetail(); });

  loadLayers();
  pollDevices();
  startAlerts().then(pollStatuses);
})();
