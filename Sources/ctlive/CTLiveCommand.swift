import ArgumentParser

/// `ctlive`: the one command-line tool of CTLiveMedia.
@main
struct CTLiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctlive",
        abstract: "Escalate contact-center chats to audio/video over ZeroMQ, and record them.",
        subcommands: [
            HubCommand.self, AgentCommand.self, CustomerCommand.self, SupervisorCommand.self, BotCommand.self, DemoCommand.self, RecordingsCommand.self, KeysCommand.self,
            ComposeCommand.self, PluginsCommand.self, PolicyCommand.self, WebCommand.self, BenchCommand.self, PolicyWorkerCommand.self, RecordWorkerCommand.self,
            RenderCompositeCommand.self, RenderWorkerCommand.self,
        ])
}

/// `ctlive bench ...`: benchmarks that print figures (never timed tests).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: print measured figures.",
        subcommands: [BenchSignalingCommand.self, BenchRecorderCommand.self, BenchPolicyCommand.self, BenchFuzzMediaCommand.self])
}
