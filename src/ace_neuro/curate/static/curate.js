// The curation page of `ace-neuro curate`: plain JavaScript, no library, nothing loaded from the network.
// State: the manual decisions (component id -> true accept / false reject); every other component keeps the
// evaluate step's automatic decision. Saving sends the manual decisions; the server writes the curation file.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const TOKEN = new URLSearchParams(window.location.search).get("token") || "";

const state = {
  summary: null,
  manual: new Map(),       // id -> bool, as edited
  merges: [],              // groups of ids to merge into one component, each sorted
  splits: new Set(),       // ids whose footprint is split in two
  saved: "",               // the edits as last written (snapshot())
  history: [],             // earlier snapshots, for Ctrl+Z
  selected: null,
  pendingMerge: null,      // id waiting for the component to merge with
  detailRequest: 0,
  order: [],               // ids of the table's visible rows, in its order
  sort: { key: "id", ascending: true },
  view: null,              // the images' shared viewBox [x, y, width, height]
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

function snapshot() {
  return JSON.stringify({
    manual: [...state.manual].sort((a, b) => a[0] - b[0]),
    merges: state.merges,
    splits: [...state.splits].sort((a, b) => a - b),
  });
}

function restore(text) {
  const saved = JSON.parse(text);
  state.manual = new Map(saved.manual);
  state.merges = saved.merges;
  state.splits = new Set(saved.splits);
}

function isDirty() {
  return snapshot() !== state.saved;
}

// Every change goes through here: the state before it is kept for Ctrl+Z.
function change(action) {
  const before = snapshot();
  action();
  if (snapshot() !== before) state.history.push(before);
  document.getElementById("undo").disabled = state.history.length === 0;
}

function mergeGroup(id) {
  return state.merges.find((group) => group.includes(id)) || null;
}

function outlinePath(lines) {
  return lines.map((line) => "M" + line.map(([x, y]) => `${x},${y}`).join("L") + "Z").join("");
}

// ------------------------------------------------------------------ drawing

function buildViews() {
  const { dims, images, components } = state.summary;
  const [height, width] = dims;
  const views = document.getElementById("views");
  // large outlines first so that small ones lie on top and stay clickable
  const order = components.map((c) => c.id).sort((a, b) => components[b].size - components[a].size);
  const fontSize = Math.max(3, Math.min(width, height) / 48);
  state.view = [0, 0, width, height];
  for (const image of images) {
    const figure = document.createElement("figure");
    figure.className = "view";
    figure.dataset.image = image.name;
    const caption = document.createElement("figcaption");
    caption.textContent = image.title;
    figure.appendChild(caption);
    const svg = svgElement("svg", { viewBox: state.view.join(" "), id: `view-${image.name}` }, figure);
    svg.style.aspectRatio = `${width} / ${height}`;
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
      path.addEventListener("click", () => { if (!state.dragged) select(id); });
    }
    bindZoom(svg);
    views.appendChild(figure);
  }
}

// ------------------------------------------------------------------ zoom and pan (all images together)

function setView(view) {
  const [height, width] = state.summary.dims;
  let [x, y, w, h] = view;
  w = Math.min(Math.max(w, 4), width);
  h = Math.min(Math.max(h, 4 * height / width), height);
  x = Math.min(Math.max(x, 0), width - w);
  y = Math.min(Math.max(y, 0), height - h);
  state.view = [x, y, w, h];
  for (const svg of document.querySelectorAll("#views svg")) svg.setAttribute("viewBox", state.view.join(" "));
  const zoomed = w < width - 1e-6 || h < height - 1e-6;
  document.getElementById("views").dataset.zoom = (width / w).toFixed(3);
  document.getElementById("zoom-reset").disabled = !zoomed;
}

function resetZoom() {
  const [height, width] = state.summary.dims;
  setView([0, 0, width, height]);
}

function bindZoom(svg) {
  const local = (event) => {
    const point = svg.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    return point.matrixTransform(svg.getScreenCTM().inverse());
  };
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();  // the wheel zooms the images, it never scrolls the page
    const factor = Math.exp(Math.sign(event.deltaY) * 0.2);
    const at = local(event);
    const [x, y, w, h] = state.view;
    setView([at.x - (at.x - x) * factor, at.y - (at.y - y) * factor, w * factor, h * factor]);
  }, { passive: false });
  let start = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    start = { x: event.clientX, y: event.clientY, view: state.view.slice(), scale: state.view[2] / svg.clientWidth };
    state.dragged = false;
  });
  svg.addEventListener("pointermove", (event) => {
    if (!start) return;
    const dx = event.clientX - start.x;
    const dy = event.clientY - start.y;
    if (!state.dragged && Math.hypot(dx, dy) < 4) return;  // a click, not a drag
    if (!state.dragged) svg.setPointerCapture(event.pointerId);
    state.dragged = true;
    svg.classList.add("panning");
    const [x, y, w, h] = start.view;
    setView([x - dx * start.scale, y - dy * start.scale, w, h]);
  });
  const stop = () => {
    start = null;
    svg.classList.remove("panning");
    setTimeout(() => { state.dragged = false; }, 0);  // the click that ends a drag selects nothing
  };
  svg.addEventListener("pointerup", stop);
  svg.addEventListener("pointercancel", stop);
}

// ------------------------------------------------------------------ the table: sort and filter

const COLUMNS = ["id", "snr", "r", "size", "decision", "by", "reason"];

function decidedBy(id) {
  if (state.splits.has(id)) return "you (split)";
  if (mergeGroup(id)) return "you (merge)";
  return state.manual.has(id) ? "you" : "auto";
}

function reasonText(id) {
  const component = state.summary.components[id];
  const group = mergeGroup(id);
  if (group) return `merged: ${group.join(" + ")} become one component (saved, then the next run re-fits it)`;
  if (state.splits.has(id)) return "split in two (saved, then the next run re-fits both halves)";
  if (state.manual.has(id)) return `${state.manual.get(id) ? "accepted" : "rejected"} by you; automatic: ${component.reason}`;
  return component.reason;
}

function sortValue(id, key) {
  const component = state.summary.components[id];
  if (key === "decision") return isAccepted(id) ? 1 : 0;
  if (key === "by") return decidedBy(id);
  if (key === "reason") return reasonText(id);
  const value = component[key];
  return value === null || value === undefined ? -Infinity : value;
}

function buildTable() {
  const body = document.querySelector("#components tbody");
  body.replaceChildren();
  for (const component of state.summary.components) {
    const row = document.createElement("tr");
    row.id = `row-${component.id}`;
    row.dataset.id = component.id;
    for (const [i, text] of [component.id, format(component.snr), format(component.r), component.size, "", "", ""].entries()) {
      const cell = document.createElement("td");
      cell.textContent = text;
      if (COLUMNS[i] === "reason") cell.className = "text";
      row.appendChild(cell);
    }
    row.addEventListener("click", () => select(component.id));
    body.appendChild(row);
  }
  for (const header of document.querySelectorAll("#components th")) {
    header.addEventListener("click", () => {
      const key = header.dataset.key;
      state.sort = { key, ascending: state.sort.key === key ? !state.sort.ascending : key !== "snr" && key !== "r" };
      refreshTable();
    });
  }
}

function refreshTable() {
  const filter = document.getElementById("filter").value;
  const text = document.getElementById("filter-text").value.trim().toLowerCase();
  const { key, ascending } = state.sort;
  const ids = state.summary.components.map((c) => c.id);
  const compare = (a, b) => {
    const [va, vb] = [sortValue(a, key), sortValue(b, key)];
    const order = typeof va === "string" ? va.localeCompare(vb) : va - vb;
    return (ascending ? order : -order) || a - b;
  };
  ids.sort(compare);
  const body = document.querySelector("#components tbody");
  state.order = [];
  for (const id of ids) {
    const row = document.getElementById(`row-${id}`);
    const shown = (filter === "all" || (filter === "accepted" && isAccepted(id)) ||
      (filter === "rejected" && !isAccepted(id)) || (filter === "manual" && decidedBy(id) !== "auto")) &&
      (!text || reasonText(id).toLowerCase().includes(text));
    row.hidden = !shown;
    if (shown) state.order.push(id);
    body.appendChild(row);
  }
  for (const header of document.querySelectorAll("#components th")) {
    if (header.dataset.key === key) header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    else header.removeAttribute("aria-sort");
  }
  document.getElementById("table-count").textContent = `${state.order.length} of ${ids.length} rows`;
}

// Bring a row into view by scrolling the table's own box, never the window.
function revealRow(row) {
  const box = document.getElementById("table-box");
  if (!row || row.hidden) return;
  const header = document.querySelector("#components thead").getBoundingClientRect().height;
  const top = row.getBoundingClientRect().top - box.getBoundingClientRect().top + box.scrollTop;
  if (top - header < box.scrollTop) box.scrollTop = top - header;
  else if (top + row.offsetHeight > box.scrollTop + box.clientHeight) box.scrollTop = top + row.offsetHeight - box.clientHeight;
}

function refreshComponent(id) {
  const accepted = isAccepted(id);
  const edited = state.splits.has(id) || mergeGroup(id) !== null;
  for (const group of document.querySelectorAll(`g.comp[data-id="${id}"]`)) {
    group.classList.toggle("accepted", accepted);
    group.classList.toggle("rejected", !accepted);
    group.classList.toggle("edited", edited);
    group.classList.toggle("selected", id === state.selected);
  }
  const row = document.getElementById(`row-${id}`);
  if (row) {
    const cells = row.children;
    cells[4].textContent = accepted ? "accept" : "reject";
    cells[4].className = accepted ? "accepted" : "rejected";
    cells[5].textContent = decidedBy(id);
    cells[6].textContent = reasonText(id);
    cells[6].title = reasonText(id);
    row.classList.toggle("selected", id === state.selected);
  }
}

function refreshCounts() {
  const total = state.summary.components.length;
  let accepted = 0;
  for (let id = 0; id < total; id += 1) if (isAccepted(id)) accepted += 1;
  const counts = document.getElementById("counts");
  counts.replaceChildren();
  const edits = state.merges.length || state.splits.size ? `, ${state.merges.length} merges, ${state.splits.size} splits` : "";
  counts.append(`${total} components: ${accepted} accepted, ${total - accepted} rejected; ` +
    `${state.manual.size} manual decisions${edits}`);
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
  for (const button of ["accept", "reject", "automatic", "prev", "next", "merge", "split"]) {
    document.getElementById(button).disabled = id === null;
  }
  document.getElementById("merge").classList.toggle("armed", state.pendingMerge !== null);
  if (id === null) return;
  const component = state.summary.components[id];
  const accepted = isAccepted(id);
  const { thresholds } = state.summary;
  document.getElementById("sel-id").textContent = id;
  badge.textContent = accepted ? "accepted" : "rejected";
  badge.className = `badge ${accepted ? "accepted" : "rejected"}`;
  document.getElementById("sel-reason").textContent = reasonText(id);
  document.getElementById("sel-snr").textContent =
    `${format(component.snr)} (min_SNR ${thresholds.min_SNR}, SNR_lowest ${thresholds.SNR_lowest})`;
  document.getElementById("sel-r").textContent =
    `${format(component.r)} (rval_thr ${thresholds.rval_thr}, rval_lowest ${thresholds.rval_lowest})`;
  document.getElementById("sel-size").textContent = component.size;
  document.getElementById("sel-by").textContent = decidedBy(id) === "auto" ? "the evaluate step (automatic)" : decidedBy(id);
  document.getElementById("split").textContent = state.splits.has(id) ? "Unsplit (x)" : "Split (x)";
  document.getElementById("merge").textContent = mergeGroup(id) ? "Unmerge (m)" : "Merge with... (m)";
  const parts = [];
  if (state.merges.length) parts.push(`merges: ${state.merges.map((g) => g.join("+")).join(", ")}`);
  if (state.splits.size) parts.push(`splits: ${[...state.splits].sort((a, b) => a - b).join(", ")}`);
  document.getElementById("edits").textContent = parts.join("; ");
}

function refreshAll() {
  state.summary.components.forEach((c) => refreshComponent(c.id));
  refreshTable();
  refreshCounts();
  refreshSelection();
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
  if (state.pendingMerge !== null && id !== state.pendingMerge) {
    const first = state.pendingMerge;
    state.pendingMerge = null;
    merge(first, id);
  }
  const previous = state.selected;
  state.selected = id;
  if (previous !== null) refreshComponent(previous);
  refreshComponent(id);
  refreshSelection();
  revealRow(document.getElementById(`row-${id}`));
  const request = ++state.detailRequest;
  showClip(id);
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
  change(() => { if (accept === null) state.manual.delete(id); else state.manual.set(id, accept); });
  refreshAll();
  const what = accept === null ? "back to the automatic decision" : (accept ? "accepted" : "rejected");
  setStatus(`Component ${id} ${what}; ${isDirty() ? "not saved yet (s saves, Ctrl+Z undoes)" : "nothing to save"}.`);
}

function armMerge() {
  const id = state.selected;
  if (id === null) return;
  const group = mergeGroup(id);
  if (group) {  // the selected component is merged already: take it out of its group
    change(() => {
      const rest = group.filter((other) => other !== id);
      state.merges = state.merges.filter((g) => g !== group);
      if (rest.length > 1) state.merges.push(rest);
    });
    refreshAll();
    setStatus(`Component ${id} is no longer merged.`);
    return;
  }
  if (state.splits.has(id)) {
    setStatus(`Component ${id} is split, so it cannot also be merged: unsplit it first (x).`, true);
    return;
  }
  state.pendingMerge = state.pendingMerge === id ? null : id;
  refreshSelection();
  setStatus(state.pendingMerge === null ? "Merge cancelled." :
    `Merge: click the component to merge with ${id} (an outline or a row); m again cancels.`);
}

function merge(first, second) {
  if (state.splits.has(first) || state.splits.has(second)) {
    setStatus("A split component cannot also be merged: unsplit it first (x).", true);
    return;
  }
  change(() => {
    const groups = [mergeGroup(first), mergeGroup(second)].filter(Boolean);
    const members = new Set([first, second, ...groups.flat()]);
    state.merges = state.merges.filter((g) => !groups.includes(g));
    state.merges.push([...members].sort((a, b) => a - b));
  });
  refreshAll();
  setStatus(`Components ${mergeGroup(first).join(" + ")} will be merged into one; save, then run snakemake: ` +
    "evaluate combines their footprints and re-fits the trace.");
}

function toggleSplit() {
  const id = state.selected;
  if (id === null) return;
  if (mergeGroup(id)) {
    setStatus("A merged component cannot also be split: unmerge it first (m).", true);
    return;
  }
  change(() => { if (state.splits.has(id)) state.splits.delete(id); else state.splits.add(id); });
  refreshAll();
  setStatus(state.splits.has(id) ? `Component ${id} will be split in two; save, then run snakemake: evaluate ` +
    "splits the footprint and re-fits both traces." : `Component ${id} will not be split.`);
}

function undo() {
  if (!state.history.length) return;
  restore(state.history.pop());
  state.pendingMerge = null;
  document.getElementById("undo").disabled = state.history.length === 0;
  refreshAll();
  setStatus(`Undone; ${state.history.length} earlier change(s) left to undo.`);
}

function step(delta) {
  const order = state.order;
  if (!order.length) return;
  const at = order.indexOf(state.selected);
  const next = at < 0 ? order[0] : order[(at + delta + order.length) % order.length];
  select(next);
}

function save() {
  const decisions = {};
  for (const [id, accept] of state.manual) decisions[id] = accept ? "accept" : "reject";
  const body = { decisions, merge: state.merges, split: [...state.splits].sort((a, b) => a - b) };
  setStatus("Saving...");
  const written = snapshot();
  api("/api/save", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
    .then((reply) => {
      state.saved = written;
      refreshCounts();
      setStatus(reply.message);
      document.getElementById("status").dataset.saved = reply.path;
    })
    .catch((error) => setStatus(`Not saved: ${error.message}`, true));
}

// ------------------------------------------------------------------ movie clip of the selected component

function clipFormat() {
  const video = document.getElementById("clip");
  return video.canPlayType('video/mp4; codecs="avc1.42E01E"') ? "mp4" : "webm";
}

function showClip(id) {
  const video = document.getElementById("clip");
  const legend = document.getElementById("clip-legend");
  if (!state.summary.clips) {
    video.hidden = true;
    legend.textContent = state.summary.clip_note;
    return;
  }
  legend.textContent = "loading the clip...";
  clearTimeout(state.clipTimer);
  // asked for once the selection rests: stepping through the table with keys makes no clips
  state.clipTimer = setTimeout(() => loadClip(id), 400);
}

function loadClip(id) {
  if (id !== state.selected) return;
  const video = document.getElementById("clip");
  const legend = document.getElementById("clip-legend");
  video.dataset.component = String(id);
  video.src = `/api/clip/${id}.${clipFormat()}?token=${encodeURIComponent(TOKEN)}`;
  video.onloadeddata = () => {
    legend.textContent = "raw | denoised (A\u00b7C) | residual (click: pause)";
  };
  video.onerror = () => { legend.textContent = `no clip for component ${id}`; };
  video.play().catch(() => {});  // muted clips may play at once; a click plays them otherwise
}

// ------------------------------------------------------------------ the recording's movies (movies step)

function buildMovies() {
  const movies = state.summary.movies || [];
  const video = document.getElementById("movie");
  const choice = document.getElementById("movie-choice");
  const note = document.getElementById("movie-note");
  if (!movies.length) {
    video.hidden = true;
    choice.parentElement.hidden = true;
    note.textContent = state.summary.movies_note;
    return;
  }
  for (const movie of movies) {
    const option = document.createElement("option");
    option.value = movie.name;
    option.textContent = movie.title;
    choice.appendChild(option);
  }
  const show = () => {
    // served with byte ranges, so the player seeks; time and component ids are drawn on the frames
    video.src = `/api/movie/${encodeURIComponent(choice.value)}.mp4?token=${encodeURIComponent(TOKEN)}`;
    video.dataset.movie = choice.value;
    note.textContent = "time (s) at the top left; sped up by movies_speedup";
  };
  video.onerror = () => { note.textContent = `the movie ${choice.value} could not be played`; };
  choice.addEventListener("change", show);
  show();
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
  const buttons = {
    save, accept: () => decide(true), reject: () => decide(false), automatic: () => decide(null),
    prev: () => step(-1), next: () => step(1), merge: armMerge, split: toggleSplit, undo, "zoom-reset": resetZoom,
  };
  for (const [id, action] of Object.entries(buttons)) document.getElementById(id).addEventListener("click", action);
  document.getElementById("show-ids").addEventListener("change", (event) => {
    document.getElementById("views").classList.toggle("hide-ids", !event.target.checked);
  });
  document.getElementById("show-rejected").addEventListener("change", (event) => {
    document.getElementById("views").classList.toggle("hide-rejected", !event.target.checked);
  });
  document.getElementById("filter").addEventListener("change", refreshTable);
  document.getElementById("clip").addEventListener("click", (event) => {
    if (event.target.paused) event.target.play(); else event.target.pause();
  });
  document.getElementById("filter-text").addEventListener("input", refreshTable);
  document.addEventListener("keydown", (event) => {
    const typing = (event.target instanceof HTMLInputElement && event.target.type !== "checkbox") ||
      event.target instanceof HTMLSelectElement;
    const key = event.key;
    if (typing || event.altKey) return;
    if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "z") {
      event.preventDefault();
      undo();
      return;
    }
    if ((event.ctrlKey || event.metaKey) && key !== "s") return;
    const actions = {
      a: () => decide(true), r: () => decide(false), u: () => decide(null), s: save,
      n: () => step(1), j: () => step(1), ArrowRight: () => step(1),
      p: () => step(-1), k: () => step(-1), ArrowLeft: () => step(-1),
      m: armMerge, x: toggleSplit, 0: resetZoom, Escape: () => { state.pendingMerge = null; refreshSelection(); },
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
    state.merges = summary.merge.map((group) => group.slice().sort((a, b) => a - b));
    state.splits = new Set(summary.split);
    state.saved = snapshot();
    document.getElementById("recording").textContent = summary.recording_id;
    document.title = `ace-neuro curate: ${summary.recording_id}`;
    buildViews();
    buildTable();
    buildCrop();
    buildMovies();
    resetZoom();
    refreshAll();
    setStatus(`Decisions are saved to ${summary.curation_path}; ${summary.used_by}. ` +
      "Click an outline or a row to select a component.");
    document.body.dataset.ready = "true";
    if (summary.components.length) select(0);
  }).catch((error) => setStatus(`Could not load the results: ${error.message}`, true));
}

start();
