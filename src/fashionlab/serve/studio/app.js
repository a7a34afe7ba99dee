// fashionlab studio: plain JavaScript over the /v1 API (no framework, no build step, nothing from a CDN).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { image: null, imageName: null, attributes: null, catalog: null, poseId: null, poseImage: null, edited: null };

function apiHeaders() {
  const key = sessionStorage.getItem("fashionlab-key");
  return key ? { "X-API-Key": key } : {};
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  box.focus?.();
}

function clearError() { $("error").hidden = true; $("error").textContent = ""; }

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...apiHeaders(), ...(options.headers || {}) } });
  const type = response.headers.get("content-type") || "";
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    if (type.includes("application/json")) {
      const body = await response.json();
      if (body.error) message = body.error.field ? `${body.error.field}: ${body.error.message}` : body.error.message;
    }
    if (response.status === 401) $("key-box").open = true;
    throw new Error(message);
  }
  return type.includes("application/json") ? response.json() : response.blob();
}

function form(fields) {
  const data = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    if (value === null || value === undefined) continue;
    if (value instanceof Blob) data.append(key, value, key + ".png");
    else if (typeof value === "object") data.append(key, JSON.stringify(value));
    else data.append(key, String(value));
  }
  return { method: "POST", body: data };
}

async function busy(button, work) {
  clearError();
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = label + "...";
  try { await work(); } catch (e) { showError(e.message); } finally {
    button.textContent = label;
    button.removeAttribute("aria-busy");
    updateButtons();
  }
}

function describe(attributes) {
  return Object.entries(attributes).map(([k, v]) => `${k} ${v}`).join(", ").replaceAll("_", " ");
}

function setDomain(domain) {
  const box = $("domain");
  if (domain && domain.unusual) {
    box.textContent = "This image looks unlike what the model was trained on; results may be meaningless. " +
      `(domain score ${domain.score} > ${domain.threshold})`;
    box.hidden = false;
  } else { box.hidden = true; }
}

function choose(blob, name, alt) {
  state.image = blob; state.imageName = name; state.attributes = null; state.edited = null;
  const img = $("current");
  img.src = URL.createObjectURL(blob);
  img.alt = alt;
  img.hidden = false;
  $("current-caption").textContent = name;
  $("attributes").hidden = true; $("map-figure").hidden = true; $("edit-result").hidden = true;
  $("results").replaceChildren(); $("search-title").textContent = ""; $("pose-result").hidden = true;
  $("edit-notes").replaceChildren();
  setDomain(null);
  updateButtons();
  readAttributes();
}

function pressed(container, button) {
  for (const b of container.querySelectorAll("button.tile")) b.setAttribute("aria-pressed", String(b === button));
}

async function loadSamples() {
  const samples = await api("/v1/samples");
  const box = $("samples");
  for (const sample of samples) {
    const button = document.createElement("button");
    button.type = "button"; button.className = "tile"; button.setAttribute("role", "listitem");
    button.setAttribute("aria-pressed", "false");
    const alt = `SynthFashion ${sample.kind} sample: ${describe(sample.attributes)}`;
    const img = document.createElement("img");
    img.src = sample.url; img.alt = alt;
    button.append(img);
    button.addEventListener("click", async () => {
      pressed(box, button);
      try { choose(await api(sample.url), `sample ${sample.id}`, alt); } catch (e) { showError(e.message); }
    });
    box.append(button);
  }
}

async function loadPoses() {
  const poses = await api("/v1/poses");
  const box = $("poses");
  for (const pose of poses) {
    const button = document.createElement("button");
    button.type = "button"; button.className = "tile"; button.setAttribute("role", "listitem");
    button.setAttribute("aria-pressed", "false");
    const img = document.createElement("img");
    img.src = pose.url; img.alt = `Target pose ${pose.id + 1} (a stick figure)`;
    button.append(img);
    button.addEventListener("click", () => {
      pressed(box, button); state.poseId = pose.id; state.poseImage = null; $("pose-upload").value = ""; updateButtons();
    });
    box.append(button);
  }
}

function editControls(attributes) {
  const box = $("edit-controls");
  box.querySelectorAll("label").forEach((l) => l.remove());
  for (const [name, values] of Object.entries(attributes)) {
    if (name.includes(".")) continue;
    const label = document.createElement("label");
    label.textContent = name;
    const select = document.createElement("select");
    select.dataset.attribute = name;
    select.append(new Option("keep", ""));
    for (const value of values) select.append(new Option(value.replaceAll("_", " "), value));
    label.append(select);
    box.append(label);
  }
}

function wantedChanges() {
  const changes = {};
  for (const select of $("edit-controls").querySelectorAll("select")) if (select.value) changes[select.dataset.attribute] = select.value;
  return changes;
}

async function readAttributes() {
  if (!state.image) return;
  await busy($("predict"), async () => {
    const result = await api("/v1/attributes", form({ image: state.image, attention: true }));
    state.attributes = result;
    setDomain(result.domain);
    const body = $("attributes").querySelector("tbody");
    body.replaceChildren();
    for (const [name, values] of Object.entries(result.attributes)) {
      const best = values[0];
      const row = body.insertRow();
      row.insertCell().textContent = name;
      row.insertCell().textContent = best.value.replaceAll("_", " ");
      const meter = document.createElement("meter");
      meter.min = 0; meter.max = 1; meter.value = best.probability;
      meter.setAttribute("aria-label", `${name} confidence`);
      const conf = row.insertCell();
      conf.append(meter, ` ${(100 * best.probability).toFixed(0)}%`);
      const show = document.createElement("button");
      show.type = "button"; show.textContent = "show"; show.setAttribute("aria-label", `Show where ${name} lives`);
      show.addEventListener("click", () => {
        $("map").src = result.attention_maps[name];
        $("map").alt = `Activation map of ${name} (${best.value}) over the picture: warm colours mark where the model sees it`;
        $("map-caption").textContent = `where ${name} = ${best.value} lives`;
        $("map-download").href = result.attention_maps[name];
        $("map-download").download = `attention-${name}.png`;
        $("map-figure").hidden = false;
      });
      row.insertCell().append(show);
    }
    $("attributes").hidden = false;
  });
}

async function applyEdit(event) {
  event.preventDefault();
  const changes = wantedChanges();
  if (!Object.keys(changes).length) { showError("Choose at least one change (a value other than keep)."); return; }
  await busy($("edit"), async () => {
    const region = $("region").value || null;
    const result = await api("/v1/edit", form({
      image: state.image, changes, region, region_threshold: region && $("threshold").value ? $("threshold").value : null, response: "json",
    }));
    state.edited = result.image;
    $("edit-before").src = $("current").src;
    $("edit-after").src = result.image; $("edit-after").alt = `The picture edited to ${describe(changes)}`;
    $("edit-mask").src = result.mask_overlay;
    $("edit-download").href = result.image; $("mask-download").href = result.mask;
    $("edit-result").hidden = false;
    const notes = $("edit-notes");
    notes.replaceChildren(...result.notes.map((n) => Object.assign(document.createElement("li"), { textContent: n })));
    setDomain(result.domain);
  });
}

function showResults(title, results) {
  $("search-title").textContent = title;
  const list = $("results");
  list.replaceChildren();
  for (const hit of results) {
    const item = document.createElement("li");
    const img = document.createElement("img");
    img.src = hit.image_url; img.alt = `Result ${hit.rank}: ${describe(hit.attributes)}`;
    const caption = document.createElement("div");
    caption.textContent = `#${hit.rank} (${hit.score.toFixed(3)}) ${describe(hit.attributes)}`;
    const link = Object.assign(document.createElement("a"), { href: hit.image_url, download: `result-${hit.rank}.png`, textContent: "download" });
    item.append(img, caption, link);
    list.append(item);
  }
}

async function search(button, mode) {
  await busy(button, async () => {
    const k = $("k").value;
    const changes = wantedChanges();
    if (mode !== "similar" && !Object.keys(changes).length) throw new Error("Choose a change in the edit controls first.");
    if (mode === "edit") {
      const result = await api("/v1/search/edit", form({ image: state.image, changes, k }));
      showResults(`Items like the picture edited to ${describe(changes)} (the edit is the query)`, result.results);
    } else {
      const result = await api("/v1/search", form({ image: state.image, changes: mode === "change" ? changes : {}, k }));
      showResults(mode === "change" ? `This, but ${describe(changes)} (${result.latency_ms} ms)` : `Similar items (${result.latency_ms} ms)`, result.results);
    }
  });
}

async function repose() {
  await busy($("repose"), async () => {
    const fields = { image: state.image, response: "json" };
    if (state.poseImage) fields.target_image = state.poseImage; else fields.target_pose_id = state.poseId;
    const result = await api("/v1/pose", form(fields));
    $("pose-before").src = $("current").src;
    $("pose-after").src = result.image;
    $("pose-download").href = result.image;
    $("pose-result").hidden = false;
    setDomain(result.domain);
  });
}

function updateButtons() {
  const has = Boolean(state.image);
  const ready = (name) => state.health && state.health.models.includes(name);
  $("predict").disabled = !has || !ready("attrnet");
  $("edit").disabled = !has || !ready("editor");
  const catalog = state.health && state.health.catalog_items;
  $("search-similar").disabled = !has || !catalog;
  $("search-change").disabled = !has || !catalog;
  $("search-edit").disabled = !has || !catalog || !ready("editor");
  $("repose").disabled = !has || !ready("reposer") || (state.poseId === null && !state.poseImage);
}

async function start() {
  $("save-key").addEventListener("click", () => { sessionStorage.setItem("fashionlab-key", $("api-key").value); location.reload(); });
  $("upload").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) { pressed($("samples"), null); choose(file, file.name, `Your photo ${file.name}`); }
  });
  $("pose-upload").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) { state.poseImage = file; state.poseId = null; pressed($("poses"), null); updateButtons(); }
  });
  $("predict").addEventListener("click", readAttributes);
  $("edit-form").addEventListener("submit", applyEdit);
  $("search-similar").addEventListener("click", (e) => search(e.currentTarget, "similar"));
  $("search-change").addEventListener("click", (e) => search(e.currentTarget, "change"));
  $("search-edit").addEventListener("click", (e) => search(e.currentTarget, "edit"));
  $("repose").addEventListener("click", repose);
  try {
    state.health = await api("/v1/health");
    $("status").textContent = `Service ${state.health.version}: ${state.health.models.join(", ") || "no models"}; ` +
      `catalog ${state.health.catalog_items ?? "none"} items.`;
    if (state.health.catalog_items) {
      state.catalog = await api("/v1/catalog");
      $("catalog-info").textContent = `${state.catalog.items} items in the catalog.`;
    }
    editControls(Object.keys(state.health.editable).length ? state.health.editable : (state.catalog?.attributes || {}));
    await Promise.all([loadSamples(), loadPoses()]);
  } catch (e) {
    $("status").textContent = "The service did not answer.";
    showError(e.message);
  }
  updateButtons();
}

document.addEventListener("DOMContentLoaded", start);
