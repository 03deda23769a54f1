// The chat page: one WebSocket to /v1/ws, one answer streaming at a time.
// Protocol: we send {"type":"chat","id",messages,...sampling} and {"type":"cancel","id"};
// the server answers {"type":"token","id","text"}..., then {"type":"done","id","text",
// "finish_reason","usage"} (its text is the last piece) or {"type":"error","id","error"}.
"use strict";

const SETTINGS_KEY = "llava-serve.chat.settings";
// Images larger than this (either side) are scaled down before sending: llava-1.5 sees 336 px.
const MAX_IMAGE_SIDE = 1024;
const MAX_IMAGE_BYTES = 1 << 20;

const $ = (id) => document.getElementById(id);

const ui = {
  conversation: $("conversation"),
  emptyHint: $("empty-hint"),
  samples: $("samples"),
  error: $("error"),
  composer: $("composer"),
  dropZone: $("drop-zone"),
  question: $("question"),
  imageInput: $("image-input"),
  preview: $("preview"),
  previewImg: $("preview-img"),
  previewName: $("preview-name"),
  removeImage: $("remove-image"),
  send: $("send"),
  stop: $("stop"),
  newChat: $("new-chat"),
  model: $("model"),
  connection: $("connection"),
  settings: {
    temperature: $("temperature"),
    topP: $("top-p"),
    maxTokens: $("max-tokens"),
    seed: $("seed"),
    apiKey: $("api-key"),
  },
};

const chat = {
  history: [], // OpenAI messages of the finished turns
  image: null, // {url, name}: the data URI waiting to go with the next question
  socket: null,
  socketKey: null, // the API key the open socket was opened with
  active: null, // the answer streaming now
  nextId: 1,
};

// ---- settings -------------------------------------------------------------------------------

function loadSettings() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}");
  } catch (e) {
    saved = {};
  }
  for (const [name, input] of Object.entries(ui.settings)) {
    if (typeof saved[name] === "string") {
      input.value = saved[name];
    }
    input.addEventListener("input", saveSettings);
  }
  ui.settings.apiKey.addEventListener("change", () => {
    closeSocket();
    showModel();
  });
}

function saveSettings() {
  const values = {};
  for (const [name, input] of Object.entries(ui.settings)) {
    values[name] = input.value;
  }
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(values));
  } catch (e) {
    // Private windows may refuse storage; the settings still apply to this page.
  }
}

function numberSetting(input, parse) {
  const raw = input.value.trim();
  if (raw === "") {
    return undefined;
  }
  const value = parse(raw);
  return Number.isFinite(value) ? value : undefined;
}

function samplingParams() {
  const params = {};
  const temperature = numberSetting(ui.settings.temperature, parseFloat);
  const topP = numberSetting(ui.settings.topP, parseFloat);
  const maxTokens = numberSetting(ui.settings.maxTokens, (s) => parseInt(s, 10));
  const seed = numberSetting(ui.settings.seed, (s) => parseInt(s, 10));
  if (temperature !== undefined) params.temperature = temperature;
  if (topP !== undefined) params.top_p = topP;
  if (maxTokens !== undefined) params.max_tokens = maxTokens;
  if (seed !== undefined) params.seed = seed;
  return params;
}

function apiKey() {
  return ui.settings.apiKey.value.trim();
}

// ---- the socket -----------------------------------------------------------------------------

function socketUrl(key) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = key ? "?api_key=" + encodeURIComponent(key) : "";
  return scheme + "//" + location.host + "/v1/ws" + query;
}

function openSocket() {
  const key = apiKey();
  if (chat.socket && chat.socketKey === key && chat.socket.readyState <= WebSocket.OPEN) {
    return chat.socket.readyState === WebSocket.OPEN
      ? Promise.resolve(chat.socket)
      : new Promise((resolve, reject) => {
          chat.socket.addEventListener("open", () => resolve(chat.socket), { once: true });
          chat.socket.addEventListener("close", () => reject(new Error("closed")), { once: true });
        });
  }
  closeSocket();
  const socket = new WebSocket(socketUrl(key));
  chat.socket = socket;
  chat.socketKey = key;
  setConnection("Connecting…");
  socket.addEventListener("message", (e) => onFrame(e.data));
  socket.addEventListener("close", (e) => onSocketClosed(socket, e.code));
  return new Promise((resolve, reject) => {
    socket.addEventListener(
      "open",
      () => {
        setConnection("Connected");
        resolve(socket);
      },
      { once: true }
    );
    socket.addEventListener("close", () => reject(new Error("closed")), { once: true });
  });
}

function closeSocket() {
  if (chat.socket) {
    const socket = chat.socket;
    chat.socket = null;
    socket.close();
  }
}

const MESSAGE_TOO_BIG = 1009;

function onSocketClosed(socket, code) {
  if (chat.socket === socket) {
    chat.socket = null;
  }
  setConnection("Not connected");
  if (chat.active && chat.active.socket === socket) {
    failAnswer(
      code === MESSAGE_TOO_BIG
        ? "The request is larger than the server accepts (server.max-body-bytes):" +
            " use a smaller image."
        : "The connection to the server closed before the answer finished."
    );
  }
}

function setConnection(text) {
  ui.connection.textContent = text;
}

/** The browser hides why an upgrade failed; the same key on a plain request tells. */
async function explainSocketFailure() {
  try {
    const response = await fetch("/v1/models", { headers: authHeaders() });
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      const message = body && body.error && body.error.message;
      return (message || "HTTP " + response.status) + settingsHint(response.status);
    }
  } catch (e) {
    return "The server cannot be reached.";
  }
  return "Could not open the WebSocket to the server.";
}

function settingsHint(status) {
  return status === 401 ? " Set the API key in Settings." : "";
}

function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: "Bearer " + key } : {};
}

async function showModel() {
  try {
    const response = await fetch("/v1/models", { headers: authHeaders() });
    if (response.ok) {
      const body = await response.json();
      const ids = (body.data || []).map((m) => m.id);
      ui.model.textContent = ids.join(", ");
      return;
    }
  } catch (e) {
    // The model name is decoration; sending will report a real problem.
  }
  ui.model.textContent = "";
}

// ---- frames from the server -----------------------------------------------------------------

function onFrame(data) {
  let frame;
  try {
    frame = JSON.parse(data);
  } catch (e) {
    return;
  }
  const answer = chat.active;
  if (frame.type === "error" && (!answer || (frame.id && frame.id !== answer.id))) {
    if (!frame.id) {
      showError(errorText(frame.error));
    }
    return; // an error about a request that is over (a late cancel, say)
  }
  if (!answer || frame.id !== answer.id) {
    return;
  }
  if (frame.type === "token") {
    if (answer.firstAt === null) {
      answer.firstAt = performance.now();
    }
    answer.tokens++;
    appendText(answer, frame.text || "");
  } else if (frame.type === "done") {
    appendText(answer, frame.text || "");
    finishAnswer(answer, frame.finish_reason, frame.usage);
  } else if (frame.type === "error") {
    failAnswer(errorText(frame.error));
  }
}

function errorText(error) {
  if (!error) {
    return "The server reported an error.";
  }
  return (error.message || "The server reported an error.") + settingsHint(error.status);
}

// ---- sending --------------------------------------------------------------------------------

async function send() {
  if (chat.active) {
    return;
  }
  const text = ui.question.value.trim();
  if (!text && !chat.image) {
    ui.question.focus();
    return;
  }
  hideError();
  const content = [];
  if (chat.image) {
    content.push({ type: "image_url", image_url: { url: chat.image.url } });
  }
  content.push({ type: "text", text: text });
  const userMessage = { role: "user", content: content };
  const userTurn = renderUserTurn(text, chat.image);
  const answer = {
    id: "chat-" + chat.nextId++,
    question: text,
    image: chat.image,
    userMessage: userMessage,
    userTurn: userTurn,
    text: "",
    tokens: 0,
    sentAt: performance.now(),
    firstAt: null,
    socket: null,
    view: renderAssistantTurn(),
  };
  chat.active = answer;
  ui.question.value = "";
  clearImage();
  setBusy(true);

  let socket;
  try {
    socket = await openSocket();
  } catch (e) {
    failAnswer(await explainSocketFailure());
    return;
  }
  if (chat.active !== answer) {
    return; // stopped while connecting
  }
  answer.socket = socket;
  answer.sentAt = performance.now();
  const frame = Object.assign(
    { type: "chat", id: answer.id, messages: chat.history.concat([userMessage]) },
    samplingParams()
  );
  socket.send(JSON.stringify(frame));
}

function stop() {
  const answer = chat.active;
  if (!answer) {
    return;
  }
  ui.stop.disabled = true;
  if (answer.socket && answer.socket.readyState === WebSocket.OPEN) {
    // The server answers with a done frame (finish_reason "abort") that ends the turn.
    answer.socket.send(JSON.stringify({ type: "cancel", id: answer.id }));
  } else {
    finishAnswer(answer, "abort", null);
  }
}

function finishAnswer(answer, reason, usage) {
  chat.active = null;
  renderText(answer); // the whole answer is on the page when its stats appear
  const endAt = performance.now();
  answer.view.turn.setAttribute("aria-busy", "false");
  answer.view.stats.textContent = statsText(answer, reason, usage, endAt);
  scrollToEnd();
  if (answer.socket) {
    // A stopped answer stays in the conversation as far as it got: the model sees what we saw.
    chat.history.push(answer.userMessage, { role: "assistant", content: answer.text });
  }
  setBusy(false);
  ui.question.focus();
}

/** Ends the active answer with an error; the turn stays out of the conversation's history. */
function failAnswer(message) {
  const answer = chat.active;
  chat.active = null;
  if (answer) {
    renderText(answer);
    answer.view.turn.setAttribute("aria-busy", "false");
    answer.view.turn.classList.add("failed");
    answer.userTurn.classList.add("failed");
    const error = document.createElement("div");
    error.className = "turn-error";
    error.textContent = message;
    answer.view.turn.appendChild(error);
    if (!ui.question.value && !chat.image) {
      // Give the question and image back, to fix the settings and send again.
      ui.question.value = answer.question;
      if (answer.image) {
        setImage(answer.image.url, answer.image.name);
      }
    }
  }
  showError(message);
  setBusy(false);
}

function statsText(answer, reason, usage, endAt) {
  const tokens = usage && usage.completion_tokens ? usage.completion_tokens : answer.tokens;
  const parts = [tokens + (tokens === 1 ? " token" : " tokens")];
  if (answer.firstAt !== null) {
    parts.push("TTFT " + Math.round(answer.firstAt - answer.sentAt) + " ms");
    const seconds = (endAt - answer.firstAt) / 1000;
    if (answer.tokens > 1 && seconds > 0) {
      // Decode rate: the tokens after the first, over the time after the first.
      parts.push(((answer.tokens - 1) / seconds).toFixed(1) + " tokens/s");
    }
  }
  parts.push(reason === "abort" ? "stopped" : "finish: " + reason);
  return parts.join(" · ");
}

function setBusy(busy) {
  ui.send.disabled = busy;
  ui.stop.disabled = !busy;
}

// ---- rendering ------------------------------------------------------------------------------

function renderUserTurn(text, image) {
  const turn = document.createElement("article");
  turn.className = "turn user";
  turn.appendChild(roleLabel("You"));
  if (image) {
    const img = document.createElement("img");
    img.className = "turn-image";
    img.src = image.url;
    img.alt = "Image sent: " + image.name;
    turn.appendChild(img);
  }
  const body = document.createElement("div");
  body.className = "turn-text";
  body.textContent = text;
  turn.appendChild(body);
  addTurn(turn);
  return turn;
}

function renderAssistantTurn() {
  const turn = document.createElement("article");
  turn.className = "turn assistant";
  turn.setAttribute("aria-busy", "true");
  turn.appendChild(roleLabel("Assistant"));
  const text = document.createElement("div");
  text.className = "turn-text answer-text";
  turn.appendChild(text);
  const stats = document.createElement("div");
  stats.className = "stats";
  turn.appendChild(stats);
  addTurn(turn);
  return { turn, text, stats };
}

function roleLabel(name) {
  const role = document.createElement("div");
  role.className = "role";
  role.textContent = name;
  return role;
}

function addTurn(turn) {
  ui.emptyHint.hidden = true;
  ui.samples.hidden = true;
  ui.conversation.appendChild(turn);
  scrollToEnd();
}

/**
 * Adds a piece of the answer. The page shows it at the next animation frame, appending only what
 * is new: re-rendering the whole answer and measuring the page for every token makes a long answer
 * quadratic, until the page can no longer keep up (nor react to Stop).
 */
function appendText(answer, piece) {
  if (!piece) {
    return;
  }
  answer.text += piece;
  if (!answer.renderPending) {
    answer.renderPending = true;
    requestAnimationFrame(() => renderText(answer));
  }
}

function renderText(answer) {
  answer.renderPending = false;
  const fresh = answer.text.slice(answer.rendered || 0);
  if (fresh) {
    answer.view.text.append(fresh);
    answer.rendered = answer.text.length;
    scrollToEnd();
  }
}

function scrollToEnd() {
  const c = ui.conversation;
  c.scrollTop = c.scrollHeight;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function hideError() {
  ui.error.hidden = true;
  ui.error.textContent = "";
}

function newConversation() {
  if (chat.active) {
    stop();
  }
  chat.history = [];
  for (const turn of Array.from(ui.conversation.querySelectorAll(".turn"))) {
    turn.remove();
  }
  ui.emptyHint.hidden = false;
  ui.samples.hidden = false;
  hideError();
  ui.question.focus();
}

// ---- images ---------------------------------------------------------------------------------

async function takeImage(file) {
  if (!file) {
    return;
  }
  if (!file.type.startsWith("image/")) {
    showError(file.name + " is not an image.");
    return;
  }
  hideError();
  try {
    setImage(await imageDataUri(file), file.name);
  } catch (e) {
    showError("Could not read " + file.name + ": " + e.message);
  }
}

/** A data URI of the file, scaled down in a canvas when it is large or not PNG/JPEG. */
async function imageDataUri(file) {
  const bitmap = await createImageBitmap(file);
  try {
    const largest = Math.max(bitmap.width, bitmap.height);
    const plain = file.type === "image/png" || file.type === "image/jpeg";
    if (plain && largest <= MAX_IMAGE_SIDE && file.size <= MAX_IMAGE_BYTES) {
      return await readAsDataUri(file);
    }
    const scale = Math.min(1, MAX_IMAGE_SIDE / largest);
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    const g = canvas.getContext("2d");
    g.fillStyle = "#ffffff"; // JPEG has no alpha: transparent pixels become white, not black
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL("image/jpeg", 0.9);
  } finally {
    bitmap.close();
  }
}

function readAsDataUri(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** A sample image from the page's own folder, with a question it can answer. */
async function takeSample(button) {
  hideError();
  try {
    const response = await fetch(button.dataset.src);
    if (!response.ok) {
      throw new Error("HTTP " + response.status);
    }
    const name = button.dataset.src.split("/").pop();
    setImage(await readAsDataUri(await response.blob()), name);
    ui.question.value = button.dataset.question || "";
    ui.question.focus();
  } catch (e) {
    showError("Could not load the sample: " + e.message);
  }
}

function setImage(url, name) {
  chat.image = { url, name };
  ui.previewImg.src = url;
  ui.previewName.textContent = name;
  ui.preview.hidden = false;
}

function clearImage() {
  chat.image = null;
  ui.preview.hidden = true;
  ui.previewImg.removeAttribute("src");
  ui.previewName.textContent = "";
  ui.imageInput.value = "";
}

// ---- wiring ---------------------------------------------------------------------------------

function wire() {
  ui.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    send();
  });
  ui.question.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === "Escape" && chat.active) {
      stop();
    }
  });
  ui.stop.addEventListener("click", stop);
  ui.newChat.addEventListener("click", newConversation);
  ui.imageInput.addEventListener("change", () => takeImage(ui.imageInput.files[0]));
  for (const button of ui.samples.querySelectorAll("button.sample")) {
    button.addEventListener("click", () => takeSample(button));
  }
  ui.removeImage.addEventListener("click", () => {
    clearImage();
    ui.question.focus();
  });

  ui.dropZone.addEventListener("dragover", (e) => {
    e.preventDefault();
    ui.dropZone.classList.add("dragging");
  });
  ui.dropZone.addEventListener("dragleave", () => ui.dropZone.classList.remove("dragging"));
  ui.dropZone.addEventListener("drop", (e) => {
    e.preventDefault();
    ui.dropZone.classList.remove("dragging");
    takeImage(e.dataTransfer.files[0]);
  });
  // A file dropped beside the drop zone must not navigate away from the conversation.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  // A pasted image counts as chosen.
  ui.question.addEventListener("paste", (e) => {
    const file = Array.from(e.clipboardData.files).find((f) => f.type.startsWith("image/"));
    if (file) {
      e.preventDefault();
      takeImage(file);
    }
  });
}

loadSettings();
wire();
showModel();
ui.question.focus();
