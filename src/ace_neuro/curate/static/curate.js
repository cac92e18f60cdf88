// The curation page of `ace-neuro curate`: plain JavaScript, no library, nothing loaded from the network.
// State: the manual decisions (component id -> true accept / false reject); every other component keeps the
// evaluate step's automatic decision. Saving sends the manual decisions; the server writes the curation file.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const TOKEN = new URLSearchParams(window.location.search).get("token") || "";

const state = {
  summary: null,
  manual: new Map(),       // id -> bool, as edited
  saved: new Map(),        // id -> bool, as last written
  selected: null,
  detailRequest: 0,
  crop: null,              // {rows: [r0, r1], cols: [c0, c1]}
};

// ------------------------------------------------------------------ helpers

function api(path, options) {
  const sep = path.includes("?") ? "&" : "?";
  return fetch(`${path}${sep}token=${encodeURIComponent(TOKEN)}`, options).then(async (response) => {
    const payload = response.headers.get("Content-Type") === "application/json" ? await response.json() : null;
    if (!response.ok) {
      throw new Error(payload && payload.error ? payload.error : `${response.status} ${response.statusText}`);
    }
    return payload;
  });
}

function svgElement(name, attributes = {}, parent = null) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (parent) parent.appendChild(element);
  return element;
}

function setStatus(text, isError = false) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function format(value, digits = 2) {
  return value === null || value === undefined ? "n/a" : Number(value).toFixed(digits);
}

function isAccepted(id) {
  return state.manual.has(id) ? state.manual.get(id) : state.summary.components[id].auto;
}

function isDirty() {
  if (state.manual.size !== state.saved.size) return true;
  for (const [id, accept] of state.manual) if (state.saved.get(id) !== accept) return true;
  return false;
}

function outlinePath(lines) {
  return lines.map((line) => "M" + line.map(([x, y]) => `${x},${y}`).join("L") + "Z").join("");
}

// ------------------------------------------------------------------ drawing

function buildViews() {
  const { dims, images, components } = state.summary;
  const [height, width] = dims;
  const views = document.getElementById("views");
  const cropFigure = document.getElementById("crop-section");
  // large outlines first so that small ones lie on top and stay clickable
  const order = components.map((c) => c.id).sort((a, b) => components[b].size - components[a].size);
  const fontSize = Math.max(3, Math.min(width, height) / 48);
  for (const image of images) {
    const figure = document.createElement("figure");
    figure.className = "view";
    figure.dataset.image = image.name;
    const caption = document.createElement("figcaption");
    caption.textContent = image.title;
    figure.appendChild(caption);
    const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, id: `view-${image.name}` }, figure);
    svgElement("image", { href: `/api/image/${image.name}.png?token=${encodeURIComponent(TOKEN)}`, x: 0, y: 0,
      width, height, preserveAspectRatio: "none" }, svg);
    for (const id of order) {
      const component = components[id];
      const group = svgElement("g", { class: "comp", "data-id": id, id: `comp-${image.name}-${id}` }, svg);
      const path = svgElement("path", { d: outlinePath(component.outline), id: `outline-${image.name}-${id}` }, group);
      const title = svgElement("title", {}, path);
      title.textContent = `component ${id}`;
      if (component.centre[0] !== null) {
        // the id sits just right of the outline, which stays visible
        let right = component.centre[0];
        for (const line of component.outline) for (const [x] of line) right = Math.max(right, x);
        const label = svgElement("text", { x: right + fontSize * 0.15, y: component.centre[1], "font-size": fontSize }, group);
        label.textContent = String(id);
      }
      path.addEventListener("click", () => select(id));
    }
    views.insertBefore(figure, cropFigure);
  }
}

function buildTable() {
  const body = document.querySelector("#components tbody");
  body.replaceChildren();
  for (const component of state.summary.components) {
    const row = document.createElement("tr");
    row.id = `row-${component.id}`;
    row.dataset.id = component.id;
    for (const text of [component.id, format(component.snr), format(component.r), component.size,
      component.auto ? "accept" : "reject", "", ""]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    row.addEventListener("click", () => select(component.id));
    body.appendChild(row);
  }
}

function refreshComponent(id) {
  const accepted = isAccepted(id);
  for (const group of document.querySelectorAll(`g.comp[data-id="${id}"]`)) {
    group.classList.toggle("accepted", accepted);
    group.classList.toggle("rejected", !accepted);
    group.classList.toggle("selected", id === state.selected);
  }
  const row = document.getElementById(`row-${id}`);
  if (row) {
    const cells = row.children;
    cells[4].className = state.summary.components[id].auto ? "accepted" : "rejected";
    cells[5].textContent = accepted ? "accept" : "reject";
    cells[5].className = accepted ? "accepted" : "rejected";
    cells[6].textContent = state.manual.has(id) ? "you" : "auto";
    row.classList.toggle("selected", id === state.selected);
  }
}

function refreshCounts() {
  const total = state.summary.components.length;
  let accepted = 0;
  for (let id = 0; id < total; id += 1) if (isAccepted(id)) accepted += 1;
  const counts = document.getElementById("counts");
  counts.replaceChildren();
  counts.append(`${total} components: ${accepted} accepted, ${total - accepted} rejected; ` +
    `${state.manual.size} manual decisions`);
  if (isDirty()) {
    const dirty = document.createElement("span");
    dirty.className = "dirty";
    dirty.id = "unsaved";
    dirty.textContent = " (unsaved)";
    counts.appendChild(dirty);
  }
}

function refreshSelection() {
  const id = state.selected;
  const badge = document.getElementById("sel-state");
  for (const button of ["accept", "reject", "automatic", "prev", "next"]) {
    document.getElementById(button).disabled = id === null;
  }
  if (id === null) return;
  const component = state.summary.components[id];
  const accepted = isAccepted(id);
  document.getElementById("sel-id").textContent = id;
  badge.textContent = accepted ? "accepted" : "rejected";
  badge.className = `badge ${accepted ? "accepted" : "rejected"}`;
  document.getElementById("sel-snr").textContent = `${format(component.snr)} (min_SNR ${state.summary.thresholds.min_SNR})`;
  document.getElementById("sel-r").textContent = `${format(component.r)} (rval_thr ${state.summary.thresholds.rval_thr})`;
  document.getElementById("sel-size").textContent = component.size;
  document.getElementById("sel-auto").textContent = component.auto ? "accept" : "reject";
  document.getElementById("sel-by").textContent = state.manual.has(id) ? "you (curation file)" : "thresholds";
}

function drawFootprint(detail) {
  const canvas = document.getElementById("footprint");
  const { height, width, values, top, left } = detail.footprint;
  const scale = Math.max(1, Math.floor(200 / Math.max(height, width)));
  canvas.width = width * scale;
  canvas.height = height * scale;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(width, height);
  for (let i = 0; i < values.length; i += 1) {
    const v = values[i];  // 0..1, an "inferno"-like ramp: black, red, yellow, white
    pixels.data[4 * i] = Math.min(255, 3 * 255 * v);
    pixels.data[4 * i + 1] = Math.min(255, Math.max(0, 3 * 255 * (v - 0.33)));
    pixels.data[4 * i + 2] = Math.min(255, Math.max(0, 3 * 255 * (v - 0.67)));
    pixels.data[4 * i + 3] = 255;
  }
  const buffer = document.createElement("canvas");
  buffer.width = width;
  buffer.height = height;
  buffer.getContext("2d").putImageData(pixels, 0, 0);
  context.imageSmoothingEnabled = false;
  context.drawImage(buffer, 0, 0, width * scale, height * scale);
  context.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue("--selected");
  context.lineWidth = 1.5;
  for (const line of state.summary.components[detail.id].outline) {
    context.beginPath();
    line.forEach(([x, y], i) => {
      const px = (x - left) * scale;
      const py = (y - top) * scale;
      if (i === 0) context.moveTo(px, py); else context.lineTo(px, py);
    });
    context.closePath();
    context.stroke();
  }
}

function drawTrace(detail) {
  const svg = document.getElementById("trace");
  svg.replaceChildren();
  const [W, H] = [Math.max(svg.clientWidth, 200), Math.max(svg.clientHeight, 100)];  // drawn in screen pixels
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const margin = { left: 8, right: 8, top: 8, bottom: 22 };
  const frames = state.summary.n_frames;
  const all = detail.raw.values.concat(detail.C.values);
  let low = Math.min(...all);
  let high = Math.max(...all);
  if (!(high > low)) { high = low + 1; }
  const x = (frame) => margin.left + (frame / Math.max(frames - 1, 1)) * (W - margin.left - margin.right);
  const y = (value) => H - margin.bottom - ((value - low) / (high - low)) * (H - margin.top - margin.bottom);
  svgElement("line", { class: "axis", x1: margin.left, x2: W - margin.right, y1: H - margin.bottom, y2: H - margin.bottom }, svg);
  const seconds = (frames - 1) / detail.frame_rate;
  const step = niceStep(seconds / 6);
  for (let t = 0; t <= seconds + 1e-9; t += step) {
    const px = x(t * detail.frame_rate);
    svgElement("line", { class: "axis", x1: px, x2: px, y1: H - margin.bottom, y2: H - margin.bottom + 4 }, svg);
    const label = svgElement("text", { x: px, y: H - 4, "text-anchor": "middle" }, svg);
    label.textContent = `${Number(t.toFixed(3))} s`;
  }
  for (const [name, trace] of [["raw", detail.raw], ["denoised", detail.C]]) {
    const points = trace.frames.map((frame, i) => `${x(frame).toFixed(1)},${y(trace.values[i]).toFixed(1)}`);
    svgElement("polyline", { class: name, points: points.join(" ") }, svg);
  }
}

function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 5, 10]) if (factor * power >= raw) return factor * power;
  return 10 * power;
}

// ------------------------------------------------------------------ actions

function select(id) {
  const previous = state.selected;
  state.selected = id;
  if (previous !== null) refreshComponent(previous);
  refreshComponent(id);
  refreshSelection();
  const row = document.getElementById(`row-${id}`);
  if (row && row.scrollIntoView) row.scrollIntoView({ block: "nearest" });
  const request = ++state.detailRequest;
  api(`/api/component/${id}`).then((detail) => {
    if (request !== state.detailRequest) return;  // a later selection won
    drawFootprint(detail);
    drawTrace(detail);
    document.getElementById("detail").dataset.component = String(detail.id);  // what is drawn
  }).catch((error) => setStatus(`Could not load component ${id}: ${error.message}`, true));
}

function decide(accept) {
  const id = state.selected;
  if (id === null) return;
  if (accept === null) state.manual.delete(id); else state.manual.set(id, accept);
  refreshComponent(id);
  refreshSelection();
  refreshCounts();
  const what = accept === null ? "back to the automatic decision" : (accept ? "accepted" : "rejected");
  setStatus(`Component ${id} ${what}; ${isDirty() ? "not saved yet (s saves)" : "nothing to save"}.`);
}

function step(delta) {
  const total = state.summary.components.length;
  if (!total) return;
  const next = state.selected === null ? 0 : (state.selected + delta + total) % total;
  select(next);
}

function save() {
  const decisions = {};
  for (const [id, accept] of state.manual) decisions[id] = accept ? "accept" : "reject";
  setStatus("Saving...");
  api("/api/save", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ decisions }) })
    .then((reply) => {
      state.saved = new Map(state.manual);
      refreshCounts();
      setStatus(reply.message);
      document.getElementById("status").dataset.saved = reply.path;
    })
    .catch((error) => setStatus(`Not saved: ${error.message}`, true));
}

// ------------------------------------------------------------------ crop box

function buildCrop() {
  const section = document.getElementById("crop-section");
  const shape = state.summary.max_shape;
  if (!shape) {
    section.hidden = true;
    return;
  }
  const [height, width] = shape;
  const svg = document.getElementById("crop");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svgElement("image", { href: `/api/image/max.png?token=${encodeURIComponent(TOKEN)}`, x: 0, y: 0, width, height,
    preserveAspectRatio: "none" }, svg);
  const box = svgElement("rect", { class: "box", x: 0, y: 0, width: 0, height: 0, visibility: "hidden" }, svg);
  let start = null;
  const pixel = (event) => {
    const point = svg.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    const local = point.matrixTransform(svg.getScreenCTM().inverse());
    return [Math.min(Math.max(local.y, 0), height), Math.min(Math.max(local.x, 0), width)];
  };
  const update = (a, b) => {
    const rows = [Math.floor(Math.min(a[0], b[0])), Math.min(Math.ceil(Math.max(a[0], b[0])), height)];
    const cols = [Math.floor(Math.min(a[1], b[1])), Math.min(Math.ceil(Math.max(a[1], b[1])), width)];
    state.crop = rows[1] > rows[0] && cols[1] > cols[0] ? { rows, cols } : null;
    showCrop(box, height);
  };
  svg.addEventListener("pointerdown", (event) => {
    start = pixel(event);
    svg.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  svg.addEventListener("pointermove", (event) => { if (start) update(start, pixel(event)); });
  svg.addEventListener("pointerup", (event) => {
    if (start) update(start, pixel(event));
    start = null;
  });
  document.getElementById("crop-clear").addEventListener("click", () => { state.crop = null; showCrop(box, height); });
  document.getElementById("crop-save").addEventListener("click", saveCrop);
}

function showCrop(box, height) {
  const value = document.getElementById("crop-value");
  const extent = document.getElementById("crop-extent");
  const button = document.getElementById("crop-save");
  if (!state.crop) {
    box.setAttribute("visibility", "hidden");
    value.textContent = "none";
    extent.textContent = "";
    button.disabled = true;
    return;
  }
  const { rows, cols } = state.crop;
  box.setAttribute("x", cols[0]);
  box.setAttribute("y", rows[0]);
  box.setAttribute("width", cols[1] - cols[0]);
  box.setAttribute("height", rows[1] - rows[0]);
  box.setAttribute("visibility", "visible");
  // the seed's convention: x from the left, y from the bottom
  value.textContent = `${cols[0]},${height - rows[1]},${cols[1]},${height - rows[0]}`;
  extent.textContent = `(${cols[1] - cols[0]} x ${rows[1] - rows[0]} px kept)`;
  button.disabled = false;
}

function saveCrop() {
  if (!state.crop) return;
  api("/api/crop", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(state.crop) })
    .then((reply) => setStatus(reply.message))
    .catch((error) => setStatus(`Crop not saved: ${error.message}`, true));
}

// ------------------------------------------------------------------ start

function bindControls() {
  document.getElementById("save").addEventListener("click", save);
  document.getElementById("accept").addEventListener("click", () => decide(true));
  document.getElementById("reject").addEventListener("click", () => decide(false));
  document.getElementById("automatic").addEventListener("click", () => decide(null));
  document.getElementById("prev").addEventListener("click", () => step(-1));
  document.getElementById("next").addEventListener("click", () => step(1));
  document.getElementById("show-ids").addEventListener("change", (event) => {
    document.getElementById("views").classList.toggle("hide-ids", !event.target.checked);
  });
  document.getElementById("show-rejected").addEventListener("change", (event) => {
    document.getElementById("views").classList.toggle("hide-rejected", !event.target.checked);
  });
  document.addEventListener("keydown", (event) => {
    const typing = event.target instanceof HTMLInputElement && event.target.type !== "checkbox";
    const key = event.key;
    if (typing || event.altKey || ((event.ctrlKey || event.metaKey) && key !== "s")) return;
    const actions = {
      a: () => decide(true), r: () => decide(false), u: () => decide(null), s: save,
      n: () => step(1), j: () => step(1), ArrowRight: () => step(1),
      p: () => step(-1), k: () => step(-1), ArrowLeft: () => step(-1),
    };
    if (actions[key]) {
      event.preventDefault();
      actions[key]();
    }
  });
  window.addEventListener("beforeunload", (event) => {
    if (state.summary && isDirty()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
}

function start() {
  bindControls();
  api("/api/summary").then((summary) => {
    state.summary = summary;
    for (const [id, accept] of Object.entries(summary.manual)) state.manual.set(Number(id), accept);
    state.saved = new Map(state.manual);
    document.getElementById("recording").textContent = summary.recording_id;
    document.title = `ace-neuro curate: ${summary.recording_id}`;
    buildViews();
    buildTable();
    buildCrop();
    summary.components.forEach((c) => refreshComponent(c.id));
    refreshCounts();
    refreshSelection();
    setStatus(`Decisions are saved to ${summary.curation_path} (the sample sheet's 'curation file': ` +
      `${summary.sheet_value}). Click an outline or a row to select a component.`);
    document.body.dataset.ready = "true";
    if (summary.components.length) select(0);
  }).catch((error) => setStatus(`Could not load the results: ${error.message}`, true));
}

start();
