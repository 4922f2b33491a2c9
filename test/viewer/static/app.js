// The local viewer: uploads with presigned PUTs, live outcomes from
// /api/events, the destination's outputs from /api/history, and a compare
// view. A record (see viewer.Record) has a list of outputs; every view of it
// goes through that list, so several renditions per upload need no new code.

const $ = (id) => document.getElementById(id);
const records = new Map(); // source key -> {record, row, live}
const uploads = new Map(); // source key -> upload list item
let settings = null;
let compare = { key: null, output: 0, chosen: false };

// ---- formatting ------------------------------------------------------------

// Powers of 1000, as `make local` and S3 consoles print sizes.
function bytes(n) {
  if (n < 1000) return `${n} B`;
  const units = "kMGTPE";
  let i = -1;
  do { n /= 1000; i++; } while (n >= 1000 && i < units.length - 1);
  return `${n.toFixed(1)} ${units[i]}B`;
}

const percent = (part, whole) => (whole > 0 ? `${Math.round((100 * part) / whole)} %` : "–");

// Dimensions as a browser shows the image: EXIF orientations 5–8 turn it.
function shownSize(o) {
  if (!o || !o.width) return null;
  return o.orientation >= 5 ? { w: o.height, h: o.width } : { w: o.width, h: o.height };
}

const sizeText = (s) => (s ? `${s.w}×${s.h}` : "–");

function formatOf(o) {
  if (!o) return "–";
  if (o.format) return o.format.toUpperCase(); // "jpeg": function/outcome's names
  return o.contentType ? o.contentType.replace(/^image\//, "").toUpperCase() : "?";
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

const objectURL = (side, key) => `/object/${side}?key=${encodeURIComponent(key)}`;

// ---- settings and the outcome stream ----------------------------------------

async function loadSettings() {
  const r = await fetch("/api/config");
  settings = await r.json();
  $("where").textContent =
    `Uploads go to s3://${settings.sourceBucket}/${settings.sourcePrefix}; ` +
    `outputs appear in s3://${settings.destinationBucket}/${settings.destinationPrefix}.`;
  $("suffixes").textContent = `The function sees keys ending in ${settings.suffixes.join(" ")}.`;
}

function connect() {
  const stream = new EventSource("/api/events");
  stream.onopen = () => { $("connection").textContent = "Live: outcomes appear as the function reports them."; };
  stream.onerror = () => { $("connection").textContent = "The outcome stream dropped; reconnecting…"; };
  stream.addEventListener("record", (e) => showRecord(JSON.parse(e.data), true));
}

// ---- the outcomes table ------------------------------------------------------

// showRecord adds or replaces the row of record.key. A live record goes to the
// top and replaces what was there; a history record only fills in outputs a
// row lacks (the same source's outputs may come on two history pages).
function showRecord(record, live) {
  const known = records.get(record.key);
  if (known && !live) {
    const have = new Set(known.record.outputs.map((o) => o.key));
    for (const o of record.outputs) if (!have.has(o.key)) known.record.outputs.push(o);
    record = known.record;
    live = known.live;
  }
  const row = renderRow(record);
  const body = $("records").tBodies[0];
  if (live) {
    known?.row.remove();
    body.prepend(row);
  } else if (known) known.row.replaceWith(row);
  else body.append(row);
  records.set(record.key, { record, row, live });
  $("empty").hidden = true;
  noteUploadDone(record);
  if (compare.key === record.key) openCompare(record.key, { keepOutput: true });
  else if (live && uploads.has(record.key) && !compare.chosen && record.outputs.length > 0) {
    openCompare(record.key, { byUser: false });
  }
}

function renderRow(r) {
  const first = r.outputs[0];
  const cell = (label, ...content) => el("td", { "data-label": label }, ...content);
  const name = r.outputs.length > 0
    ? el("button", { type: "button", class: "link", "aria-label": `Compare ${r.key}`, onclick: () => openCompare(r.key, { byUser: true }) }, r.key)
    : el("span", {}, r.key);
  const decision = el("span", { class: `decision ${r.decision}` }, r.decision);
  const reason = r.reason || r.problem ? el("div", { class: "reason" }, [r.reason, r.problem].filter(Boolean).join(" · ")) : null;
  const dims = first ? sizeText(shownSize(first)) : "–";
  const src = shownSize(r.source);
  const out = shownSize(first);
  const resized = src && out && (src.w !== out.w || src.h !== out.h) ? el("div", { class: "reason" }, `from ${sizeText(src)}`) : null;
  const when = new Date(r.time).toLocaleTimeString();
  const outputs = r.outputs.map((o) => formatOf(o)).join(", ") || "none";
  return el("tr", { "data-key": r.key, "data-decision": r.decision },
    cell("Image", name),
    cell("Decision", decision, reason),
    cell("Bytes in → out", r.bytesIn ? `${bytes(r.bytesIn)} → ${first ? bytes(r.bytesOut) : "–"}` : "–"),
    cell("Ratio", r.bytesOut ? percent(r.bytesOut, r.bytesIn) : "–"),
    cell("Dimensions", dims, resized),
    cell("Time", r.ms ? `${r.ms} ms` : "", el("div", { class: "reason" }, when)),
    cell("Outputs", outputs));
}

let historyNext = "";

async function loadHistory() {
  const more = $("more");
  more.disabled = true;
  $("history-status").textContent = "Listing the destination…";
  try {
    const r = await fetch(`/api/history?next=${encodeURIComponent(historyNext)}`);
    const page = await r.json();
    if (!r.ok) throw new Error(page.error || r.statusText);
    for (const record of page.records) showRecord(record, false);
    historyNext = page.next || "";
    more.hidden = !historyNext;
    const skipped = page.skipped?.length ? ` ${page.skipped.length} object(s) without provenance skipped.` : "";
    $("history-status").textContent = historyNext ? `More outputs are in the destination.${skipped}` : `All outputs of the destination are listed.${skipped}`;
  } catch (err) {
    $("history-status").textContent = `Could not list the destination: ${err.message}`;
  } finally {
    more.disabled = false;
  }
}

// ---- uploads -----------------------------------------------------------------

const parallelUploads = 3;

async function uploadFiles(files) {
  const queue = [...files];
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) await uploadFile(f);
  };
  await Promise.all(Array.from({ length: parallelUploads }, worker));
}

async function uploadFile(file) {
  const progress = el("progress", { max: 1, value: 0 });
  const status = el("span", { class: "status" }, "asking for an upload URL…");
  const item = el("li", {}, el("span", { class: "name" }, file.name), progress, status);
  progress.setAttribute("aria-label", `Upload of ${file.name}`);
  $("uploads").prepend(item);
  let target;
  try {
    const r = await fetch("/api/uploads", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: file.name }) });
    target = await r.json();
    if (!r.ok) throw new Error(target.error || r.statusText);
  } catch (err) {
    status.textContent = `not uploaded: ${err.message}`;
    item.classList.add("failed");
    progress.remove();
    return;
  }
  item.dataset.key = target.key;
  uploads.set(target.key, { item, status, progress });
  status.textContent = "uploading…";
  await new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", target.url);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) {
        progress.value = e.loaded / e.total;
        status.textContent = `uploading… ${percent(e.loaded, e.total)}`;
      }
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        progress.value = 1;
        status.textContent = `uploaded ${bytes(file.size)}; waiting for the function…`;
      } else {
        const message = xhr.responseXML?.querySelector("Message")?.textContent || xhr.statusText;
        status.textContent = `upload failed: S3 answered ${xhr.status} ${message}`;
        item.classList.add("failed");
      }
      resolve();
    };
    xhr.onerror = () => {
      status.textContent = "upload failed: no answer from S3 (is the local stack still running?)";
      item.classList.add("failed");
      resolve();
    };
    xhr.send(file);
  });
}

function noteUploadDone(record) {
  const u = uploads.get(record.key);
  if (!u) return;
  u.progress.value = 1;
  u.status.textContent = `${record.decision}${record.reason ? `: ${record.reason}` : ""}`;
  u.item.dataset.decision = record.decision;
}

function setUpDrop() {
  const zone = $("drop");
  $("files").addEventListener("change", (e) => {
    uploadFiles(e.target.files);
    e.target.value = "";
  });
  // Dropping anywhere uploads; without this the browser would open the file.
  document.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  document.addEventListener("dragleave", (e) => {
    if (!e.relatedTarget) zone.classList.remove("over");
  });
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer?.files.length) uploadFiles(e.dataTransfer.files);
  });
}

// ---- compare -------------------------------------------------------------------

const original = $("img-original");
const output = $("img-output");

function openCompare(key, { byUser = false, keepOutput = false } = {}) {
  const known = records.get(key);
  if (!known || known.record.outputs.length === 0) return;
  const r = known.record;
  if (byUser) compare.chosen = true;
  if (compare.key !== key || !keepOutput) compare.output = 0;
  compare.output = Math.min(compare.output, r.outputs.length - 1);
  compare.key = key;
  $("compare").hidden = false;
  $("compare-key").textContent = r.key;

  const select = $("output");
  select.replaceChildren(...r.outputs.map((o, i) => el("option", { value: i, selected: i === compare.output },
    [formatOf(o), sizeText(shownSize(o)), bytes(o.bytes), percent(o.bytes, r.bytesIn),
      typeof o.quality === "number" ? `quality ${o.quality.toFixed(1)}` : null].filter(Boolean).join(" · "))));
  showImages(r);
  if (byUser) $("compare-heading").focus();
}

function showImages(r) {
  const o = r.outputs[compare.output];
  if (r.source) {
    setImage(original, objectURL("source", r.source.key), `Original: ${r.source.key}, ${formatOf(r.source)} ${sizeText(shownSize(r.source))}, ${bytes(r.source.bytes)}`);
  } else {
    setImage(original, "", "");
    notes.set(original, "The source object is gone: only the output can be shown.");
  }
  setImage(output, objectURL("destination", o.key), `Output: ${o.key}, ${formatOf(o)} ${sizeText(shownSize(o))}, ${bytes(o.bytes)}`);
  $("stages").querySelector(".slider-only.right").textContent = `Output ${formatOf(o)}`;
  showNotes();
  renderFacts(r, o);
  layout();
}

// What the compare view says about each image it could not show as stored.
const notes = new Map();
const showNotes = () => { $("compare-note").textContent = [...notes.values()].filter(Boolean).join(" "); };

function setImage(img, src, alt) {
  img.alt = alt;
  if (src !== "" && img.dataset.src === src) return; // the same object: keep what is shown
  img.dataset.src = src;
  img.classList.remove("failed");
  notes.delete(img);
  if (src === "") img.removeAttribute("src");
  else img.src = src;
}

// Dimensions the viewer could not read from the header (HEIC, a TIFF whose
// directory comes after its pixels) are those of the loaded image; previews
// are rendered upright, so no orientation applies.
function learnSize(img) {
  const known = records.get(compare.key);
  const o = known && (img === original ? known.record.source : known.record.outputs[compare.output]);
  if (!o || o.width || !img.naturalWidth) return;
  Object.assign(o, { width: img.naturalWidth, height: img.naturalHeight, orientation: 0 });
  renderFacts(known.record, known.record.outputs[compare.output]);
  const row = renderRow(known.record);
  known.row.replaceWith(row);
  known.row = row;
}

// A browser shows neither TIFF nor HEIC: the viewer renders such an image as
// a PNG with ImageMagick, and the page says so. If that fails too, the image
// is hidden rather than shown broken.
function imageFailed(img) {
  if (!img.getAttribute("src")) return;
  const r = records.get(compare.key)?.record;
  const which = img === original ? "original" : "output";
  const format = img === original ? formatOf(r?.source) : formatOf(r?.outputs[compare.output]);
  if (img.src.endsWith("&as=png")) {
    img.classList.add("failed");
    notes.set(img, `This browser cannot show the ${which} (${format}) and ImageMagick could not render it.`);
  } else {
    notes.set(img, `The ${which} (${format}) is shown as a PNG rendered by ImageMagick: browsers cannot show ${format}.`);
    img.src = `${img.dataset.src}&as=png`;
  }
  showNotes();
}

function renderFacts(r, o) {
  const s = r.source;
  const turned = (x) => (x && x.orientation >= 5 ? ` (EXIF orientation ${x.orientation}: shown turned)` : "");
  const rows = [
    ["Key", s ? s.key : "gone", o.key],
    ["Format", formatOf(s), formatOf(o)],
    ["Dimensions", s ? sizeText(shownSize(s)) + turned(s) : "–", sizeText(shownSize(o))],
    ["Bytes", s ? bytes(s.bytes) : bytes(r.bytesIn), `${bytes(o.bytes)} (${percent(o.bytes, s ? s.bytes : r.bytesIn)})`],
    ["Decision", "", [o.decision || r.decision, r.reason].filter(Boolean).join(": ")],
  ];
  if (typeof o.quality === "number") rows.push(["Quality", "", o.quality.toFixed(1)]);
  $("facts").tBodies[0].replaceChildren(...rows.map(([label, a, b]) =>
    el("tr", {}, el("th", { scope: "row" }, label), el("td", {}, a), el("td", {}, b))));
}

// The frame takes the original's shown size (or the output's, when the
// original cannot be shown) times the zoom; both images fill it, so a smaller
// rendition is enlarged into register with its original.
function baseSize() {
  for (const img of [original, output]) {
    if (img.getAttribute("src") && img.complete && img.naturalWidth > 0 && !img.classList.contains("failed")) return { w: img.naturalWidth, h: img.naturalHeight };
  }
  const r = records.get(compare.key)?.record;
  return shownSize(r?.source) || shownSize(r?.outputs[compare.output]) || { w: 640, h: 480 };
}

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function layout() {
  if (compare.key === null) return;
  const side = mode() === "side";
  const stages = $("stages");
  stages.classList.toggle("side", side);
  stages.classList.toggle("slider", !side);
  const target = side ? $("frame-b") : $("frame-a");
  if (output.parentElement !== target) target.prepend(output);
  if (!side) $("frame-a").insertBefore(output, $("divider-line"));

  const stageA = $("stage-a");
  const centre = centreOf(stageA);
  const base = baseSize();
  const zoom = $("zoom").value;
  let scale = Number(zoom);
  if (zoom === "fit") {
    const width = stageA.clientWidth || base.w;
    const height = Math.max(240, window.innerHeight * 0.7);
    scale = Math.min(1, width / base.w, height / base.h);
  }
  for (const frame of [$("frame-a"), $("frame-b")]) {
    frame.style.width = `${Math.round(base.w * scale)}px`;
    frame.style.height = `${Math.round(base.h * scale)}px`;
  }
  restoreCentre(stageA, centre);
  syncScroll(stageA, $("stage-b"));
  moveDivider();
}

// Zooming keeps the point in the middle of the view where it was.
function centreOf(stage) {
  const w = stage.scrollWidth || 1;
  const h = stage.scrollHeight || 1;
  return { x: (stage.scrollLeft + stage.clientWidth / 2) / w, y: (stage.scrollTop + stage.clientHeight / 2) / h };
}

function restoreCentre(stage, c) {
  stage.scrollLeft = c.x * stage.scrollWidth - stage.clientWidth / 2;
  stage.scrollTop = c.y * stage.scrollHeight - stage.clientHeight / 2;
}

// Copying only what differs ends the echo: the other side's scroll event
// finds both already in the same place.
function syncScroll(from, to) {
  if (to.scrollLeft !== from.scrollLeft) to.scrollLeft = from.scrollLeft;
  if (to.scrollTop !== from.scrollTop) to.scrollTop = from.scrollTop;
}

// The output shows right of the divider; the original left of it.
function moveDivider() {
  const at = Number($("divider").value);
  const slider = mode() === "slider";
  output.style.clipPath = slider ? `inset(0 0 0 ${at}%)` : "";
  $("divider-line").style.left = `${at}%`;
  $("divider").setAttribute("aria-valuetext", `${at} % original, ${100 - at} % output`);
}

function setUpCompare() {
  for (const img of [original, output]) {
    img.addEventListener("load", () => {
      learnSize(img);
      layout();
    });
    img.addEventListener("error", () => imageFailed(img));
  }
  $("output").addEventListener("change", (e) => {
    compare.output = Number(e.target.value);
    compare.chosen = true;
    showImages(records.get(compare.key).record);
  });
  $("zoom").addEventListener("change", layout);
  for (const radio of document.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", layout);
  $("divider").addEventListener("input", moveDivider);
  $("stage-a").addEventListener("scroll", () => syncScroll($("stage-a"), $("stage-b")));
  $("stage-b").addEventListener("scroll", () => syncScroll($("stage-b"), $("stage-a")));
  // Dragging over the image moves the divider, as the range input does.
  const frame = $("frame-a");
  const drag = (e) => {
    if (mode() !== "slider" || (e.type === "pointermove" && e.buttons !== 1)) return;
    const box = frame.getBoundingClientRect();
    $("divider").value = Math.round((100 * (e.clientX - box.left)) / box.width);
    moveDivider();
  };
  frame.addEventListener("pointerdown", drag);
  frame.addEventListener("pointermove", drag);
  window.addEventListener("resize", layout);
}

// ---- start -----------------------------------------------------------------------

setUpDrop();
setUpCompare();
$("more").addEventListener("click", loadHistory);
loadSettings().then(() => {
  connect();
  return loadHistory();
}).catch((err) => {
  $("where").textContent = `The viewer does not answer: ${err.message}`;
});
