// posetrack report: draws a run's poses over its video and links every view (timeline, plots, contact sheet,
// flags) to one current frame. The poses arrive packed (posetrack_cli/report/pack.py); a chunk of frames is
// decoded the first time one of its frames is shown.
(() => {
  'use strict';
  const D = JSON.parse(document.getElementById('data').textContent);
  const $ = (id) => document.getElementById(id);
  const video = $('video');
  const canvas = $('overlay');
  const ctx = canvas.getContext('2d');
  const W = D.video.width, H = D.video.height, FPS = D.video.fps || 25;
  const state = { row: 0, highlight: null, boxes: true, ids: true, threshold: 0.3, playing: false, drawn: -1 };
  const chunks = new Map();
  let frames = null; // {index, time (s), count, score}
  let useVideo = Boolean(D.video.src);
  const trackById = new Map(D.tracks.map((t) => [t.id, t]));

  // ---- unpacking: base64 -> inflate -> byte planes -> zigzag deltas -> values ----
  async function inflate(b64) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  async function unpack(packed) {
    const raw = await inflate(packed.b64);
    const out = { n: packed.n };
    let at = 0;
    for (const [name, shape, planes, scale] of packed.cols) {
      const width = shape.reduce((a, b) => a * b, 1);
      const count = packed.n * width;
      const values = new Int32Array(count);
      for (let p = 0; p < planes; p++) {
        const shift = 8 * p;
        for (let j = 0; j < count; j++) values[j] |= raw[at + j] << shift;
        at += count;
      }
      for (let j = 0; j < count; j++) {
        const z = values[j];
        const d = (z >>> 1) ^ -(z & 1);
        values[j] = j >= width ? values[j - width] + d : d;
      }
      out[name] = { values, width, scale };
    }
    return out;
  }

  function scaled(col) {
    const out = new Float64Array(col.values.length);
    for (let i = 0; i < out.length; i++) out[i] = col.values[i] / col.scale;
    return out;
  }

  async function loadChunk(ci) {
    const c = await unpack(JSON.parse($('chunk-' + ci).textContent));
    const first = ci * D.chunkFrames;
    const rows = Math.min(D.chunkFrames, frames.time.length - first);
    const offsets = new Int32Array(rows + 1);
    const f = c.frame.values;
    for (let i = 0; i < c.n; i++) offsets[f[i] + 1]++;
    for (let r = 0; r < rows; r++) offsets[r + 1] += offsets[r];
    const fill = offsets.slice(0, rows);
    const order = new Int32Array(c.n);
    for (let i = 0; i < c.n; i++) order[fill[f[i]]++] = i;
    return { ...c, first, offsets, order, k: D.skeleton.names.length };
  }

  function chunk(ci) {
    if (!chunks.has(ci)) chunks.set(ci, { promise: loadChunk(ci).then((c) => { chunks.get(ci).data = c; return c; }) });
    return chunks.get(ci);
  }

  // ---- time <-> frame ----
  function rowAt(t) {
    const times = frames.time;
    let lo = 0, hi = times.length - 1;
    if (t + 1e-3 < times[0]) return 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (times[mid] <= t + 1e-3) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  function clock(s) {
    if (s >= 3600) return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:` +
      `${String(Math.floor(s % 60)).padStart(2, '0')}`;
    return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, '0')}`;
  }

  function colour(id) { return D.palette[(id - 1) % D.palette.length]; }

  // ---- drawing ----
  const S = Math.max(1, W / 640);

  function drawPerson(c, i, dim) {
    const id = c.track.values[i];
    const col = colour(id);
    const box = c.box.values, xy = c.xy.values, ks = c.kscore.values, k = c.k;
    const bs = c.box.scale, cs = c.xy.scale;
    ctx.globalAlpha = dim ? 0.22 : 1;
    ctx.strokeStyle = col; ctx.fillStyle = col;
    if (state.boxes) {
      ctx.lineWidth = 1.5 * S;
      ctx.strokeRect(box[4 * i] / bs, box[4 * i + 1] / bs, (box[4 * i + 2] - box[4 * i]) / bs,
        (box[4 * i + 3] - box[4 * i + 1]) / bs);
    }
    const thr = Math.round(state.threshold * c.kscore.scale);
    ctx.lineWidth = 2.5 * S; ctx.lineCap = 'round';
    ctx.beginPath();
    for (const [a, b] of D.skeleton.links) {
      if (ks[i * k + a] < thr || ks[i * k + b] < thr) continue;
      ctx.moveTo(xy[(i * k + a) * 2] / cs, xy[(i * k + a) * 2 + 1] / cs);
      ctx.lineTo(xy[(i * k + b) * 2] / cs, xy[(i * k + b) * 2 + 1] / cs);
    }
    ctx.stroke();
    for (let j = 0; j < k; j++) {
      if (ks[i * k + j] < thr) continue;
      ctx.beginPath();
      ctx.arc(xy[(i * k + j) * 2] / cs, xy[(i * k + j) * 2 + 1] / cs, 3.5 * S, 0, 2 * Math.PI);
      ctx.fill();
    }
    if (state.ids) label(id, box[4 * i] / bs, box[4 * i + 1] / bs, col);
    ctx.globalAlpha = 1;
  }

  function label(id, x, y, col) {
    const text = '#' + id;
    ctx.font = `600 ${Math.round(12 * S)}px system-ui, sans-serif`;
    const w = ctx.measureText(text).width + 8 * S, h = 16 * S;
    const top = Math.max(0, y - h);
    ctx.fillStyle = col;
    ctx.fillRect(x, top, w, h);
    ctx.fillStyle = '#10131a';
    ctx.fillText(text, x + 4 * S, top + 12 * S);
  }

  function people(row) {
    const entry = chunk(Math.floor(row / D.chunkFrames));
    if (!entry.data) return null;
    const c = entry.data, r = row - c.first;
    return { c, list: c.order.subarray(c.offsets[r], c.offsets[r + 1]) };
  }

  function draw(row) {
    const found = people(row);
    if (!found) {
      chunk(Math.floor(row / D.chunkFrames)).promise.then(() => { if (state.row === row) draw(row); });
      return;
    }
    ctx.clearRect(0, 0, W, H);
    const { c, list } = found;
    let top = -1;
    for (const i of list) {
      if (state.highlight !== null && c.track.values[i] === state.highlight) { top = i; continue; }
      drawPerson(c, i, state.highlight !== null);
    }
    if (top >= 0) drawPerson(c, top, false);
    state.drawn = row;
    document.body.dataset.drawnRow = String(row);
    const next = Math.floor(row / D.chunkFrames) + 1;
    if ((row % D.chunkFrames) > D.chunkFrames * 0.8 && next * D.chunkFrames < frames.time.length) chunk(next);
  }

  // ---- the current frame, shown everywhere ----
  function show(row) {
    state.row = row;
    draw(row);
    $('scrub').value = String(row);
    const t = frames.time[row];
    $('clock').textContent = `${clock(t)} / ${clock(frames.time[frames.time.length - 1])} · frame ` +
      `${frames.index[row]} · ${frames.count[row]} ${frames.count[row] === 1 ? 'person' : 'people'}`;
    playheads(row);
  }

  function seekRow(row) {
    row = Math.max(0, Math.min(frames.time.length - 1, row));
    if (useVideo) video.currentTime = frames.time[row] + Math.min(0.002, 0.25 / FPS);
    else timer.t = frames.time[row];
    show(row);
  }

  function setHighlight(id) {
    state.highlight = id;
    const chip = $('highlight');
    chip.hidden = id === null;
    if (id !== null) chip.textContent = `following #${id} ✕`;
    document.querySelectorAll('.person').forEach((el) => el.classList.toggle('on', Number(el.dataset.track) === id));
    renderTimeline();
    draw(state.row);
  }

  function follow(id, row) { setHighlight(id); seekRow(row); }

  // ---- playing: the video's clock, or a timer when there is no video ----
  const timer = { t: 0, last: 0 };

  function tick(now) {
    if (!state.playing) return;
    if (!useVideo) {
      timer.t += (now - timer.last) / 1000;
      timer.last = now;
      if (timer.t > frames.time[frames.time.length - 1]) { show(frames.time.length - 1); pause(); return; }
      const row = rowAt(timer.t);
      if (row !== state.row) show(row);
    } else if (!('requestVideoFrameCallback' in video)) {
      const row = rowAt(video.currentTime);
      if (row !== state.row) show(row);
    }
    requestAnimationFrame(tick);
  }

  function onVideoFrame(now, meta) {
    const row = rowAt(meta.mediaTime);
    if (row !== state.row || state.drawn !== row) show(row);
    video.requestVideoFrameCallback(onVideoFrame);
  }

  function play() {
    state.playing = true;
    $('play').innerHTML = '&#10074;&#10074;';
    if (useVideo) video.play().catch(() => pause());
    timer.last = performance.now();
    requestAnimationFrame(tick);
  }

  function pause() {
    state.playing = false;
    $('play').innerHTML = '&#9654;';
    if (useVideo) video.pause();
  }

  function noVideo(why) {
    useVideo = false;
    video.removeAttribute('src');
    video.hidden = true;
    const note = $('video-note');
    note.hidden = false;
    note.textContent = why;
  }

  function setupPlayer() {
    $('stage').style.aspectRatio = `${W} / ${H}`;
    canvas.width = W; canvas.height = H;
    $('scrub').max = String(frames.time.length - 1);
    if (useVideo) {
      video.addEventListener('error', () => noVideo(`cannot play ${D.video.src}; the drawing plays on its own`));
      video.addEventListener('seeked', () => { if (!state.playing) show(rowAt(video.currentTime)); });
      video.addEventListener('ended', pause);
      if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(onVideoFrame);
      video.src = D.video.src;
      if (D.video.note) { $('video-note').hidden = false; $('video-note').textContent = D.video.note; }
      setTimeout(() => { if (D.video.note) $('video-note').hidden = true; }, 6000);
    } else {
      noVideo(D.video.note ? `${D.video.note}; the drawing plays on its own` : 'no video: the poses are drawn on black');
    }
    $('play').onclick = () => (state.playing ? pause() : play());
    $('prev').onclick = () => { pause(); seekRow(state.row - 1); };
    $('next').onclick = () => { pause(); seekRow(state.row + 1); };
    $('scrub').oninput = (e) => { pause(); seekRow(Number(e.target.value)); };
    $('show-boxes').onchange = (e) => { state.boxes = e.target.checked; draw(state.row); };
    $('show-ids').onchange = (e) => { state.ids = e.target.checked; draw(state.row); };
    $('threshold').oninput = (e) => {
      state.threshold = Number(e.target.value);
      $('threshold-value').textContent = state.threshold.toFixed(2);
      draw(state.row);
    };
    $('highlight').onclick = () => setHighlight(null);
    canvas.onclick = (e) => pickPerson(e);
    document.addEventListener('keydown', keys);
  }

  function keys(e) {
    if (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT') return;
    const step = e.shiftKey ? Math.round(FPS) : 1;
    if (e.key === ' ') { e.preventDefault(); state.playing ? pause() : play(); }
    else if (e.key === 'ArrowLeft') { pause(); seekRow(state.row - step); }
    else if (e.key === 'ArrowRight') { pause(); seekRow(state.row + step); }
    else if (e.key === 'Escape') setHighlight(null);
  }

  function pickPerson(e) {
    const found = people(state.row);
    if (!found) return;
    const r = canvas.getBoundingClientRect();
    const scale = Math.min(r.width / W, r.height / H);
    const x = (e.clientX - r.left - (r.width - W * scale) / 2) / scale;
    const y = (e.clientY - r.top - (r.height - H * scale) / 2) / scale;
    const b = found.c.box.values, bs = found.c.box.scale;
    for (const i of found.list) {
      if (x >= b[4 * i] / bs && x <= b[4 * i + 2] / bs && y >= b[4 * i + 1] / bs && y <= b[4 * i + 3] / bs) {
        setHighlight(found.c.track.values[i]);
        return;
      }
    }
    setHighlight(null);
  }

  // ---- track timeline: rows drawn only while in view ----
  const ROW_H = 20;
  let order = D.tracks.slice();

  function renderTimeline() {
    const box = $('timeline'), inner = $('tl-inner');
    inner.style.height = `${order.length * ROW_H}px`;
    const from = Math.max(0, Math.floor(box.scrollTop / ROW_H) - 5);
    const to = Math.min(order.length, Math.ceil((box.scrollTop + box.clientHeight) / ROW_H) + 5);
    const total = Math.max(1, frames.time.length);
    const html = [];
    for (let r = from; r < to; r++) {
      const t = order[r];
      const segs = [];
      for (let s = 0; s < t.segs.length; s += 2) {
        segs.push(`<div class="tl-seg" style="left:${(100 * t.segs[s]) / total}%;width:` +
          `${(100 * (t.segs[s + 1] - t.segs[s] + 1)) / total}%;background:${colour(t.id)}"></div>`);
      }
      html.push(`<div class="tl-row${t.id === state.highlight ? ' on' : ''}" data-track="${t.id}" ` +
        `style="top:${r * ROW_H}px" title="#${t.id}: ${clock(frames.time[t.first])} to ${clock(frames.time[t.last])}` +
        `, ${t.n} frames"><span class="tl-label">#${t.id}</span><div class="tl-bar">${segs.join('')}</div></div>`);
    }
    inner.innerHTML = html.join('');
    playheads(state.row);
  }

  function setupTimeline() {
    const box = $('timeline');
    box.style.height = `${Math.min(380, Math.max(1, order.length) * ROW_H + 2)}px`;
    box.addEventListener('scroll', () => requestAnimationFrame(renderTimeline));
    $('tl-inner').addEventListener('click', (e) => {
      const row = e.target.closest('.tl-row');
      if (!row) return;
      const t = trackById.get(Number(row.dataset.track));
      follow(t.id, t.first);
    });
    $('tl-sort').onchange = (e) => {
      const key = e.target.value;
      order = D.tracks.slice().sort((a, b) => (key === 'id' ? a.id - b.id : key === 'first' ? a.first - b.first
        : b.n - a.n));
      renderTimeline();
    };
    window.addEventListener('resize', () => { renderTimeline(); plots(); });
    renderTimeline();
  }

  function playheads(row) {
    const total = Math.max(1, frames.time.length);
    const bar = document.querySelector('.tl-bar');
    const ph = $('tl-playhead');
    if (bar) {
      const inner = $('tl-inner').getBoundingClientRect(), r = bar.getBoundingClientRect();
      ph.style.left = `${r.left - inner.left + (r.width * (row + 0.5)) / total}px`;
      ph.style.height = `${Math.max(order.length * ROW_H, 1)}px`;
    }
    document.querySelectorAll('.plot .ph').forEach((el) => { el.style.left = `${(100 * (row + 0.5)) / total}%`; });
  }

  // ---- plots over time ----
  function plot(el, values, top, fmt, kind) {
    el.innerHTML = '';
    const cv = document.createElement('canvas');
    el.appendChild(cv);
    const ph = document.createElement('div');
    ph.className = 'ph';
    el.appendChild(ph);
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, el.clientWidth), h = Math.max(1, el.clientHeight);
    cv.width = w * dpr; cv.height = h * dpr;
    const g = cv.getContext('2d');
    g.scale(dpr, dpr);
    const axis = 16, ph0 = h - axis, n = values.length;
    g.strokeStyle = '#e3e6ec'; g.fillStyle = '#6b7385'; g.font = '10px system-ui, sans-serif';
    for (const f of [0, 0.5, 1]) {
      const y = ph0 - f * (ph0 - 14);
      g.beginPath(); g.moveTo(0, y); g.lineTo(w, y); g.stroke();
      g.fillText(fmt(f * top), w - g.measureText(fmt(f * top)).width - 2, y - 3);
    }
    g.fillText(clock(frames.time[0]), 2, h - 3);
    const end = clock(frames.time[n - 1]);
    g.fillText(end, w - g.measureText(end).width - 2, h - 3);
    const colourOf = kind === 'count' ? '#3b6cff' : '#2f9e44';
    const y = (v) => ph0 - (v / (top || 1)) * (ph0 - 14);
    const line = [];
    g.fillStyle = colourOf;
    for (let x = 0; x < w; x++) {
      const a = Math.floor((x * n) / w), b = Math.max(a + 1, Math.floor(((x + 1) * n) / w));
      let lo = Infinity, hi = -Infinity, sum = 0, m = 0;
      for (let i = a; i < b && i < n; i++) { lo = Math.min(lo, values[i]); hi = Math.max(hi, values[i]); sum += values[i]; m++; }
      if (!m) continue;
      if (kind === 'count') g.fillRect(x, y(hi), 1, ph0 - y(hi));
      else line.push([x + 0.5, y(sum / m)]);
    }
    if (line.length) {
      g.strokeStyle = colourOf; g.lineWidth = 1.5; g.lineJoin = 'round';
      g.beginPath();
      line.forEach(([x, v], i) => (i ? g.lineTo(x, v) : g.moveTo(x, v)));
      g.stroke();
      g.globalAlpha = 0.12;
      g.lineTo(line[line.length - 1][0], ph0); g.lineTo(line[0][0], ph0); g.closePath(); g.fill();
      g.globalAlpha = 1;
    }
    el.onclick = (e) => {
      const r = el.getBoundingClientRect();
      seekRow(Math.floor(((e.clientX - r.left) / r.width) * n));
    };
  }

  function plots() {
    let max = 1;
    for (const c of frames.count) if (c > max) max = c;
    plot($('plot-count'), frames.count, max, (v) => String(Math.round(v)), 'count');
    plot($('plot-score'), frames.score, 1, (v) => v.toFixed(1), 'score');
    playheads(state.row);
  }

  function timings() {
    const el = $('timings');
    const profile = (D.timings && D.timings.profile) || {};
    const entries = Object.entries(profile).filter(([, s]) => s > 0).sort((a, b) => b[1] - a[1]);
    if (!entries.length) {
      el.innerHTML = '<p class="hint">Stage timings are kept by <code>posetrack run --report</code> and in a folder ' +
        "run's summary.json.</p>";
      return;
    }
    const sum = entries.reduce((a, [, s]) => a + s, 0);
    el.innerHTML = entries.map(([name, s]) => `<div class="bar"><span>${esc(name)}</span><div><div class="fill" ` +
      `style="width:${(100 * s) / entries[0][1]}%"></div></div><span class="v">${s.toFixed(1)} s · ` +
      `${Math.round((100 * s) / sum)}%</span></div>`).join('');
    const total = D.timings.seconds || sum;
    el.innerHTML += `<div class="total">${total.toFixed(1)} s in all · ${(frames.time.length / total).toFixed(1)} ` +
      'frames per second</div>';
  }

  // ---- contact sheet, flags, facts ----
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  }

  function sheet() {
    const cards = D.tracks.slice().sort((a, b) => b.n - a.n).map((t) => {
      const pic = t.crop ? `<img src="${t.crop}" alt="#${t.id}">` : '<span class="hint">no picture</span>';
      return `<div class="person" data-track="${t.id}" style="border-top-color:${colour(t.id)}">` +
        `<div class="pic">${pic}</div><div class="meta"><b>#${t.id}</b><br>${clock(frames.time[t.first])} – ` +
        `${clock(frames.time[t.last])}<br>${t.n} frames · ${(t.n / FPS).toFixed(1)} s<br>score ${t.score.toFixed(2)}` +
        '</div></div>';
    });
    $('sheet').innerHTML = cards.join('') || '<p class="hint">nobody was tracked</p>';
    $('sheet').onclick = (e) => {
      const card = e.target.closest('.person');
      if (card) { const t = trackById.get(Number(card.dataset.track)); follow(t.id, t.first); }
    };
  }

  function flags() {
    const el = $('flags');
    el.innerHTML = D.flags.map((g) => `<div class="flag-group"><h3>${esc(g.title)} <span class="n${g.total ? '' : ' zero'}">` +
      `${g.total}</span></h3>` + g.items.map((f) => `<button class="flag" data-frame="${f.frame}" ` +
      `data-track="${f.track === null ? '' : f.track}">${esc(f.text)}</button>`).join('') +
      (g.total > g.items.length ? `<div class="more">and ${g.total - g.items.length} more</div>` : '') + '</div>').join('');
    el.onclick = (e) => {
      const b = e.target.closest('.flag');
      if (!b) return;
      if (b.dataset.track) follow(Number(b.dataset.track), Number(b.dataset.frame));
      else seekRow(Number(b.dataset.frame));
    };
  }

  function table(title, obj, scroll) {
    const rows = Object.entries(obj).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(
      Array.isArray(v) ? v.join(', ') : v === null ? '–' : typeof v === 'object' ? JSON.stringify(v) : v)}</td></tr>`);
    return `<div><h3>${esc(title)}</h3><div class="${scroll ? 'scroll' : ''}"><table>${rows.join('')}</table></div></div>`;
  }

  function flat(obj, prefix, out) {
    for (const [k, v] of Object.entries(obj || {})) {
      if (v && typeof v === 'object' && !Array.isArray(v)) flat(v, `${prefix}${k}.`, out);
      else out[prefix + k] = v;
    }
    return out;
  }

  function facts() {
    const n = frames.time.length, dur = frames.time[n - 1] - frames.time[0] + 1 / FPS;
    const people = frames.count.reduce((a, b) => a + b, 0);
    const flagged = D.flags.reduce((a, g) => a + g.total, 0);
    $('facts').innerHTML = [`<b>${clock(dur)}</b> long`, `<b>${n}</b> frames at ${FPS.toFixed(2)} fps`,
      `<b>${W}×${H}</b>`, `<b>${D.tracks.length}</b> tracks`, `<b>${people}</b> poses`,
      `<b>${flagged}</b> things worth a look`].map((s) => `<span>${s}</span>`).join('');
    const video = { path: D.video.path, playing: D.video.src || '(none)', note: D.video.note || '',
      frames: n, announced: D.video.frame_count, rotation: D.video.rotation, kind: D.video.kind };
    $('run').innerHTML = table('Video', video) + table('Models', D.models) + table('Result', D.stats) +
      table('Settings and thresholds', flat(D.config, '', {}), true) + table('Versions', D.run.versions) +
      table('Machine', D.run.machine);
    $('footer').textContent = `posetrack ${D.run.versions.posetrack} · ${D.title}`;
  }

  async function start() {
    const f = await unpack(D.frames);
    frames = { index: f.index.values, time: scaled(f.time), count: f.count.values, score: scaled(f.score) };
    if (!frames.time.length) frames = { index: [0], time: new Float64Array([0]), count: [0], score: [0] };
    facts();
    setupPlayer();
    setupTimeline();
    plots();
    timings();
    sheet();
    flags();
    await chunk(0).promise;
    show(0);
    document.body.dataset.ready = '1';
  }

  window.report = { state, seekRow, rowAt, setHighlight, get frames() { return frames; } };
  window.report.ready = start();
})();
