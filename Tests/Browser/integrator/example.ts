// An integrator's TypeScript, written from docs/BROWSER.md, checked against ctlive.d.ts by `tsc --noEmit`.
import { connect, listDevices, Contact, ParticipantEvent, Participant } from "./ctlive";

async function escalate(token: string): Promise<Contact> {
  const client = await connect({ role: "customer", user: "C1", name: "Casey", token, url: "wss://gateway.example.com/ws" });
  client.on("connectionLost", ({ reason }) => console.warn("lost:", reason));
  client.on("reconnected", (welcome) => console.log("back as", welcome.participant.id));
  const contact = await client.openContact({ agent: "A1" });
  contact.on("chat", (event) => console.log(event.from, event.text, event.seq));
  contact.on("responseVideoUpgrade", (event) => {
    if (event.response === true) console.log("accepted by", event.by);
  });
  contact.on("roomEnded", (event) => console.log("room over:", event.reason));
  contact.on("recordingStatus", (event) => console.log("recording:", event.status));
  contact.bindVideoParticipantEvent((event: ParticipantEvent, eventName, participant) => {
    if (eventName === "onPrivacyChanged" && event.privacy) console.log("muted?", event.privacy.microphone);
    if (eventName === "onLoudestChanged") console.log("loudest, audio only:", event.audioOnly);
    if (Array.isArray(participant)) console.log(participant.map((p: Participant) => p.name).join(", "));
  });
  await contact.chat("hello");
  await contact.requestVideoUpgrade("videoPanel", true, true);
  const { cameras } = await listDevices();
  if (cameras.length > 1) await contact.selectCamera(cameras[1].deviceId);
  await contact.setMicrophonePrivacy(true);
  await contact.setSpeakerPrivacy(false);
  const stats = contact.mediaStats();
  if (stats) console.log(stats.sent.sentAudio);
  await contact.videoDisconnecAndDestruct();
  return contact;
}

export { escalate };
