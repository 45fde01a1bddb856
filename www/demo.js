// Browser publisher demo: publish sensor readings to the public demo stream and watch the stream live.

import {
  loadConfig, makeClient, setStatus, showError, clearError, errorText,
  shortAddress, formatTime, formatContent, numericFields, sleep,
} from './common.js';
import { LineChart } from './chart.js';

const $ = (id) => document.getElementById(id);
const TABLE_ROWS = 20;
const BENCH_EVENTS = 5000;
const BENCH_IN_FLIGHT = 1024;  // publishes awaiting acknowledgement: the SDK's own window (4 batch requests of 256 out)
const RATE_WINDOW_MS = 3000;  // the measured publish rate counts publishes over this window

let client;
let config;
let myAddress = '';
let publishedCount = 0;
let receivedCount = 0;
let publishTimes = [];        // completion times (performance.now) of recent publishes
let run = null;               // { source, startedAt } while publishing
let benchRunning = false;

const chart = new LineChart($('chart'), $('legend'));

// ---- sensor sources: each is { name, label, read() -> content, stop() } ----

/** Accelerometer (with gravity), m/s². Only if the browser actually delivers events within a second. */
async function motionSource() {
  if (typeof DeviceMotionEvent === 'undefined') return null;
  // iOS asks the user; this must run inside the Start click, before any other await.
  if (typeof DeviceMotionEvent.requestPermission === 'function') {
    const answer = await DeviceMotionEvent.requestPermission().catch(() => 'denied');
    if (answer !== 'granted') return null;
  }
  let latest = null;
  const onMotion = (e) => {
    const a = e.accelerationIncludingGravity;
    // desktop browsers often send one event with null values: that is not a sensor
    if (a && a.x != null && a.y != null && a.z != null) latest = { x: round(a.x, 3), y: round(a.y, 3), z: round(a.z, 3) };
  };
  addEventListener('devicemotion', onMotion);
  for (let waited = 0; !latest && waited < 1000; waited += 100) await sleep(100);
  if (!latest) { removeEventListener('devicemotion', onMotion); return null; }
  return {
    name: 'motion',
    label: 'Motion sensor (accelerometer x/y/z, m/s²)',
    read: () => ({ ...latest }),
    stop: () => removeEventListener('devicemotion', onMotion),
  };
}

/** Position from the Geolocation API, if permitted. */
async function geolocationSource({ auto }) {
  if (!navigator.geolocation) return null;
  let state = 'prompt';
  try { state = (await navigator.permissions.query({ name: 'geolocation' })).state; } catch { /* no Permissions API */ }
  if (state === 'denied') return null;
  // An automated browser cannot answer the permission prompt; in automatic mode do not wait on it.
  if (auto && state === 'prompt' && navigator.webdriver) return null;

  return new Promise((resolve) => {
    let latest = null;
    let settled = false;
    const watchId = navigator.geolocation.watchPosition((pos) => {
      const c = pos.coords;
      latest = { latitude: round(c.latitude, 6), longitude: round(c.longitude, 6), accuracy: round(c.accuracy, 1) };
      if (c.altitude != null) latest.altitude = round(c.altitude, 1);
      if (c.speed != null) latest.speed = round(c.speed, 2);
      settle(true);
    }, () => settle(false), { enableHighAccuracy: true, maximumAge: 1000 });
    // covers a prompt the user leaves unanswered
    const timer = setTimeout(() => settle(false), 15_000);
    function settle(ok) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!ok) { navigator.geolocation.clearWatch(watchId); resolve(null); return; }
      resolve({
        name: 'geolocation',
        label: 'Location (latitude, longitude, accuracy in m)',
        read: () => ({ ...latest }),
        stop: () => navigator.geolocation.clearWatch(watchId),
      });
    }
  });
}

/**
 * Simulated sensors. Temperature and humidity are smooth random walks: noise moves a velocity, which is
 * damped and pulled back towards a mean, so the value drifts without jumping. Vibration is two sines
 * plus a little noise. Steps scale with the real time between reads, so the curves look the same at any rate.
 */
function simulatedSource() {
  const walk = (mean, sigma, min, max) => ({ value: mean, velocity: 0, mean, sigma, min, max });
  const temperature = walk(21, 0.15, -20, 50);
  const humidity = walk(45, 0.6, 0, 100);
  const start = performance.now();
  let last = start;
  const step = (w, dt) => {
    w.velocity += (-w.velocity / 5 - (w.value - w.mean) / 60) * dt + w.sigma * Math.sqrt(dt) * gaussian();
    w.value = Math.min(w.max, Math.max(w.min, w.value + w.velocity * dt));
    return w.value;
  };
  return {
    name: 'simulated',
    label: 'Simulated (temperature °C, humidity %, vibration)',
    read(now = performance.now()) {
      const dt = Math.min(1, Math.max(0.001, (now - last) / 1000));
      last = now;
      const t = (now - start) / 1000;
      const vibration = 0.6 * Math.sin(2 * Math.PI * 0.2 * t) + 0.25 * Math.sin(2 * Math.PI * 1.3 * t) + 0.05 * gaussian();
      return {
        temperature: round(step(temperature, dt), 2),
        humidity: round(step(humidity, dt), 1),
        vibration: round(vibration, 3),
      };
    },
    stop() {},
  };
}

async function chooseSource(choice) {
  if (choice === 'simulated') return simulatedSource();
  if (choice === 'auto' || choice === 'motion') {
    const s = await motionSource();
    if (s) return s;
  }
  if (choice === 'auto' || choice === 'geolocation') {
    $('source').textContent = 'waiting for location permission…';
    const s = await geolocationSource({ auto: choice === 'auto' });
    if (s) return s;
  }
  const s = simulatedSource();
  if (choice !== 'auto') s.label += ` — the ${choice === 'motion' ? 'motion sensor' : 'location'} was not available`;
  return s;
}

// ---- publishing ----

function rate() {
  const n = Math.round(Number($('rate').value));
  return Number.isFinite(n) ? Math.min(50, Math.max(1, n)) : 1;
}

function countPublished() {
  publishedCount++;
  publishTimes.push(performance.now());
  scheduleDraw();
}

async function start() {
  if (run || !client) return;
  clearError($('error'));
  $('start').disabled = true;
  $('source-select').disabled = true;
  $('source').textContent = 'detecting…';
  const source = await chooseSource($('source-select').value);
  $('source').textContent = source.label;
  run = { source, startedAt: performance.now() };
  $('stop').disabled = false;
  publishLoop(run);
}

function stop() {
  if (!run) return;
  run.source.stop();
  run = null;
  $('stop').disabled = true;
  $('start').disabled = !client || benchRunning;
  $('source-select').disabled = false;
}

/** Publish at the chosen rate; each publish is awaited, so a slow network shows as a lower measured rate. */
async function publishLoop(current) {
  let next = performance.now();
  while (run === current) {
    try {
      await client.publish(config.demo.stream, current.source.read());
      countPublished();
    } catch (err) {
      showError($('error'), err);
      stop();
      return;
    }
    next += 1000 / rate(); // read every time, so a change of rate applies at once
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    else next = performance.now(); // behind schedule: carry on from now rather than burst to catch up
  }
}

// the measured rate: publishes completed over the last few seconds
setInterval(() => {
  const now = performance.now();
  publishTimes = publishTimes.filter((t) => now - t <= RATE_WINDOW_MS);
  const span = run ? Math.min(RATE_WINDOW_MS, now - run.startedAt) : RATE_WINDOW_MS;
  const perSecond = span > 0 ? publishTimes.length / (span / 1000) : 0;
  $('publish-rate').textContent = perSecond.toFixed(1);
}, 500);

// ---- benchmark ----

async function bench() {
  if (benchRunning || !client) return;
  stop();
  benchRunning = true;
  clearError($('error'));
  for (const id of ['bench', 'start']) $(id).disabled = true;
  $('bench-result').textContent = `publishing ${BENCH_EVENTS} events…`;
  // contents are made before the clock starts, so the figure is signing + publishing only
  const sim = simulatedSource();
  const base = performance.now();
  const contents = Array.from({ length: BENCH_EVENTS }, (_, i) => sim.read(base + i * 20));
  try {
    const t0 = performance.now();
    // Up to BENCH_IN_FLIGHT publishes at once: each one signs here, then waits for the entry node's
    // acknowledgement (which includes a disk write where the node stores the stream).
    let next = 0;
    const worker = async () => {
      while (next < contents.length) {
        const content = contents[next++];
        await client.publish(config.demo.stream, content);
        countPublished();
      }
    };
    await Promise.all(Array.from({ length: BENCH_IN_FLIGHT }, worker));
    const seconds = (performance.now() - t0) / 1000;
    // Then the same events back from the node's store: each one's signature verified in the page.
    $('bench-result').textContent = `published ${BENCH_EVENTS}; reading them back…`;
    const t1 = performance.now();
    const history = await client.resend(config.demo.stream, { last: BENCH_EVENTS });
    const verifySeconds = (performance.now() - t1) / 1000;
    const result = {
      events: BENCH_EVENTS,
      inFlight: BENCH_IN_FLIGHT,
      seconds: round(seconds, 3),
      eventsPerSecond: round(BENCH_EVENTS / seconds, 1),
      verified: history.length,
      verifySeconds: round(verifySeconds, 3),
      verifiedPerSecond: round(history.length / verifySeconds, 1),
      allVerified: history.every((e) => e.metadata.verified),
    };
    window.__benchResult = result;
    $('bench-result').textContent =
      `published ${result.events} events in ${result.seconds.toFixed(3)} s: ${result.eventsPerSecond} events/s ` +
      `(${BENCH_IN_FLIGHT} in flight); read back and verified ${result.verified} in ` +
      `${result.verifySeconds.toFixed(3)} s: ${result.verifiedPerSecond} events/s`;
  } catch (err) {
    $('bench-result').textContent = `failed: ${errorText(err)}`;
    showError($('error'), err);
  } finally {
    benchRunning = false;
    $('bench').disabled = false;
    $('start').disabled = Boolean(run);
  }
}

// ---- subscribing ----

// The counters and the table are drawn at most ten times a second (as the chart is): a busy stream
// (the benchmark's thousands of events a second) costs the page a few layouts a second, not one per
// event or per frame.
const DRAW_EVERY_MS = 100;
let unshown = [];
let drawScheduled = false;
let lastDraw = 0;

function onEvent(content, metadata) {
  receivedCount++;
  chart.add(metadata.timestamp, numericFields(content));
  unshown.push([content, metadata]);
  if (unshown.length > 2 * TABLE_ROWS) unshown.splice(0, unshown.length - TABLE_ROWS);
  scheduleDraw();
}

function scheduleDraw() {
  if (drawScheduled) return;
  drawScheduled = true;
  const wait = Math.max(0, lastDraw + DRAW_EVERY_MS - performance.now());
  setTimeout(() => requestAnimationFrame(draw), wait);
}

function draw() {
  drawScheduled = false;
  lastDraw = performance.now();
  $('published-count').textContent = String(publishedCount);
  $('received-count').textContent = String(receivedCount);
  for (const [content, metadata] of unshown.slice(-TABLE_ROWS)) addRow(content, metadata);
  unshown = [];
}

function addRow(content, metadata) {
  const tr = document.createElement('tr');
  if (metadata.publisherId?.toLowerCase() === myAddress.toLowerCase()) tr.className = 'own';
  const cell = (className, text, title) => {
    const td = document.createElement('td');
    td.className = className;
    td.textContent = text;
    if (title) td.title = title;
    tr.append(td);
    return td;
  };
  cell('time', formatTime(metadata.timestamp), new Date(metadata.timestamp).toISOString());
  cell('addr', shortAddress(metadata.publisherId), metadata.publisherId);
  const verified = cell('verified', metadata.verified ? '✓' : '✗');
  verified.classList.add(metadata.verified ? 'yes' : 'no');
  verified.setAttribute('aria-label', metadata.verified ? 'signature verified' : 'signature not verified');
  cell('values', formatContent(content));
  const body = $('events');
  body.prepend(tr);
  while (body.rows.length > TABLE_ROWS) body.lastElementChild.remove();
}

/** The second stream, published by a server-side process; failures stay in its own section. */
async function subscribeServerStream(streamId) {
  $('server-section').hidden = false;
  $('server-stream-id').textContent = streamId;
  const serverChart = new LineChart($('server-chart'), $('server-legend'));
  let count = 0;
  try {
    await client.subscribe(streamId, (content, metadata) => {
      count++;
      $('server-received-count').textContent = String(count);
      $('server-last').textContent = `${formatTime(metadata.timestamp)} ${shortAddress(metadata.publisherId)} ${formatContent(content)}`;
      serverChart.add(metadata.timestamp, numericFields(content));
    }, { last: 20 });
    setStatus($('server-status'), 'ok', 'Subscribed');
  } catch (err) {
    setStatus($('server-status'), 'error', 'Not subscribed');
    showError($('server-error'), err);
  }
}

// ---- start-up ----

async function main() {
  const status = $('status');
  setStatus(status, 'busy', 'Loading /config.json…');
  config = await loadConfig();
  if (!config.demo?.stream) {
    const err = new Error('config.json has no demo.stream');
    err.code = 'CONFIG';
    throw err;
  }
  $('stream-id').textContent = config.demo.stream;

  setStatus(status, 'busy', 'Connecting…');
  client = await makeClient(config);
  myAddress = await client.getAddress();
  $('address').textContent = myAddress;

  setStatus(status, 'busy', 'Subscribing…');
  await client.subscribe(config.demo.stream, onEvent, { last: 20 });
  setStatus(status, 'ok', 'Connected and subscribed');

  $('start').disabled = false;
  $('bench').disabled = false;
  if (config.demo.serverStream) subscribeServerStream(config.demo.serverStream);
}

$('start').addEventListener('click', start);
$('stop').addEventListener('click', stop);
$('bench').addEventListener('click', bench);
$('rate').addEventListener('change', () => { $('rate').value = String(rate()); });

// ?source=simulated (or motion, geolocation) preselects the source, e.g. for automated tests
const preset = new URLSearchParams(location.search).get('source');
if (preset && [...$('source-select').options].some((o) => o.value === preset)) $('source-select').value = preset;

// anything that escapes a handler is shown, not just logged
addEventListener('unhandledrejection', (e) => showError($('error'), e.reason));

main().catch((err) => {
  setStatus($('status'), 'error', 'Not connected');
  showError($('error'), err);
});

// ---- small helpers ----

function round(x, decimals) {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
}

/** A standard normal sample (Box–Muller). */
function gaussian() {
  const u = 1 - Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}
