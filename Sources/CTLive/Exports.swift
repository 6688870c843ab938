// The protocol's types are the SDK's vocabulary: `Hello`, `Role`, `Participant`, the events' payloads.
// A program that imports CTLive gets them without naming the module they are defined in.
@_exported import Signaling
// A client's CURVE keys are part of its configuration.
@_exported import struct ZeroMQ.CurveClientKeys
