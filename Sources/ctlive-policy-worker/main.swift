import PolicyHost

// The policy worker: runs plugins for a PolicyEngine under `isolation: process`.
// It speaks JSON lines on stdin/stdout (docs/PLUGINS.md) and is started by the engine, not by hand.
PolicyWorker.run()
