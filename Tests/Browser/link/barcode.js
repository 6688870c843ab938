// barcode.js: injected by bench_link.py (Page.addScriptToEvaluateOnNewDocument) before any page script.
//
// 1. A camera that paints the wall clock: navigator.mediaDevices.getUserMedia returns a 640x360 canvas
//    captureStream() track (painted 30 times a second) on which every frame carries Date.now() as a barcode (plus the browser's
//    fake microphone, from the original getUserMedia, when audio is asked for).
// 2. A reader: every 10 ms it looks at the page's picture canvas (window.__linkBenchConfig.canvas, a CSS
//    selector; or a <video> it names) with getImageData, finds the barcode by its sync bars (wherever the picture is drawn,
//    at any scale), and records each new picture: arrival time and latency (receiver Date.now() minus
//    the painted stamp; the two browsers share one clock).
//
// The code (cell size U in the 640x360 frame): a white quiet zone of one cell around 25 columns x 5 rows:
//   columns 0-6    start sync, black white black black black white black (1:1:3:1:1), all 5 rows
//   column  7      white
//   columns 8-16   data, 9 bits a row, 45 bits: 25 bits Date.now() mod 2^25 (ms), 4 bits sender id,
//                  16 bits CRC-16/CCITT of those 29 (a misread is rejected)
//   column  17     white
//   columns 18-24  end sync, as the start
// The reader scans lines for two sync patterns 18 cells apart, takes the cell width from them, follows the
// thick bar up and down for the rows, samples the cells against the black and white it sees in that row,
// and keeps the code only when the CRC holds and the sender is the one it waits for (not its own self view).
(() => {
  if (window.linkBench) return;
  const config = window.__linkBenchConfig || {};
  const W = 640, H = 360, U = 22, COLS = 25, ROWS = 5, DATA = 9;
  const SYNC = [1, 0, 1, 1, 1, 0, 1];
  const X0 = (W - (COLS + 2) * U) / 2, Y0 = 14; // the quiet zone's corner
  const CODE_X = X0 + U, CODE_Y = Y0 + U;
  const MOD = 2 ** 25;

  function crc16(bits) {
    let crc = 0xffff;
    for (const bit of bits) {
      const top = ((crc >> 15) & 1) ^ bit;
      crc = (crc << 1) & 0xffff;
      if (top) crc ^= 0x1021;
    }
    return crc;
  }

  function encode(stamp, id) {
    const bits = [];
    const t = stamp % MOD;
    for (let i = 24; i >= 0; i--) bits.push(Math.floor(t / 2 ** i) % 2);
    for (let i = 3; i >= 0; i--) bits.push((id >> i) & 1);
    const crc = crc16(bits);
    for (let i = 15; i >= 0; i--) bits.push((crc >> i) & 1);
    return bits;
  }

  function decodeBits(bits) {
    const message = bits.slice(0, 29);
    let crc = 0;
    for (let i = 29; i < 45; i++) crc = crc * 2 + bits[i];
    if (crc16(message) !== crc) return null;
    let t = 0;
    for (let i = 0; i < 25; i++) t = t * 2 + bits[i];
    let id = 0;
    for (let i = 25; i < 29; i++) id = id * 2 + bits[i];
    return { t, id };
  }

  // ---- the camera ----

  const sent = { frames: 0, cameras: 0 };
  function paintCode(g, stamp, id) {
    g.fillStyle = "#fff";
    g.fillRect(X0, Y0, (COLS + 2) * U, (ROWS + 2) * U);
    g.fillStyle = "#000";
    for (let c = 0; c < 7; c++) {
      if (!SYNC[c]) continue;
      g.fillRect(CODE_X + c * U, CODE_Y, U, ROWS * U);
      g.fillRect(CODE_X + (18 + c) * U, CODE_Y, U, ROWS * U);
    }
    const bits = encode(stamp, id);
    for (let i = 0; i < bits.length; i++) {
      if (bits[i]) g.fillRect(CODE_X + (8 + (i % DATA)) * U, CODE_Y + Math.floor(i / DATA) * U, U, U);
    }
  }

  function barcodeCamera() {
    const canvas = document.createElement("canvas");
    canvas.width = W;
    canvas.height = H;
    const g = canvas.getContext("2d");
    // Texture that costs bits, as a camera would: 16x16 blocks of mild noise, new every frame, below the code.
    const BLOCK = 16;
    const noise = document.createElement("canvas");
    noise.width = W / BLOCK;
    noise.height = 11;
    const ng = noise.getContext("2d");
    const pixels = ng.createImageData(noise.width, noise.height);
    // captureStream() without a rate: one frame per paint (captureStream(30) drops the paints that come a
    // little under 33.3 ms after the last one, about a fifth of them at setInterval(1000 / 30)).
    const stream = canvas.captureStream();
    const track = stream.getVideoTracks()[0];
    let frame = 0;
    sent.cameras++;
    const paint = () => {
      if (track.readyState === "ended") { clearInterval(timer); return; }
      frame++;
      g.fillStyle = "#3a4a5a";
      g.fillRect(0, 0, W, H);
      if (config.texture !== "flat") {
        for (let i = 0; i < pixels.data.length; i += 4) {
          const v = 88 + ((Math.random() * 80) | 0);
          pixels.data[i] = v; pixels.data[i + 1] = v + 10; pixels.data[i + 2] = 230 - v; pixels.data[i + 3] = 255;
        }
        ng.putImageData(pixels, 0, 0);
        g.imageSmoothingEnabled = false;
        g.drawImage(noise, 0, H - noise.height * BLOCK, W, noise.height * BLOCK);
      }
      // Something moving across the middle, as a face would.
      g.fillStyle = "#e9c46a";
      g.beginPath();
      g.arc(60 + (frame * 6) % (W - 120), 170, 26, 0, 2 * Math.PI);
      g.fill();
      paintCode(g, Date.now(), config.id || 0);
      sent.frames++;
    };
    paint();
    const timer = setInterval(paint, 1000 / 30);
    return track;
  }

  const devices = navigator.mediaDevices;
  if (devices && devices.getUserMedia) {
    const original = devices.getUserMedia.bind(devices);
    devices.getUserMedia = async (constraints = {}) => {
      const out = new MediaStream();
      if (constraints.audio) {
        const audio = await original({ audio: constraints.audio });
        for (const track of audio.getAudioTracks()) out.addTrack(track);
      }
      if (constraints.video) out.addTrack(barcodeCamera());
      return out;
    };
  }

  // ---- the reader ----

  const luma = (d, i) => (d[i] * 77 + d[i + 1] * 150 + d[i + 2] * 29) >> 8;

  // Runs of dark and light along a line of luma values.
  function syncMatches(line) {
    const runs = [];
    let start = 0, dark = line[0] < 128;
    for (let x = 1; x <= line.length; x++) {
      const d = x < line.length ? line[x] < 128 : !dark;
      if (d !== dark) { runs.push({ start, length: x - start, dark }); start = x; dark = d; }
    }
    const matches = [];
    for (let i = 0; i + 4 < runs.length; i++) {
      if (!runs[i].dark) continue;
      const l = [0, 1, 2, 3, 4].map((k) => runs[i + k].length);
      const total = l[0] + l[1] + l[2] + l[3] + l[4];
      const unit = total / 7;
      if (unit < 1.5) continue;
      const ok = [1, 1, 3, 1, 1].every((e, k) => Math.abs(l[k] - e * unit) <= (e === 3 ? 1.0 : 0.6) * unit);
      if (ok) matches.push({ left: runs[i].start, right: runs[i + 4].start + runs[i + 4].length, unit });
    }
    return matches;
  }

  // The code geometry from one line of an image: {left, u} or candidates.
  function lineCandidates(line) {
    const matches = syncMatches(line);
    const out = [];
    for (const a of matches) {
      for (const b of matches) {
        if (b.left <= a.left) continue;
        if (Math.abs(b.unit - a.unit) > 0.3 * a.unit) continue;
        if (Math.abs(b.left - a.left - 18 * a.unit) > 1.5 * a.unit) continue;
        out.push({ left: a.left, u: (b.right - a.left) / COLS });
      }
    }
    return out;
  }

  const radius = (geometry) => Math.max(0, Math.floor(Math.min(geometry.u, geometry.uy) / 5));

  // Samples the cells of a code whose geometry is known. rowImage(row) gives an image {data, width, height,
  // x, y} (x, y: its origin in the canvas) that holds that row's cell centres. Returns {t, id} or null.
  function sampleCode(rowImage, geometry) {
    const { left, u, top, uy } = geometry; // canvas coordinates
    let img = null;
    const at = (cx, cy) => {
      const x = Math.round(cx - img.x), y = Math.round(cy - img.y);
      const r = radius(geometry);
      let sum = 0, n = 0;
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++) {
          const xx = x + dx, yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= img.width || yy >= img.height) return -1;
          sum += luma(img.data, (yy * img.width + xx) * 4);
          n++;
        }
      }
      return sum / n;
    };
    const bits = [];
    for (let row = 0; row < ROWS; row++) {
      const cy = top + (row + 0.5) * uy;
      img = rowImage(row);
      if (!img) return null;
      const cell = (c) => at(left + (c + 0.5) * u, cy);
      const black = (cell(3) + cell(21)) / 2, white = (cell(7) + cell(17)) / 2;
      if (black < 0 || white < 0 || white - black < 40) return null;
      const threshold = (black + white) / 2;
      // The sync columns must read as the sync, or this is not the code (or it moved).
      for (let c = 0; c < 7; c++) {
        const a = cell(c), b = cell(18 + c);
        if (a < 0 || b < 0 || (a < threshold) !== !!SYNC[c] || (b < threshold) !== !!SYNC[c]) return null;
      }
      for (let c = 0; c < DATA; c++) {
        const v = cell(8 + c);
        if (v < 0) return null;
        bits.push(v < threshold ? 1 : 0);
      }
    }
    return decodeBits(bits);
  }

  // Looks for the code anywhere in an image (the whole canvas): returns {code, geometry} or null.
  function scan(img, wanted) {
    const { data, width, height } = img;
    const line = new Uint8Array(width);
    for (let y = 0; y < height; y += 3) {
      for (let x = 0; x < width; x++) line[x] = luma(data, (y * width + x) * 4);
      for (const candidate of lineCandidates(line)) {
        // Follow the thick bar (column 3) up and down: the code's rows.
        const bx = Math.round(candidate.left + 3.5 * candidate.u);
        const darkAt = (yy) => yy >= 0 && yy < height && luma(data, (yy * width + bx) * 4) < 128;
        let top = y, bottom = y;
        while (darkAt(top - 1)) top--;
        while (darkAt(bottom + 1)) bottom++;
        const uy = (bottom - top + 1) / ROWS;
        if (uy < 0.5 * candidate.u || uy > 2 * candidate.u) continue;
        const geometry = { left: candidate.left + img.x, u: candidate.u, top: top + img.y, uy };
        const code = sampleCode(() => img, geometry);
        if (code && (wanted === undefined || code.id === wanted)) return { code, geometry };
      }
    }
    return null;
  }

  class Reader {
    constructor(selector, wanted) {
      this.selector = selector;
      this.wanted = wanted;
      this.geometry = null;
      this.lastScan = 0;
      this.counters = { reads: 0, lockedReads: 0, scans: 0, found: 0, failures: 0 };
      this.reset();
      this.timer = setInterval(() => this.tick(), 10);
    }

    reset() {
      this.since = Date.now();
      this.lastT = this.lastT ?? null;
      this.log = []; // [arrival ms, latency ms]
      this.pictures = 0;
      for (const k in this.counters) this.counters[k] = 0;
    }

    // The picture to read: the largest canvas the selector names; without one (a page that shows the remote
    // picture in a <video> of its own), the largest <video> it names, copied into a canvas of ours at each read.
    canvas() {
      const all = [...document.querySelectorAll(this.selector || "canvas, video")];
      const largest = (list, size) => list.reduce((best, e) => (!best || size(e) > size(best) ? e : best), null);
      const canvas = largest(all.filter((e) => e.tagName === "CANVAS"), (c) => c.width * c.height);
      if (canvas) return canvas;
      const video = largest(all.filter((e) => e.tagName === "VIDEO" && e.videoWidth), (v) => v.videoWidth * v.videoHeight);
      if (!video) return null;
      this.copy = this.copy || document.createElement("canvas");
      if (this.copy.width !== video.videoWidth || this.copy.height !== video.videoHeight) {
        this.copy.width = video.videoWidth;
        this.copy.height = video.videoHeight;
        this.geometry = null;
      }
      this.copy.getContext("2d", { willReadFrequently: true }).drawImage(video, 0, 0);
      return this.copy;
    }

    read(canvas) {
      const g = this.context && this.contextCanvas === canvas ? this.context : (this.context = canvas.getContext("2d"), this.contextCanvas = canvas, this.context);
      if (!g) return null;
      if (this.geometry) {
        // Fast path: where the code was, a thin strip through each row's cell centres.
        const geometry = this.geometry, { left, u, top, uy } = geometry, r = radius(geometry);
        const x = Math.max(0, Math.floor(left - 1)), w = Math.min(canvas.width - x, Math.ceil(COLS * u) + 3);
        const strip = (row) => {
          const y = Math.max(0, Math.round(top + (row + 0.5) * uy) - r - 1), h = Math.min(canvas.height - y, 2 * r + 3);
          if (w <= 0 || h <= 0) return null;
          return { data: g.getImageData(x, y, w, h).data, width: w, height: h, x, y };
        };
        const code = sampleCode(strip, geometry);
        this.counters.lockedReads++;
        if (code && code.id === this.wanted) return code;
        this.geometry = null;
      }
      const now = performance.now();
      if (now - this.lastScan < 50) return null;
      this.lastScan = now;
      this.counters.scans++;
      const image = g.getImageData(0, 0, canvas.width, canvas.height);
      const found = scan({ data: image.data, width: canvas.width, height: canvas.height, x: 0, y: 0 }, this.wanted);
      if (!found) { this.counters.failures++; return null; }
      this.counters.found++;
      this.geometry = found.geometry;
      return found.code;
    }

    tick() {
      const canvas = this.canvas();
      if (!canvas || !canvas.width || !canvas.height) return;
      this.counters.reads++;
      let code = null;
      try { code = this.read(canvas); } catch (error) { this.error = String(error); return; }
      if (!code) return;
      const now = Date.now();
      let diff = ((now % MOD) - code.t + MOD) % MOD;
      if (diff > MOD / 2) diff -= MOD;
      const stamp = now - diff;
      if (this.lastT !== null && stamp <= this.lastT) return; // the same picture again (or an older one)
      this.lastT = stamp;
      this.pictures++;
      this.log.push([now, diff]);
      if (this.log.length > 20000) this.log.shift();
    }

    result() {
      return { since: this.since, until: Date.now(), log: this.log, counters: { ...this.counters }, sent: { ...sent }, error: this.error || null };
    }
  }

  window.linkBench = {
    encode, decodeBits, scan, sent, paintForTest: paintCode,
    reader: null,
    startReader(selector, wanted) { this.reader = this.reader || new Reader(selector, wanted); return true; },
    pictures() { return this.reader ? this.reader.pictures : 0; },
    reset() { this.reader?.reset(); return true; },
    result() { return this.reader ? this.reader.result() : null; },
  };
  if (config.peer !== undefined) window.linkBench.startReader(config.canvas || null, config.peer);
})();
