// ctlive.js: the CTLive browser SDK. An ES module, no build step, no dependency.
//
//   import { connect } from "/ctlive.js";
//   const client = await connect({ role: "customer", user: "C1", token });
//   const contact = await client.openContact({ agent: "A1" });
//   contact.on("responseVideoUpgrade", (event) => console.log(event.response));
//   contact.bindVideoParticipantEvent((event, eventName, participant) => console.log(eventName, participant));
//   await contact.requestVideoUpgrade("videoPanel", true, true);
//
// Signaling is the hub's JSON protocol (docs/PROTOCOL.md) as WebSocket text frames, through `ctlive web`.
// Media is encoded and decoded here with WebCodecs (H.264, Opus) and travels as binary frames:
// u8 channel, u8 frame count, then per frame a u32 big-endian length and its bytes.

const REPLY_TIMEOUT_MS = 10000;
const MAX_CHANNELS = 4;
const VIDEO_TRACK = "v";
const AUDIO_TRACK = "a";
const KEYFRAME_EVERY = 90; // frames: a new receiver waits at most this long without a keyframe request
// WebSocket media: past these many unsent bytes, pictures (then sound) are left out rather than queued.
const VIDEO_BACKLOG_BYTES = 96 * 1024;
const AUDIO_BACKLOG_BYTES = 512 * 1024;
const VIDEO_BITRATES = [1_200_000, 800_000, 500_000, 300_000, 150_000];

// The microphone's capture, on the audio thread: every 128-sample block goes to the page as it comes.
const CAPTURE_WORKLET = `
class CTLiveCapture extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage({ time: currentTime, samples: channel.slice() });
    return true;
  }
}
registerProcessor("ctlive-capture", CTLiveCapture);
`;

/** The cameras, microphones and speakers this page may use (labels once the user allowed media). */
export async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const pick = (kind) => devices.filter((d) => d.kind === kind).map((d) => ({ deviceId: d.deviceId, label: d.label, groupId: d.groupId }));
  return { cameras: pick("videoinput"), microphones: pick("audioinput"), speakers: pick("audiooutput") };
}

/** Connects to the gateway and says hello. Resolves once the hub welcomed us. */
export async function connect(options = {}) {
  const client = new Client(options);
  await client.start();
  return client;
}

class Emitter {
  constructor() { this.handlers = new Map(); }
  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, []);
    this.handlers.get(name).push(fn);
    return this;
  }
  emit(name, ...args) {
    for (const fn of this.handlers.get(name) || []) {
      try { fn(...args); } catch (error) { console.error(`ctlive: a "${name}" handler threw`, error); }
    }
  }
}

export class Client extends Emitter {
  /**
   * `audioProcessing: false` turns the browser's echo cancellation, noise suppression and gain control
   * off (a steady test tone would be suppressed as noise). `media`: `"auto"` (WebRTC when the gateway offers
   * it, the WebSocket when it does not or ICE fails), `"webrtc"` or `"websocket"`. `iceTransportPolicy`:
   * `"relay"` uses TURN only.
   */
  constructor({ url, role, user, name, token, queues, log, audioProcessing = true, media = "auto", iceTransportPolicy = "all" } = {}) {
    super();
    if (!role || !user) throw new Error("connect needs role and user");
    const base = url || `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
    this.url = token ? `${base}${base.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : base;
    this.hello = { role, userId: user };
    if (name) this.hello.name = name;
    if (queues && queues.length) this.hello.queues = queues;
    if (token) this.hello.token = token;
    this.log = log || (() => {});
    this.audioProcessing = audioProcessing;
    this.media = media;
    this.iceTransportPolicy = iceTransportPolicy;
    /** What the gateway offers (`webrtc.iceServers`), from its first message. */
    this.gatewayInfo = null;
    this.nextID = 1;
    this.pending = new Map();
    this.contacts = new Map();
    this.channels = new Array(MAX_CHANNELS).fill(null);
    this.participant = null;
    this.stopped = false;
    this.backoff = 200;
  }

  /** Opens the WebSocket and says hello; rejects with the hub's refusal. */
  async start() {
    await this.open();
    const welcome = await this.request({ type: "hello", ...this.hello });
    this.participant = welcome.participant;
    this.welcomed = true;
    this.emit("welcome", welcome);
    return welcome;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      ws.onopen = () => { this.backoff = 200; resolve(); };
      ws.onmessage = (message) => this.receive(message.data);
      ws.onclose = (event) => {
        const reason = event.reason || `WebSocket closed (${event.code})`;
        // 4401, 4403: the gateway refused this browser (its token); trying again would not help.
        if (event.code >= 4400 && event.code < 4500) this.stopped = true;
        if (this.ws === ws) this.lost(reason);
        reject(new Error(reason));
      };
    });
  }

  /** Says goodbye and closes. */
  close() {
    this.stopped = true;
    for (const contact of this.contacts.values()) contact.room?.stop();
    try { this.send({ type: "bye" }); } catch (_) { /* closing anyway */ }
    this.ws?.close();
  }

  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) throw new Error("not connected");
    this.ws.send(JSON.stringify({ v: 1, ...message }));
  }

  /** Sends a request and resolves with its reply (`ok`, `welcome`, `pong`), or rejects with the `error`. */
  request(message) {
    return new Promise((resolve, reject) => {
      const id = this.nextID++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no reply to ${message.type} in ${REPLY_TIMEOUT_MS / 1000} s`));
      }, REPLY_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      try { this.send({ ...message, id }); } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(error);
      }
    });
  }

  /** Opens a chat contact with an agent (`{agent: "A1"}`) or through a queue (`{queue: "Q"}`). */
  async openContact(target, attributes) {
    const reply = await this.request({ type: "openContact", ...target, ...(attributes ? { attributes } : {}) });
    return this.contact(reply.contactID);
  }

  contact(id) {
    if (!this.contacts.has(id)) this.contacts.set(id, new Contact(this, id));
    return this.contacts.get(id);
  }

  receive(data) {
    if (typeof data !== "string") return this.receiveMedia(new Uint8Array(data));
    let message;
    try { message = JSON.parse(data); } catch (_) { return; }
    if (typeof message !== "object" || message === null) return;
    if (message.type === "gatewayInfo") { this.gatewayInfo = message; return; }
    this.log("hub", message);
    if (typeof message.re === "number" && this.pending.has(message.re)) {
      const waiting = this.pending.get(message.re);
      this.pending.delete(message.re);
      clearTimeout(waiting.timer);
      if (message.type === "error") {
        const error = new Error(`${message.code}: ${message.message}`);
        error.code = message.code;
        waiting.reject(error);
      } else {
        waiting.resolve(message);
      }
      return;
    }
    if (message.type === "error") {
      // The hub forgot us (it restarted): our gateway's keep-alive ping says so.
      if (message.code === "hello_required" && this.welcomed) this.forgotten("the hub forgot this connection");
      this.emit("error", message);
      return;
    }
    if (message.contactID) {
      const isNew = !this.contacts.has(message.contactID);
      const contact = this.contact(message.contactID);
      if (isNew && message.type === "contactOpened") {
        contact.opened = message;
        this.emit("contact", contact, message);
      }
      contact.handle(message);
      if (message.type === "contactClosed") this.contacts.delete(message.contactID);
      return;
    }
    this.emit(message.type, message);
  }

  /** Every contact and room ends, as after a lost connection; waiting requests fail with `why`. */
  endEverything(reason, why = reason) {
    for (const [id, contact] of this.contacts) {
      if (contact.room) contact.handle({ type: "roomEnded", contactID: id, roomID: contact.room.roomID, reason });
      contact.handle({ type: "contactClosed", contactID: id, by: "hub", reason });
    }
    this.contacts.clear();
    for (const [id, waiting] of this.pending) { clearTimeout(waiting.timer); waiting.reject(new Error(why)); }
    this.pending.clear();
  }

  lost(reason) {
    this.welcomed = false;
    this.endEverything("connection lost", reason);
    this.emit("connectionLost", { reason });
    if (this.stopped) return;
    const retry = () => {
      if (this.stopped) return;
      this.start().then((welcome) => this.emit("reconnected", welcome)).catch(() => {
        this.backoff = Math.min(this.backoff * 2, 2000);
        setTimeout(retry, this.backoff);
      });
    };
    setTimeout(retry, this.backoff);
  }

  forgotten(reason) {
    this.welcomed = false;
    this.endEverything("connection lost");
    this.emit("connectionLost", { reason });
    const again = () => {
      if (this.stopped) return;
      this.request({ type: "hello", ...this.hello }).then((welcome) => {
        this.welcomed = true;
        this.emit("reconnected", welcome);
      }).catch(() => setTimeout(again, 1000));
    };
    setTimeout(again, 200);
  }

  // Media channels: one per room.
  takeChannel(room) {
    const index = this.channels.indexOf(null);
    if (index < 0) throw new Error("too many rooms at once");
    this.channels[index] = room;
    return index;
  }

  releaseChannel(index) {
    if (this.channels[index]) {
      this.channels[index] = null;
      this.sendMedia(index, []);
    }
  }

  sendMedia(channel, frames, kind = "control") {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    // A congested socket never grows a backlog: pictures are left out first (the sender then lowers its
    // bitrate and resumes at a keyframe), sound only when far behind.
    const limit = kind === "video" ? VIDEO_BACKLOG_BYTES : kind === "audio" ? AUDIO_BACKLOG_BYTES : Infinity;
    if (this.ws.bufferedAmount > limit) return false;
    this.ws.send(encodeFrames(channel, frames));
    return true;
  }

  /** Bytes written to the WebSocket and not yet sent: the sender's congestion signal. */
  get backlog() { return this.ws ? this.ws.bufferedAmount : 0; }

  receiveMedia(bytes) {
    let decoded;
    try { decoded = decodeFrames(bytes); } catch (error) { console.warn("ctlive: bad media message", error); return; }
    this.channels[decoded.channel]?.receive(decoded.frames);
  }
}

export class Contact extends Emitter {
  constructor(client, id) {
    super();
    this.client = client;
    this.id = id;
    this.participantHandlers = [];
    this.room = null;
    this.pendingRequest = null;
    this.myDivID = null;
    /** `true`: off. The microphone and camera are the room's (the others hear it); the speaker is this page's. */
    this.privacy = { microphone: false, camera: false, speaker: false };
    /** Chosen devices (`deviceId`), null for the browser's default. */
    this.devices = { camera: null, microphone: null };
  }

  chat(text) { return this.client.request({ type: "chat", contactID: this.id, text }); }

  /** Asks the other member to escalate; `divID` names the element the composited video goes into. */
  requestVideoUpgrade(divID, useAudio = true, useVideo = true) {
    this.myDivID = divID;
    return this.client.request({ type: "requestVideoUpgrade", contactID: this.id, divID, useAudio: !!useAudio, useVideo: !!useVideo });
  }

  /** Answers the pending request; on `true` media starts by itself, rendered into `divID`. */
  responseVideoUpgrade(accept, divID) {
    this.myDivID = divID;
    const message = { type: "responseVideoUpgrade", contactID: this.id, response: !!accept, divID: divID || "" };
    if (this.pendingRequest) message.requestID = this.pendingRequest.requestID;
    return this.client.request(message);
  }

  /** Where this contact's video goes when a room starts that this page did not ask for or answer (a policy accepted). */
  setVideoPanel(divID) { this.myDivID = divID; }

  /** `fn(event, eventName, participant)`: onJoined, onLeft, onDynamicChanged (a list), onLoudestChanged. */
  bindVideoParticipantEvent(fn) { this.participantHandlers.push(fn); }

  /** Leaves the video room (the CTLive page's spelling). */
  videoDisconnecAndDestruct() { return this.videoDisconnectAndDestruct(); }

  videoDisconnectAndDestruct() {
    this.room?.stop();
    return this.client.request({ type: "videoDisconnectAndDestruct", contactID: this.id });
  }

  leave() { return this.client.request({ type: "leaveContact", contactID: this.id }); }

  /** Microphone off (`true`) or on: nothing of it is sent while off, and the others hear `onPrivacyChanged`. */
  setMicrophonePrivacy(off) { return this.setPrivacy({ microphone: !!off }); }

  /** Camera off (`true`) or on: nothing of it is sent while off (on again, it starts at a keyframe). */
  setCameraPrivacy(off) { return this.setPrivacy({ camera: !!off }); }

  /** The others' sound off (`true`) or on, in this page only. */
  setSpeakerPrivacy(off) {
    this.privacy.speaker = !!off;
    this.room?.applySpeakerPrivacy();
    return Promise.resolve();
  }

  /** Says a privacy change to the room (when there is one; a room that starts later hears it then). */
  setPrivacy(change) {
    Object.assign(this.privacy, change);
    if (change.camera === false && this.room) this.room.needKeyframe = true;
    this.room?.applyPrivacy();
    if (!this.room) return Promise.resolve();
    return this.client.request({ type: "setPrivacy", contactID: this.id, ...change });
  }

  /** Publishes from this camera (a `deviceId` of `listDevices()`; null: the default), now and in later rooms. */
  selectCamera(deviceId) {
    this.devices.camera = deviceId || null;
    return this.room ? this.room.replaceTrack("video") : Promise.resolve();
  }

  /** Publishes from this microphone (a `deviceId` of `listDevices()`; null: the default), now and in later rooms. */
  selectMicrophone(deviceId) {
    this.devices.microphone = deviceId || null;
    return this.room ? this.room.replaceTrack("audio") : Promise.resolve();
  }

  /** What the room's media did so far (frames, latency from the sender's capture to this panel). */
  mediaStats() { return this.room ? this.room.stats() : null; }

  handle(message) {
    switch (message.type) {
      case "requestVideoUpgrade": this.pendingRequest = message; break;
      case "responseVideoUpgrade":
      case "requestVideoUpgradeCancelled": this.pendingRequest = null; break;
      case "roomStarted":
        this.room?.stop();
        this.room = new Room(this, message, document.getElementById(this.myDivID || message.divID || "") || null);
        this.room.start();
        break;
      case "roomEnded":
        this.room?.stop();
        this.room = null;
        break;
      case "participant": {
        const subject = message.eventName === "onDynamicChanged" ? message.participants : message.participant;
        this.room?.participantEvent(message.eventName, subject);
        // Vidyo's onLoudestChanged(participant, audioOnly): whether the loudest sends no picture.
        if (message.eventName === "onLoudestChanged" && this.room) message.audioOnly = !this.room.sendsVideo(subject?.id);
        for (const fn of this.participantHandlers) {
          try { fn(message, message.eventName, subject); } catch (error) { console.error("ctlive: participant handler threw", error); }
        }
        break;
      }
    }
    this.emit(message.type, message);
  }
}

/** One video room: publishes this browser's camera and microphone, decodes and renders the others. */
class Room {
  constructor(contact, started, panel) {
    this.contact = contact;
    this.client = contact.client;
    this.roomID = started.roomID;
    this.started = started;
    this.panel = panel;
    this.channel = null;
    this.remote = new Map(); // participant id → {name, video, audio, frame, ...}
    this.names = new Map();
    this.loudest = null;
    this.stopped = false;
    this.needKeyframe = true;
    this.counters = { sentVideo: 0, sentAudio: 0, sentBytes: 0, notSent: 0, keyframeRequests: 0 };
  }

  start() {
    if (this.panel) this.makeView();
    this.frozenTimer = setInterval(() => this.checkFrozen(), 500);
    if (!this.started.mediaEndpoint) return;
    this.channel = this.client.takeChannel(this);
    this.client.sendMedia(this.channel, [json({ v: 1, type: "mediaHello", id: 1, token: this.started.mediaToken })]);
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.drawTimer);
    clearInterval(this.frozenTimer);
    for (const reader of [this.videoReader, this.audioReader]) reader?.cancel().catch(() => {});
    this.stopAudioCapture();
    for (const track of this.stream?.getTracks() || []) track.stop();
    for (const coder of [this.videoEncoder, this.audioEncoder]) { try { coder?.close(); } catch (_) { /* closed */ } }
    this.closeWebRTC();
    for (const peer of this.remote.values()) closePeer(peer);
    this.remote.clear();
    this.audioContext?.close().catch(() => {});
    if (this.channel !== null) this.client.releaseChannel(this.channel);
    if (this.canvas) this.canvas.remove();
  }

  participantEvent(name, subject) {
    if (name === "onJoined" && subject) this.names.set(subject.id, subject.name || subject.userId);
    if (name === "onLeft" && subject) {
      const peer = this.remote.get(subject.id);
      if (peer) { closePeer(peer); this.remote.delete(subject.id); }
    }
    if (name === "onLoudestChanged" && subject) this.loudest = subject.id;
  }

  // Publishing

  audioConstraints() {
    const processing = this.client.audioProcessing, device = this.contact.devices.microphone;
    return { channelCount: 1, sampleRate: 48000, echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing,
      ...(device ? { deviceId: { exact: device } } : {}) };
  }

  videoConstraints() {
    const device = this.contact.devices.camera;
    return { width: 640, height: 360, frameRate: 30, ...(device ? { deviceId: { exact: device } } : {}) };
  }

  /** Whether participant `id` publishes a picture (this browser: whether it was asked to). */
  sendsVideo(id) {
    if (id && id === this.client.participant?.id) return !!this.started.useVideo && !this.contact.privacy.camera;
    const peer = this.remote.get(id);
    return !!peer && [...peer.tracks.values()].some((t) => t.announcement.kind === "video");
  }

  /** The camera and microphone the room asked for; null (and `mediaError`) when they cannot be had. */
  async openDevices() {
    const { useAudio, useVideo } = this.started;
    const { microphone, camera } = this.contact.privacy;
    if (microphone || camera) this.client.request({ type: "setPrivacy", contactID: this.contact.id, microphone, camera }).catch(() => {});
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: useAudio ? this.audioConstraints() : false,
        video: useVideo ? this.videoConstraints() : false,
      });
    } catch (error) {
      this.contact.emit("mediaError", { error: String(error) });
      return null;
    }
    if (this.stopped) { for (const track of this.stream.getTracks()) track.stop(); return null; }
    if (this.selfView) this.selfView.srcObject = this.stream;
    return this.stream;
  }

  /** Media over the WebSocket: WebCodecs encodes, the gateway relays the packets. */
  async publish() {
    if (!(await this.openDevices())) return;
    this.origin = null;
    const video = this.stream.getVideoTracks()[0];
    const audio = this.stream.getAudioTracks()[0];
    if (video) this.publishVideo(video);
    if (audio) this.publishAudio(audio);
  }

  /**
   * Where a track's timestamps sit on the wall clock, from frames as they are read (not as the encoder
   * gives them back: that would count the encoding as capture). The smallest read delay of the first
   * frames wins; then it is fixed, so pts never step back. Chromium's microphone stamps frames on the
   * performance clock, its camera on another: each track learns its own offset.
   */
  observe(timestamp, state) {
    if ((state.samples || 0) >= 30) return;
    state.samples = (state.samples || 0) + 1;
    state.offset = Math.min(state.offset ?? Infinity, Date.now() * 1000 - timestamp);
  }

  /** One clock for all tracks: capture times as wall-clock µs, pts from the first capture. */
  clock(timestamp, state) {
    const captured = Math.round(timestamp + state.offset);
    if (this.origin === null) this.origin = captured;
    return { captured, pts: captured - this.origin };
  }

  async publishVideo(track) {
    const settings = track.getSettings();
    const width = (settings.width || 640) & ~1, height = (settings.height || 360) & ~1;
    const state = {};
    const encoder = new VideoEncoder({
      output: (chunk) => this.sendChunk(VIDEO_TRACK, chunk, state),
      error: (error) => this.contact.emit("mediaError", { error: String(error) }),
    });
    this.videoEncoder = encoder;
    const config = { codec: "avc1.42E01F", width, height, bitrate: VIDEO_BITRATES[0], framerate: 30,
      latencyMode: "realtime", avc: { format: "annexb" } };
    encoder.configure(config);
    const rate = { step: 0, changedAt: performance.now(), congestedAt: 0 };
    this.announce({ track: VIDEO_TRACK, kind: "video", codec: "h264", width, height, sampleRate: 0, channels: 0 });
    const reader = new MediaStreamTrackProcessor({ track }).readable.getReader();
    this.videoReader = reader;
    let count = 0;
    while (!this.stopped && this.videoReader === reader) {
      const { value: frame, done } = await reader.read().catch(() => ({ done: true }));
      if (done) break;
      this.observe(frame.timestamp, state);
      // Camera off: nothing sent; on again, a keyframe first.
      if (this.contact.privacy.camera) { frame.close(); this.needKeyframe = true; continue; }
      // A frame the encoder has no room for is skipped, not queued: this is live video.
      if (encoder.encodeQueueSize > 2 || encoder.state !== "configured") { frame.close(); continue; }
      // A congested WebSocket: no picture now, a lower bitrate, and a keyframe when it drains.
      if (this.adaptBitrate(encoder, config, rate)) { frame.close(); this.needKeyframe = true; this.counters.congestionSkips = (this.counters.congestionSkips || 0) + 1; continue; }
      const keyFrame = this.needKeyframe || count % KEYFRAME_EVERY === 0;
      this.needKeyframe = false;
      encoder.encode(frame, { keyFrame });
      frame.close();
      count++;
    }
    try { if (encoder.state !== "closed") encoder.close(); } catch (_) { /* closed */ }
  }

  /** A device changed (`selectCamera`, `selectMicrophone`): publish from the new one, as a new track. */
  async replaceTrack(kind) {
    if (!this.stream || this.stopped) return;
    const fresh = await navigator.mediaDevices.getUserMedia(kind === "video" ? { video: this.videoConstraints() } : { audio: this.audioConstraints() });
    const track = kind === "video" ? fresh.getVideoTracks()[0] : fresh.getAudioTracks()[0];
    const old = kind === "video" ? this.stream.getVideoTracks()[0] : this.stream.getAudioTracks()[0];
    if (old) { this.stream.removeTrack(old); old.stop(); }
    if (!track) return;
    this.stream.addTrack(track);
    if (this.rtc) {
      const sender = kind === "video" ? this.rtc.videoSender : this.rtc.audioSender;
      if (sender) this.rtc[kind === "video" ? "videoTrack" : "audioTrack"] = track;
      this.applyPrivacy();
      return;
    }
    if (kind === "video") {
      this.videoReader?.cancel().catch(() => {});
      this.videoReader = null;
      this.needKeyframe = true;
      this.publishVideo(track);
    } else {
      this.stopAudioCapture();
      this.publishAudio(track);
    }
  }

  /**
   * The microphone is captured by an AudioWorklet (the audio thread hands every sample over; a busy
   * page encodes them late, never loses them), and encoded as Opus in 20 ms frames. Where worklets
   * cannot run (no AudioContext allowed), it falls back to MediaStreamTrackProcessor with a deep buffer.
   */
  async publishAudio(track) {
    if (await this.captureAudio(track).catch((error) => { console.warn("ctlive: audio worklet unavailable", error); return false; })) return;
    return this.publishAudioFrames(track);
  }

  async captureAudio(track) {
    const context = new AudioContext({ sampleRate: 48000, latencyHint: "interactive" });
    const url = URL.createObjectURL(new Blob([CAPTURE_WORKLET], { type: "text/javascript" }));
    try { await context.audioWorklet.addModule(url); } finally { URL.revokeObjectURL(url); }
    if (context.state !== "running") await context.resume().catch(() => {});
    if (context.state !== "running" || this.stopped) { context.close().catch(() => {}); return false; }
    const source = context.createMediaStreamSource(new MediaStream([track]));
    const node = new AudioWorkletNode(context, "ctlive-capture", { numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1,
      channelCountMode: "explicit", channelInterpretation: "speakers" });
    source.connect(node);
    const state = { offset: 0 }; // timestamps below are wall-clock µs already
    const encoder = new AudioEncoder({
      output: (chunk) => this.sendChunk(AUDIO_TRACK, chunk, state),
      error: (error) => this.contact.emit("mediaError", { error: String(error) }),
    });
    encoder.configure({ codec: "opus", sampleRate: 48000, numberOfChannels: 1, bitrate: 48000 });
    this.audioEncoder = encoder;
    this.announce({ track: AUDIO_TRACK, kind: "audio", codec: "opus", width: 0, height: 0, sampleRate: 48000, channels: 1 });
    const FRAME = 960; // 20 ms at 48 kHz
    let pending = new Float32Array(FRAME), filled = 0, frameStart = null, wallAt = null;
    node.port.onmessage = ({ data }) => {
      if (this.stopped || encoder.state !== "configured") return;
      if (wallAt === null) {
        // The context's clock on the wall clock, once: samples are counted from there, so time never drifts or steps.
        const stamp = context.getOutputTimestamp();
        wallAt = (time) => (performance.timeOrigin + stamp.performanceTime + (time - stamp.contextTime) * 1000) * 1000;
        frameStart = data.time;
      }
      const samples = data.samples;
      let at = 0;
      while (at < samples.length) {
        const take = Math.min(FRAME - filled, samples.length - at);
        pending.set(samples.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === FRAME) {
          if (!this.contact.privacy.microphone) {
            encoder.encode(new AudioData({ format: "f32-planar", sampleRate: 48000, numberOfFrames: FRAME, numberOfChannels: 1,
              timestamp: Math.round(wallAt(frameStart)), data: pending }));
            this.counters.capturedAudio = (this.counters.capturedAudio || 0) + 1;
          }
          frameStart += FRAME / 48000;
          pending = new Float32Array(FRAME);
          filled = 0;
        }
      }
    };
    this.capture = { context, source, node, encoder };
    return true;
  }

  stopAudioCapture() {
    const capture = this.capture;
    this.capture = null;
    if (capture) {
      capture.node.port.onmessage = null;
      try { capture.source.disconnect(); } catch (_) { /* gone */ }
      capture.context.close().catch(() => {});
      try { if (capture.encoder.state !== "closed") capture.encoder.close(); } catch (_) { /* closed */ }
    }
    this.audioReader?.cancel().catch(() => {});
    this.audioReader = null;
  }

  async publishAudioFrames(track) {
    const state = {};
    const reader = new MediaStreamTrackProcessor({ track, maxBufferSize: 200 }).readable.getReader();
    this.audioReader = reader;
    let format = null;
    while (!this.stopped && this.audioReader === reader) {
      const { value: data, done } = await reader.read().catch(() => ({ done: true }));
      if (done) break;
      this.observe(data.timestamp, state);
      // The encoder takes the microphone as it comes (44.1 or 48 kHz, mono or stereo): Opus is 48 kHz on the wire.
      if (!format) {
        format = { sampleRate: data.sampleRate, channels: Math.min(2, data.numberOfChannels) };
        this.audioEncoder = new AudioEncoder({
          output: (chunk) => this.sendChunk(AUDIO_TRACK, chunk, state),
          error: (error) => this.contact.emit("mediaError", { error: String(error) }),
        });
        this.audioEncoder.configure({ codec: "opus", sampleRate: format.sampleRate, numberOfChannels: format.channels, bitrate: 48000 });
        this.announce({ track: AUDIO_TRACK, kind: "audio", codec: "opus", width: 0, height: 0, sampleRate: 48000, channels: format.channels });
      }
      if (this.contact.privacy.microphone) {
        // Microphone off: nothing sent.
      } else if (this.audioEncoder.state === "configured" && data.sampleRate === format.sampleRate && data.numberOfChannels === format.channels) {
        this.audioEncoder.encode(data);
      } else if (!this.warnedFormat) {
        this.warnedFormat = true;
        console.warn(`ctlive: the microphone changed to ${data.sampleRate} Hz ${data.numberOfChannels} ch: not sent`);
      }
      data.close();
    }
  }

  /**
   * The WebSocket sender's congestion control: true when this frame should be left out. Congestion is
   * unsent bytes in the socket (`bufferedAmount`) or, since the kernel's buffer hides a slow link from
   * it, a media round trip (ping to the relay) grown 150 ms over its least. Congested, the bitrate steps
   * down at most once a second; after 4 s without, it steps back up. A watcher's `bitrateRequest` caps it.
   */
  adaptBitrate(encoder, config, rate) {
    const backlog = this.client.backlog, now = performance.now();
    this.probeRtt(now);
    const queued = this.rtt ? this.rtt.last - this.rtt.least : 0;
    const congested = backlog > VIDEO_BACKLOG_BYTES / 2 || queued > 150;
    let step = rate.step;
    if (congested) {
      rate.congestedAt = now;
      if (now - rate.changedAt > 1000) step = Math.min(step + 1, VIDEO_BITRATES.length - 1);
    } else if (now - rate.congestedAt > 4000 && now - rate.changedAt > 4000) {
      step = Math.max(step - 1, 0);
    }
    const cap = this.bitrateCap && this.bitrateCap.until > now ? this.bitrateCap.bps : Infinity;
    while (step < VIDEO_BITRATES.length - 1 && VIDEO_BITRATES[step] > cap) step++;
    if (step !== rate.step) {
      rate.step = step;
      rate.changedAt = now;
      config.bitrate = VIDEO_BITRATES[step];
      this.counters.videoBitrate = config.bitrate;
      try { encoder.configure(config); } catch (_) { /* closing */ }
    }
    // Pictures are left out only for what this page's socket holds: a long round trip may be the way back.
    return backlog > VIDEO_BACKLOG_BYTES / 2;
  }

  /** A ping on the media channel every 250 ms; the relay's pong gives the round trip through both queues. */
  probeRtt(now) {
    if (this.pingSentAt && now - this.pingSentAt < 250) return;
    this.pingSentAt = now;
    this.pingID = (this.pingID || 0) + 1;
    this.pings = this.pings || new Map();
    this.pings.set(this.pingID, now);
    if (this.pings.size > 40) this.pings.delete(this.pings.keys().next().value);
    this.client.sendMedia(this.channel, [json({ v: 1, type: "ping", id: this.pingID })]);
  }

  rttMeasured(message) {
    const sent = this.pings?.get(message.re);
    if (sent === undefined) return;
    this.pings.delete(message.re);
    const rtt = performance.now() - sent;
    // The least round trip of the last 30 s is the empty path.
    const now = performance.now();
    if (!this.rtt || now - this.rtt.leastAt > 30000 || rtt <= this.rtt.least) this.rtt = { ...(this.rtt || {}), least: rtt, leastAt: now };
    this.rtt.last = rtt;
    this.counters.mediaRttMs = Math.round(rtt);
  }

  announce(track) {
    this.client.sendMedia(this.channel, [json({ v: 1, type: "track", timeBaseNum: 1, timeBaseDen: 1000000, extradata: "", ...track })]);
  }

  sendChunk(trackID, chunk, state) {
    if (this.stopped) return;
    const { captured, pts } = this.clock(chunk.timestamp, state);
    const payload = new Uint8Array(chunk.byteLength);
    chunk.copyTo(payload);
    const header = { v: 1, type: "packet", track: trackID, pts, dts: pts, duration: Math.round(chunk.duration || 0),
      key: chunk.type === "key", capturedUs: captured };
    if (this.client.sendMedia(this.channel, [json(header), payload], trackID === VIDEO_TRACK ? "video" : "audio")) {
      if (trackID === VIDEO_TRACK) this.counters.sentVideo++; else this.counters.sentAudio++;
      this.counters.sentBytes += payload.byteLength;
    } else {
      this.counters.notSent++;
      if (trackID === VIDEO_TRACK) this.needKeyframe = true;
    }
  }

  // WebRTC: the camera and microphone go to the gateway's Janus as one sendonly PeerConnection; each other
  // participant comes back as a recvonly one (Janus' offer, relayed by the gateway). No transcoding anywhere:
  // H.264 and Opus as the browser encodes them reach the others and the recorder.

  wantsWebRTC() {
    return this.client.media !== "websocket" && !!this.client.gatewayInfo?.webrtc && typeof RTCPeerConnection === "function" && !this.rtcFailed;
  }

  startMedia() {
    if (!this.wantsWebRTC()) return this.publish();
    this.startWebRTC().catch((error) => this.rtcFallback(String(error)));
  }

  async startWebRTC() {
    const info = this.client.gatewayInfo.webrtc;
    const rtc = { config: { iceServers: info.iceServers || [], iceTransportPolicy: this.client.iceTransportPolicy || "all" },
      viewers: new Map(), connected: false, timer: null };
    this.rtc = rtc;
    rtc.timer = setTimeout(() => { if (this.rtc === rtc && !rtc.connected) this.rtcFallback("ICE did not connect in time"); }, info.iceTimeoutMs || 8000);
    const { useAudio, useVideo } = this.started;
    const stream = useAudio || useVideo ? await this.openDevices() : null;
    if (this.rtc !== rtc || this.stopped || ((useAudio || useVideo) && !stream)) return;
    let jsep = null, width = 640, height = 360;
    if (stream) {
      const pc = new RTCPeerConnection(rtc.config);
      rtc.publisher = pc;
      this.watchIce(pc, rtc);
      rtc.videoTrack = stream.getVideoTracks()[0] || null;
      rtc.audioTrack = stream.getAudioTracks()[0] || null;
      if (rtc.videoTrack) {
        const settings = rtc.videoTrack.getSettings();
        width = settings.width || 640;
        height = settings.height || 360;
        const transceiver = pc.addTransceiver(rtc.videoTrack, { direction: "sendonly", streams: [stream], sendEncodings: [{ maxBitrate: VIDEO_BITRATES[0] }] });
        preferH264(transceiver);
        rtc.videoSender = transceiver.sender;
      }
      if (rtc.audioTrack) rtc.audioSender = pc.addTransceiver(rtc.audioTrack, { direction: "sendonly", streams: [stream] }).sender;
      this.applyPrivacy();
      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc);
      if (this.rtc !== rtc) return;
      jsep = { type: "offer", sdp: pc.localDescription.sdp };
    }
    this.client.sendMedia(this.channel, [json({ v: 1, type: "webrtcStart", ...(jsep ? { jsep } : {}), width, height })]);
    this.contact.emit("media", { state: "transport", transport: "webrtc", roomID: this.roomID });
  }

  watchIce(pc, rtc) {
    pc.addEventListener("iceconnectionstatechange", () => {
      const state = pc.iceConnectionState;
      if (state === "connected" || state === "completed") { rtc.connected = true; clearTimeout(rtc.timer); }
      if (state === "failed" && this.rtc === rtc) this.rtcFallback("ICE failed");
    });
  }

  /** Janus' offer for watching `participant`: answered, and its tracks drawn and played like the WebSocket's. */
  async rtcOffer({ participant, jsep }) {
    const rtc = this.rtc;
    if (!rtc || typeof participant !== "string") return;
    rtc.viewers.get(participant)?.close();
    const pc = new RTCPeerConnection(rtc.config);
    rtc.viewers.set(participant, pc);
    this.watchIce(pc, rtc);
    pc.ontrack = (event) => this.rtcTrack(participant, event.track);
    await pc.setRemoteDescription(jsep);
    await pc.setLocalDescription(await pc.createAnswer());
    await iceGathered(pc);
    if (this.rtc !== rtc) return;
    this.client.sendMedia(this.channel, [json({ v: 1, type: "webrtcAnswer", participant, jsep: { type: "answer", sdp: pc.localDescription.sdp } })]);
  }

  rtcTrack(participant, track) {
    let peer = this.remote.get(participant);
    if (!peer) {
      peer = { id: participant, tracks: new Map(), frame: null, captured: 0, frames: 0, latencies: [], drawnCaptured: 0 };
      this.remote.set(participant, peer);
    }
    if (track.kind === "video") {
      const video = document.createElement("video");
      video.muted = true;
      video.playsInline = true;
      video.autoplay = true;
      video.srcObject = new MediaStream([track]);
      video.play().catch(() => {});
      peer.video = video;
      peer.lastFrameAt = performance.now();
      peer.videoFramesBefore = peer.frames;
    } else {
      // Chromium feeds a remote WebRTC track to Web Audio only while a media element plays it (muted here).
      const element = new Audio();
      element.muted = true;
      element.srcObject = new MediaStream([track]);
      element.play().catch(() => {});
      this.audioContext = this.audioContext || new AudioContext({ latencyHint: "interactive" });
      const source = this.audioContext.createMediaStreamSource(new MediaStream([track]));
      source.connect(this.speaker());
      peer.rtcAudio = { element, source };
    }
  }

  /** A picture stuck for a second (a keyframe lost on the way): the publisher is asked for a new one. */
  checkFrozen() {
    if (!this.rtc) { this.checkWebSocketDownlink(); return; }
    this.checkDownlink().catch(() => {});
    const now = performance.now();
    for (const peer of this.remote.values()) {
      if (!peer.video) continue;
      // Frames the element decoded (a page in the background gets no video frame callbacks).
      const decoded = peer.videoFramesBefore + (peer.video.getVideoPlaybackQuality?.().totalVideoFrames || 0);
      if (decoded !== peer.frames) { peer.frames = decoded; peer.lastFrameAt = now; }
      if (now - peer.lastFrameAt < 1000) continue;
      for (const [trackID, track] of peer.tracks) if (track.announcement.kind === "video") this.askKeyframe(peer, trackID, track);
    }
  }

  /**
   * A narrow link to this page: Janus relays each participant's video at the rate its publisher's uplink
   * allows, and only the watcher can see its own link fill. Each picture's arrival time minus its RTP time
   * grows as the queue does; 120 ms over its least, the publisher is asked (`bitrateRequest`) to send at
   * most 70 % of what arrives; after 3 s with a short queue the cap rises 5 % a second.
   */
  async checkDownlink() {
    const rtc = this.rtc, now = performance.now();
    for (const [participant, pc] of rtc.viewers) {
      const receiver = pc.getReceivers().find((r) => r.track?.kind === "video");
      const source = receiver?.getSynchronizationSources?.()[0];
      const peer = this.remote.get(participant);
      if (!source || !peer) continue;
      const watch = peer.downlink || (peer.downlink = new DownlinkWatch(now));
      if (now - watch.bytesAt >= 1000) {
        const stats = await pc.getStats();
        stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") watch.bytes = s.bytesReceived; });
      }
      this.askForLess(peer, watch.update(source.timestamp - source.rtpTimestamp / 90, now), now);
    }
  }

  /** The same over the WebSocket: the delay is arrival minus the sender's capture time, the bytes are counted here. */
  checkWebSocketDownlink() {
    const now = performance.now();
    for (const peer of this.remote.values()) {
      if (peer.arrivalDelay === undefined) continue;
      const watch = peer.downlink || (peer.downlink = new DownlinkWatch(now));
      watch.bytes = peer.videoBytes || 0;
      this.askForLess(peer, watch.update(peer.arrivalDelay, now), now);
    }
  }

  askForLess(peer, cap, now) {
    if (cap === null) return;
    const video = [...peer.tracks.entries()].find(([, t]) => t.announcement.kind === "video");
    if (!video) return;
    this.counters.bitrateRequests = (this.counters.bitrateRequests || 0) + 1;
    this.client.sendMedia(this.channel, [json({ v: 1, type: "bitrateRequest", track: video[0], participant: peer.id, maxKbps: Math.round(cap / 1000) })]);
  }

  /** Privacy over WebRTC: a track that is off is taken off its sender, so nothing of it leaves the browser. */
  applyPrivacy() {
    const rtc = this.rtc;
    if (!rtc) return;
    const { microphone, camera } = this.contact.privacy;
    rtc.videoSender?.replaceTrack(camera ? null : rtc.videoTrack).catch(() => {});
    rtc.audioSender?.replaceTrack(microphone ? null : rtc.audioTrack).catch(() => {});
  }

  /** ICE failed, timed out, or the gateway could not publish: this room's media goes over the WebSocket. */
  rtcFallback(reason) {
    if (!this.rtc || this.stopped) return;
    this.closeWebRTC();
    if (this.client.media === "webrtc") { this.contact.emit("mediaError", { error: `WebRTC: ${reason}` }); return; }
    this.rtcFailed = true;
    console.warn("ctlive: media over the WebSocket:", reason);
    this.client.sendMedia(this.channel, [json({ v: 1, type: "webrtcStop" })]);
    this.contact.emit("media", { state: "transport", transport: "websocket", reason, roomID: this.roomID });
    for (const track of this.stream?.getTracks() || []) track.stop();
    this.stream = null;
    this.publish();
  }

  closeWebRTC() {
    const rtc = this.rtc;
    if (!rtc) return;
    this.rtc = null;
    clearTimeout(rtc.timer);
    rtc.publisher?.close();
    for (const pc of rtc.viewers.values()) pc.close();
    for (const peer of this.remote.values()) {
      if (peer.video) { peer.video.srcObject = null; peer.video = null; }
      if (peer.rtcAudio) { peer.rtcAudio.source.disconnect(); peer.rtcAudio.element.srcObject = null; peer.rtcAudio = null; }
    }
  }

  // Receiving

  receive(frames) {
    if (frames.length === 1) {
      let message;
      try { message = JSON.parse(text(frames[0])); } catch (_) { return; }
      if (message.type === "mediaWelcome") { this.contact.emit("media", { state: "connected", roomID: this.roomID }); this.startMedia(); }
      else if (message.type === "webrtcAnswer") this.rtc?.publisher?.setRemoteDescription(message.jsep).catch((error) => this.rtcFallback(String(error)));
      else if (message.type === "webrtcOffer") this.rtcOffer(message).catch((error) => console.warn("ctlive: cannot watch over WebRTC", error));
      else if (message.type === "webrtcError") this.rtcFallback(message.message);
      else if (message.type === "keyframeRequest") { this.needKeyframe = true; this.counters.keyframeRequests++; }
      else if (message.type === "bitrateRequest") this.bitrateCap = { bps: message.maxKbps * 1000, until: performance.now() + 5000 };
      else if (message.type === "pong") this.rttMeasured(message);
      else if (message.type === "error") { console.warn("ctlive media:", message.code, message.message); this.contact.emit("mediaError", message); }
      return;
    }
    const sender = text(frames[0]);
    let header;
    try { header = JSON.parse(text(frames[1])); } catch (_) { return; }
    if (typeof header.track !== "string") return;
    let peer = this.remote.get(sender);
    if (!peer) {
      peer = { id: sender, tracks: new Map(), frame: null, captured: 0, frames: 0, latencies: [], drawnCaptured: 0 };
      this.remote.set(sender, peer);
    }
    if (frames.length === 2 && header.type === "track") {
      const old = peer.tracks.get(header.track);
      if (old) closeTrack(old);
      peer.tracks.set(header.track, { announcement: header, extradata: base64Bytes(header.extradata || ""), decoder: null,
        waitingForKey: true, captured: new Map() });
      return;
    }
    if (frames.length !== 3 || header.type !== "packet") return;
    const track = peer.tracks.get(header.track);
    if (!track) return;
    const kind = track.announcement.kind;
    if (kind === "video") {
      if (typeof header.capturedUs === "number") peer.arrivalDelay = Date.now() - header.capturedUs / 1000;
      peer.videoBytes = (peer.videoBytes || 0) + frames[2].byteLength;
      this.decodeVideo(peer, track, header, frames[2]);
    }
    else if (kind === "audio") this.decodeAudio(peer, track, header, frames[2]);
  }

  microseconds(track, value) {
    const { timeBaseNum, timeBaseDen } = track.announcement;
    return Math.round(value * 1e6 * timeBaseNum / timeBaseDen);
  }

  decodeVideo(peer, track, header, payload) {
    if (track.announcement.codec !== "h264") return;
    const extradata = track.extradata;
    if (!track.decoder) {
      if (!header.key) { this.askKeyframe(peer, header.track, track); return; }
      const avcC = extradata.length > 0 && extradata[0] === 1;
      const codec = avcC ? avcCodecString(extradata.subarray(1, 4)) : codecFromAnnexB(concat(extradata, payload));
      if (!codec) return;
      track.decoder = new VideoDecoder({
        output: (frame) => {
          const captured = track.captured.get(frame.timestamp);
          track.captured.delete(frame.timestamp);
          if (peer.frame) peer.frame.close();
          peer.frame = frame;
          peer.captured = captured || 0;
          peer.frames++;
        },
        error: (error) => {
          console.warn("ctlive: video decoder", error);
          track.decoder = null;
          track.waitingForKey = true;
          this.askKeyframe(peer, header.track, track, true);
        },
      });
      track.decoder.configure({ codec, optimizeForLatency: true, ...(avcC ? { description: extradata } : {}) });
      track.annexBPrefix = avcC ? null : extradata;
    }
    if (track.waitingForKey && !header.key) return;
    track.waitingForKey = false;
    if (track.decoder.decodeQueueSize > 30) { track.waitingForKey = true; this.askKeyframe(peer, header.track, track, true); return; }
    const timestamp = this.microseconds(track, header.pts);
    if (typeof header.capturedUs === "number") {
      track.captured.set(timestamp, header.capturedUs);
      if (track.captured.size > 120) track.captured.delete(track.captured.keys().next().value);
    }
    const data = header.key && track.annexBPrefix && track.annexBPrefix.length && !hasSPS(payload) ? concat(track.annexBPrefix, payload) : payload;
    try {
      track.decoder.decode(new EncodedVideoChunk({ type: header.key ? "key" : "delta", timestamp, data }));
    } catch (error) {
      console.warn("ctlive: cannot decode", error);
      track.waitingForKey = true;
    }
  }

  askKeyframe(peer, trackID, track, now = false) {
    const at = performance.now();
    if (!now && track.askedAt && at - track.askedAt < 1000) return;
    track.askedAt = at;
    this.client.sendMedia(this.channel, [json({ v: 1, type: "keyframeRequest", track: trackID, participant: peer.id })]);
  }

  decodeAudio(peer, track, header, payload) {
    if (track.announcement.codec !== "opus") return;
    const { sampleRate, channels } = track.announcement;
    if (!track.decoder) {
      const extradata = track.extradata;
      this.audioContext = this.audioContext || new AudioContext({ latencyHint: "interactive" });
      track.playAt = 0;
      track.decoder = new AudioDecoder({
        output: (data) => this.play(track, data),
        error: (error) => { console.warn("ctlive: audio decoder", error); track.decoder = null; },
      });
      track.decoder.configure({ codec: "opus", sampleRate: sampleRate || 48000, numberOfChannels: channels || 1,
        ...(extradata.length ? { description: extradata } : {}) });
    }
    try {
      track.decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: this.microseconds(track, header.pts), data: payload }));
    } catch (error) { console.warn("ctlive: cannot decode audio", error); }
  }

  play(track, data) {
    const context = this.audioContext;
    try {
      const buffer = context.createBuffer(data.numberOfChannels, data.numberOfFrames, data.sampleRate);
      for (let channel = 0; channel < data.numberOfChannels; channel++) {
        const samples = new Float32Array(data.numberOfFrames);
        data.copyTo(samples, { planeIndex: channel, format: "f32-planar" });
        buffer.copyToChannel(samples, channel);
      }
      const source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(this.speaker());
      // A small jitter buffer; far behind (a stall), start again from now.
      const now = context.currentTime;
      if (track.playAt < now || track.playAt > now + 0.5) track.playAt = now + 0.06;
      source.start(track.playAt);
      track.playAt += buffer.duration;
      track.played = (track.played || 0) + 1;
    } finally {
      data.close();
    }
  }

  /** Where the others' sound goes: a gain that `setSpeakerPrivacy` turns to 0. */
  speaker() {
    if (!this.output) {
      this.output = this.audioContext.createGain();
      this.output.connect(this.audioContext.destination);
      this.applySpeakerPrivacy();
    }
    return this.output;
  }

  applySpeakerPrivacy() {
    if (this.output) this.output.gain.value = this.contact.privacy.speaker ? 0 : 1;
  }

  // Rendering: a grid of the others, the loudest framed; this browser's own camera small in a corner.

  makeView() {
    this.canvas = document.createElement("canvas");
    this.canvas.width = 960;
    this.canvas.height = 540;
    this.canvas.className = "ctlive-view";
    this.canvas.style.cssText = "width:100%;height:100%;display:block;background:#111";
    this.panel.appendChild(this.canvas);
    this.selfView = document.createElement("video");
    this.selfView.muted = true;
    this.selfView.autoplay = true;
    this.selfView.playsInline = true;
    this.draw2d = this.canvas.getContext("2d");
    this.drawTimer = setInterval(() => this.draw(), 33);
  }

  draw() {
    const g = this.draw2d, W = this.canvas.width, H = this.canvas.height;
    g.fillStyle = "#111";
    g.fillRect(0, 0, W, H);
    const peers = [...this.remote.values()].filter((peer) => [...peer.tracks.values()].some((t) => t.announcement.kind === "video"));
    const n = peers.length;
    if (n > 0) {
      const cols = Math.ceil(Math.sqrt(n)), rows = Math.ceil(n / cols);
      const tw = W / cols, th = H / rows;
      peers.forEach((peer, index) => {
        const x = (index % cols) * tw, y = Math.floor(index / cols) * th;
        const video = peer.video && peer.video.videoWidth ? peer.video : null;
        const image = video || peer.frame;
        if (image) {
          const fw = video ? video.videoWidth : image.displayWidth, fh = video ? video.videoHeight : image.displayHeight;
          const scale = Math.min(tw / fw, th / fh);
          const dw = fw * scale, dh = fh * scale;
          g.drawImage(image, x + (tw - dw) / 2, y + (th - dh) / 2, dw, dh);
          if (peer.captured && peer.drawnCaptured !== peer.captured) {
            peer.drawnCaptured = peer.captured;
            peer.latencies.push(Date.now() - peer.captured / 1000);
            if (peer.latencies.length > 600) peer.latencies.shift();
          }
        }
        g.fillStyle = "rgba(0,0,0,0.55)";
        g.fillRect(x + 6, y + th - 30, Math.min(tw - 12, 220), 24);
        g.fillStyle = "#fff";
        g.font = "15px sans-serif";
        g.fillText(this.names.get(peer.id) || peer.id, x + 12, y + th - 12);
        if (this.loudest === peer.id) {
          g.strokeStyle = "#f5c518";
          g.lineWidth = 6;
          g.strokeRect(x + 3, y + 3, tw - 6, th - 6);
        }
      });
    }
    if (this.selfView && this.selfView.videoWidth) {
      const sw = W / 5, sh = sw * this.selfView.videoHeight / this.selfView.videoWidth;
      g.drawImage(this.selfView, W - sw - 10, H - sh - 10, sw, sh);
      g.strokeStyle = "#fff";
      g.lineWidth = 2;
      g.strokeRect(W - sw - 10, H - sh - 10, sw, sh);
    }
  }

  stats() {
    const peers = {};
    for (const peer of this.remote.values()) {
      const sorted = [...peer.latencies].sort((a, b) => a - b);
      const tracks = {};
      for (const [id, track] of peer.tracks) tracks[id] = { kind: track.announcement.kind, played: track.played || 0 };
      peers[peer.id] = {
        framesDecoded: peer.frames,
        latencyMs: sorted.length ? { median: sorted[Math.floor(sorted.length / 2)], p95: sorted[Math.floor(sorted.length * 0.95)], samples: sorted.length } : null,
        tracks,
      };
    }
    return { roomID: this.roomID, transport: this.rtc ? "webrtc" : "websocket", sent: { ...this.counters }, peers };
  }
}

/**
 * One publisher's video as it reaches this page: its delay (arrival minus media time) grows as a queue on
 * the way fills. 120 ms over its least (of the last 30 s), it asks for at most 70 % of what arrives; after
 * 3 s of short queues the cap rises 5 % a second, and goes once past 3 Mbit/s. `update` returns the cap to
 * ask for now (once a second while there is one), or null.
 */
class DownlinkWatch {
  constructor(now) {
    this.least = Infinity; this.leastAt = now; this.cap = null; this.congestedAt = 0; this.sentAt = 0;
    this.bytes = 0; this.bytesBefore = 0; this.bytesAt = now; this.bps = 0;
  }

  update(delay, now) {
    if (delay < this.least || now - this.leastAt > 30000) { this.least = delay; this.leastAt = now; }
    if (now - this.bytesAt >= 1000) {
      this.bps = (this.bytes - this.bytesBefore) * 8000 / (now - this.bytesAt);
      this.bytesBefore = this.bytes;
      this.bytesAt = now;
    }
    if (delay - this.least > 120 && this.bps > 0) {
      this.cap = Math.max(100_000, Math.min(this.cap ?? Infinity, this.bps * 0.7));
      this.congestedAt = now;
    } else if (this.cap !== null && now - this.congestedAt > 3000 && now - this.sentAt >= 1000) {
      this.cap *= 1.05;
      if (this.cap > 3_000_000) this.cap = null;
    }
    if (this.cap === null || now - this.sentAt < 1000) return null;
    this.sentAt = now;
    return this.cap;
  }
}

/** Resolves once the PeerConnection has its candidates (or after `ms`): Janus takes no trickled ones here. */
function iceGathered(pc, ms = 3000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); } };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ms);
  });
}

/** H.264 in packetization mode 1, constrained baseline: what the recorder keeps and every browser decodes. */
function preferH264(transceiver) {
  const codecs = RTCRtpSender.getCapabilities?.("video")?.codecs || [];
  const fmtp = (codec) => codec.sdpFmtpLine || "";
  const h264 = codecs.filter((c) => c.mimeType === "video/H264" && fmtp(c).includes("packetization-mode=1") && fmtp(c).includes("42e01f"));
  const repair = codecs.filter((c) => ["video/rtx", "video/red", "video/ulpfec"].includes(c.mimeType));
  if (h264.length && transceiver.setCodecPreferences) transceiver.setCodecPreferences([...h264, ...repair]);
}

function closeTrack(track) { try { track.decoder?.close(); } catch (_) { /* closed */ } }

function closePeer(peer) {
  for (const track of peer.tracks.values()) closeTrack(track);
  peer.frame?.close();
  peer.frame = null;
}

// Wire helpers

const encoder = new TextEncoder();
const decoder = new TextDecoder();
function json(object) { return encoder.encode(JSON.stringify(object)); }
function text(bytes) { return decoder.decode(bytes); }

export function encodeFrames(channel, frames) {
  const length = 2 + frames.reduce((sum, frame) => sum + 4 + frame.byteLength, 0);
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  out[0] = channel;
  out[1] = frames.length;
  let at = 2;
  for (const frame of frames) {
    view.setUint32(at, frame.byteLength);
    out.set(frame, at + 4);
    at += 4 + frame.byteLength;
  }
  return out;
}

export function decodeFrames(bytes) {
  if (bytes.length < 2) throw new Error("short message");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const channel = bytes[0], count = bytes[1];
  if (channel >= MAX_CHANNELS || count > 3) throw new Error("bad channel or frame count");
  const frames = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) throw new Error("cut off");
    const size = view.getUint32(at);
    if (at + 4 + size > bytes.length) throw new Error("cut off");
    frames.push(bytes.subarray(at + 4, at + 4 + size));
    at += 4 + size;
  }
  return { channel, frames };
}

function base64Bytes(text) {
  try { return Uint8Array.from(atob(text), (c) => c.charCodeAt(0)); } catch (_) { return new Uint8Array(0); }
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function* nalUnits(bytes) {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 0 && bytes[i + 1] === 0 && (bytes[i + 2] === 1 || (bytes[i + 2] === 0 && bytes[i + 3] === 1))) {
      const start = bytes[i + 2] === 1 ? i + 3 : i + 4;
      yield start;
      i = start;
    }
  }
}

function hasSPS(bytes) {
  for (const start of nalUnits(bytes)) if ((bytes[start] & 0x1f) === 7) return true;
  return false;
}

function avcCodecString(profileCompatibilityLevel) {
  return "avc1." + [...profileCompatibilityLevel].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The `avc1.PPCCLL` string from the first SPS of an Annex B keyframe. */
function codecFromAnnexB(bytes) {
  for (const start of nalUnits(bytes)) {
    if ((bytes[start] & 0x1f) === 7 && start + 3 < bytes.length) return avcCodecString(bytes.subarray(start + 1, start + 4));
  }
  return null;
}
