// Type declarations for ctlive.js, the CTLive browser SDK served by `ctlive web` (docs/BROWSER.md).
//
//   import { connect } from "https://gateway.example.com/ctlive.js";
//
// Serve this file beside your own code (GET /ctlive.d.ts) and declare the module, or copy it.

/** A member of a video room, as the hub names it. */
export interface Participant {
  /** `role:userId`, e.g. `customer:C1`: unique in the room. */
  id: string;
  userId: string;
  name: string;
  role: "customer" | "agent" | "supervisor" | "recorder";
}

/** The hub's welcome after `hello`. */
export interface Welcome {
  type: "welcome";
  participant: Participant;
  hubVersion?: string;
  [field: string]: unknown;
}

export interface ConnectOptions {
  /** `customer`, `agent` or `supervisor`. */
  role: "customer" | "agent" | "supervisor";
  /** The user id this page speaks as (a token, when the gateway requires one, must name the same). */
  user: string;
  /** The name others see; default: the user id. */
  name?: string;
  /** A signed access token (`ctlive web token`): required by a gateway run with `--token-secret`. */
  token?: string;
  /** The gateway's WebSocket, e.g. `wss://gateway.example.com/ws`. Default: `/ws` on the page's own host. */
  url?: string;
  /** Agents: the queues this agent serves. */
  queues?: string[];
  /** The browser's echo cancellation, noise suppression and gain control (default true). */
  audioProcessing?: boolean;
  /** How media travels: WebRTC when the gateway offers it, else the WebSocket (default "auto"). */
  media?: "auto" | "webrtc" | "websocket";
  /** "relay": only through the gateway's TURN servers (default "all"). */
  iceTransportPolicy?: "all" | "relay";
  /** Called with every message from the hub (debugging). */
  log?: (direction: "hub", message: HubMessage) => void;
}

/** Any message from the hub: `type` says which (docs/PROTOCOL.md). */
export interface HubMessage {
  type: string;
  contactID?: string;
  [field: string]: unknown;
}

export interface ContactOpened extends HubMessage {
  type: "contactOpened";
  contactID: string;
  customer: string;
  agent: string;
}

export interface ChatEvent extends HubMessage {
  type: "chat";
  contactID: string;
  /** The sender's participant id. */
  from: string;
  text: string;
  seq: number;
}

export interface VideoUpgradeRequested extends HubMessage {
  type: "requestVideoUpgrade";
  contactID: string;
  requestID: string;
  divID: string;
  useAudio: boolean;
  useVideo: boolean;
}

export interface VideoUpgradeAnswered extends HubMessage {
  type: "responseVideoUpgrade";
  contactID: string;
  /** True: accepted; the room starts by itself. */
  response: boolean;
  by?: string;
  reason?: string;
}

export interface RoomStarted extends HubMessage {
  type: "roomStarted";
  contactID: string;
  roomID: string;
  useAudio: boolean;
  useVideo: boolean;
}

export interface RoomEnded extends HubMessage {
  type: "roomEnded";
  contactID: string;
  roomID: string;
  /** `the customer left`, `the agent left`, `contact closed`, `recording lost`, `connection lost`. */
  reason: string;
}

export interface RecordingStatus extends HubMessage {
  type: "recordingStatus";
  contactID: string;
  roomID: string;
  status: "recording" | "interrupted" | "stopped";
  recorder?: string;
  reason?: string;
}

export interface ContactClosed extends HubMessage {
  type: "contactClosed";
  contactID: string;
  by: string;
  reason: string;
}

/** Microphone and camera: `true` when off. */
export interface Privacy {
  microphone: boolean;
  camera: boolean;
}

export type ParticipantEventName = "onJoined" | "onLeft" | "onDynamicChanged" | "onLoudestChanged" | "onPrivacyChanged";

/**
 * The first argument of a participant callback: the hub's message itself (a plain object, not the
 * jQuery event object the CTLive document shows).
 */
export interface ParticipantEvent extends HubMessage {
  type: "participant";
  contactID: string;
  roomID: string;
  eventName: ParticipantEventName;
  participant?: Participant;
  /** `onDynamicChanged`: the members, loudest first. */
  participants?: Participant[];
  /** `onPrivacyChanged`: the participant's microphone and camera. */
  privacy?: Privacy;
  /** `onLoudestChanged`: the loudest sends no picture (Vidyo's `audioOnly`). */
  audioOnly?: boolean;
}

export type ParticipantCallback = (
  event: ParticipantEvent,
  eventName: ParticipantEventName,
  participant: Participant | Participant[] | undefined,
) => void;

export interface MediaStats {
  roomID: string;
  /** Which way this room's media goes. */
  transport: "webrtc" | "websocket";
  /** Over the WebSocket only (WebRTC's are in the PeerConnections' own statistics). */
  sent: { sentVideo: number; sentAudio: number; sentBytes: number; notSent: number; keyframeRequests: number; capturedAudio?: number;
          congestionSkips?: number; videoBitrate?: number };
  peers: Record<string, {
    framesDecoded: number;
    latencyMs: { median: number; p95: number; samples: number } | null;
    tracks: Record<string, { kind: "audio" | "video"; played: number }>;
  }>;
}

export interface ContactEvents {
  requestVideoUpgrade: VideoUpgradeRequested;
  responseVideoUpgrade: VideoUpgradeAnswered;
  requestVideoUpgradeCancelled: HubMessage;
  chat: ChatEvent;
  roomStarted: RoomStarted;
  roomEnded: RoomEnded;
  recordingStatus: RecordingStatus;
  participant: ParticipantEvent;
  contactOpened: ContactOpened;
  contactClosed: ContactClosed;
  media: { state: "connected"; roomID: string } | { state: "transport"; transport: "webrtc" | "websocket"; reason?: string; roomID: string };
  mediaError: { error?: string; code?: string; message?: string };
}

export declare class Contact {
  readonly id: string;
  readonly client: Client;
  /** `true`: off. */
  readonly privacy: { microphone: boolean; camera: boolean; speaker: boolean };
  readonly devices: { camera: string | null; microphone: string | null };
  on<K extends keyof ContactEvents>(name: K, handler: (event: ContactEvents[K]) => void): this;
  on(name: string, handler: (event: HubMessage) => void): this;
  /** Sends a chat line to the other member. */
  chat(text: string): Promise<HubMessage>;
  /** Asks the other member to escalate; the video goes into the element with id `divID`. */
  requestVideoUpgrade(divID: string, useAudio?: boolean, useVideo?: boolean): Promise<HubMessage>;
  /** Answers the pending request; on `true` media starts by itself, into `divID`. */
  responseVideoUpgrade(accept: boolean, divID: string): Promise<HubMessage>;
  /** Where video goes when a room starts that this page neither asked for nor answered (a policy accepted). */
  setVideoPanel(divID: string): void;
  bindVideoParticipantEvent(callback: ParticipantCallback): void;
  /** Leaves the video room and ends it for everyone (the CTLive document's spelling). */
  videoDisconnecAndDestruct(): Promise<HubMessage>;
  videoDisconnectAndDestruct(): Promise<HubMessage>;
  /** Leaves the contact: the chat ends. */
  leave(): Promise<HubMessage>;
  setMicrophonePrivacy(off: boolean): Promise<unknown>;
  setCameraPrivacy(off: boolean): Promise<unknown>;
  setSpeakerPrivacy(off: boolean): Promise<void>;
  selectCamera(deviceId: string | null): Promise<void>;
  selectMicrophone(deviceId: string | null): Promise<void>;
  mediaStats(): MediaStats | null;
}

export interface ClientEvents {
  welcome: Welcome;
  contact: Contact;
  connectionLost: { reason: string };
  reconnected: Welcome;
  error: HubMessage;
}

export declare class Client {
  readonly participant: Participant | null;
  readonly contacts: Map<string, Contact>;
  on(name: "contact", handler: (contact: Contact, opened: ContactOpened) => void): this;
  on<K extends keyof ClientEvents>(name: K, handler: (event: ClientEvents[K]) => void): this;
  /** A customer opens a contact with an agent or through a queue. */
  openContact(target: { agent: string } | { queue: string }, attributes?: Record<string, string>): Promise<Contact>;
  contact(id: string): Contact;
  /** Says goodbye and closes; rooms end. */
  close(): void;
}

export interface DeviceInfo {
  deviceId: string;
  label: string;
  groupId: string;
}

/** Connects to the gateway and says hello; resolves once the hub welcomed this page. */
export declare function connect(options: ConnectOptions): Promise<Client>;

/** The cameras, microphones and speakers (labels once the user allowed media). */
export declare function listDevices(): Promise<{ cameras: DeviceInfo[]; microphones: DeviceInfo[]; speakers: DeviceInfo[] }>;
