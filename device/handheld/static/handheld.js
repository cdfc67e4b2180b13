/* The handheld's screen: tabs, the incident form, and a poll of /api/state. Plain script, no libraries. */
"use strict";

const POLL_MS = 1000;
const photos = [];  // {blob, url}
let category = null;
let scanVersion = -1;
let sending = false;

const $ = (id) => document.getElementById(id);
const maxPhotos = Number(document.body.dataset.maxPhotos);
const maxPhotoBytes = Number(document.body.dataset.maxPhotoBytes);

function showPanel(id) {
  document.querySelectorAll(".panel").forEach((p) => p.classList.toggle("active", p.id === id));
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.dataset.panel === id));
}

function say(text, ok) {
  const box = $("form-message");
  box.textContent = text;
  box.className = "message " + (ok ? "ok" : "bad");
}

function refreshSubmit() {
  const button = $("submit");
  button.disabled = category === null || sending;
  button.textContent = sending ? "Saving …" : category === null ? "Choose a category" : "Save incident";
}

function renderThumbs() {
  const box = $("thumbs");
  box.replaceChildren();
  photos.forEach((photo, index) => {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.src = photo.url;
    img.alt = "photo " + (index + 1);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", "remove photo " + (index + 1));
    remove.addEventListener("click", () => {
      URL.revokeObjectURL(photo.url);
      photos.splice(index, 1);
      renderThumbs();
    });
    figure.append(img, remove);
    box.append(figure);
  });
}

function addPhoto(blob) {
  if (photos.length >= maxPhotos) { say("At most " + maxPhotos + " photos", false); return; }
  if (blob.size > maxPhotoBytes) { say("That photo is too large", false); return; }
  photos.push({blob, url: URL.createObjectURL(blob)});
  renderThumbs();
}

async function takePhoto() {
  try {
    const response = await fetch("/api/photo", {method: "POST"});
    if (!response.ok) { say((await response.json()).message, false); return; }
    addPhoto(await response.blob());
    say("Photo taken", true);
  } catch (error) {
    say("The terminal did not answer: " + error, false);
  }
}

async function submitIncident(event) {
  event.preventDefault();
  if (category === null || sending) return;
  sending = true;
  refreshSubmit();
  const form = new FormData();
  form.append("category", category);
  form.append("note", $("note").value);
  photos.forEach((photo, index) => form.append("photos", photo.blob, "photo" + index + ".jpg"));
  try {
    const response = await fetch("/api/incidents", {method: "POST", body: form});
    const body = await response.json();
    if (response.status === 201) {
      const where = body.position === null ? "no GPS position" :
        body.grid_cell ? "grid cell " + body.grid_cell : "outside the grid cells";
      say("Saved #" + body.seq + " · " + body.label + " · " + where + " · waiting to sync", true);
      photos.forEach((photo) => URL.revokeObjectURL(photo.url));
      photos.length = 0;
      renderThumbs();
      $("note").value = "";
      selectCategory(null);
      poll();
    } else {
      say(body.message || "Not saved", false);
    }
  } catch (error) {
    say("Not saved: the terminal did not answer (" + error + ")", false);
  } finally {
    sending = false;
    refreshSubmit();
  }
}

function selectCategory(code) {
  category = code;
  document.querySelectorAll(".category").forEach((b) =>
    b.setAttribute("aria-pressed", String(b.dataset.category === code)));
  refreshSubmit();
}

function renderScan(scan) {
  if (scan.version === scanVersion) return;
  scanVersion = scan.version;
  const box = $("scan-result");
  box.className = "scan " + scan.colour;
  box.dataset.version = scan.version;
  $("scan-headline").textContent = scan.headline;
  $("scan-reason").textContent = scan.reason_text;
  $("scan-note").textContent = scan.stored ? "" : "Not stored: see the status";
  if (scan.version > 0) showPanel("panel-scan");
}

function renderState(state) {
  renderScan(state.scan);
  const gps = state.gps;
  const chip = $("gps-status");
  chip.className = "chip " + (gps.state === "fix" ? "ok" : gps.state === "off" ? "" : "warn");
  chip.textContent = gps.state === "fix" ? "GPS fix" : "GPS: " + gps.state.replace("_", " ");
  $("position").textContent = gps.fix
    ? "Position: " + gps.fix.lat.toFixed(5) + ", " + gps.fix.lon.toFixed(5) +
      (gps.fix.accuracy_m === null ? "" : " (±" + Math.round(gps.fix.accuracy_m) + " m)")
    : "Position: none (" + (gps.reason || gps.state) + "): the incident is saved without one";
  const backlog = state.backlog;
  $("waiting-total").textContent = backlog.total;
  $("tab-waiting").textContent = backlog.streams.incidents;
  $("count-incidents").textContent = backlog.streams.incidents;
  $("count-events").textContent = backlog.streams.events;
  $("count-images").textContent = backlog.images.count;
  const list = $("waiting-list");
  list.replaceChildren(...backlog.incidents.map((item) => {
    const li = document.createElement("li");
    const when = new Date(item.at * 1000).toLocaleTimeString();
    li.textContent = "#" + item.seq + " · " + item.category.replace(/_/g, " ") + " · " + when + " · " +
      (item.grid_cell || (item.has_position ? "outside grid" : "no position")) +
      (item.photos ? " · " + item.photos + " photo(s)" : "");
    return li;
  }));
  const problems = $("problems");
  problems.hidden = state.problems.length === 0;
  problems.textContent = state.problems.join(" · ");
}

async function poll() {
  try {
    const response = await fetch("/api/state", {cache: "no-store"});
    if (response.ok) renderState(await response.json());
  } catch (error) {
    $("problems").hidden = false;
    $("problems").textContent = "terminal not answering";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".tab").forEach((t) => t.addEventListener("click", () => showPanel(t.dataset.panel)));
  document.querySelectorAll(".category").forEach((b) =>
    b.addEventListener("click", () => selectCategory(b.dataset.category)));
  $("take-photo").addEventListener("click", takePhoto);
  $("photo-file").addEventListener("change", (event) => {
    Array.from(event.target.files).forEach(addPhoto);
    event.target.value = "";
  });
  $("incident-form").addEventListener("submit", submitIncident);
  refreshSubmit();
  poll();
  setInterval(poll, POLL_MS);
});
