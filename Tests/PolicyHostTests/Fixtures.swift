import Foundation
import Logging
import PolicyHost
import PolicyKit
import XCTest

/// Shared helpers: the plugins SwiftPM built, temporary directories, C plugins compiled with `cc`.
enum Fixtures {
    /// Where SwiftPM put the plugin libraries and the worker (next to the test binary).
    static var buildDirectory: String { defaultPluginDirectories().last! }

    static let headerDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/CPolicyPlugin/include").path

    static var logger: Logger {
        var logger = Logger(label: "test.policy")
        logger.logLevel = .critical
        return logger
    }

    /// A fresh temporary directory.
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("policy-tests-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The path of a built plugin library, e.g. `library("AcceptAll")`.
    static func library(_ name: String) -> String { "\(buildDirectory)/lib\(name).so" }

    /// Loads a built plugin and creates an instance with `config`.
    static func instance(_ name: String, config: String = "{}") throws -> PluginInstance {
        try PluginLibrary.load(path: library(name)).makeInstance(configurationJSON: config)
    }

    /// A C test plugin whose behaviour the request and the configuration select (see `testPluginSource`).
    static let testPluginSource = #"""
        #include "ctlive_policy_plugin.h"
        #include <stddef.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <unistd.h>

        #ifndef PLUGIN_ID
        #define PLUGIN_ID "com.test.misbehave"
        #endif
        #ifndef PLUGIN_NAME
        #define PLUGIN_NAME "Misbehave"
        #endif
        #ifndef ABI_MAJOR
        #define ABI_MAJOR CTLIVE_POLICY_ABI_MAJOR
        #endif
        #ifndef ABI_MINOR
        #define ABI_MINOR CTLIVE_POLICY_ABI_MINOR
        #endif

        static char *dup_text(const char *t) { char *c = malloc(strlen(t) + 1); strcpy(c, t); return c; }

        typedef struct { int sleep_ms; } inst;

        static int32_t t_create(const char *config, void **out, char **err) {
            if (strstr(config, "\"fail\"")) { *err = dup_text("told to fail: no licence key configured"); return CTLIVE_POLICY_ERROR; }
            inst *i = calloc(1, sizeof *i);
            const char *ms = strstr(config, "\"sleepMs\":");
            if (ms) i->sleep_ms = atoi(ms + 10);
            *out = i;
            return CTLIVE_POLICY_OK;
        }

        /* The request's contactID selects the behaviour. */
        static int32_t t_decide(void *p, const char *req, int32_t *verdict, char **reason) {
            inst *i = p;
            if (strstr(req, "\"contactID\":\"segv\"")) { volatile int *np = NULL; *np = 42; }
            if (strstr(req, "\"contactID\":\"hang\"")) { volatile unsigned long n = 0; for (;;) n++; }
            if (strstr(req, "\"contactID\":\"error\"")) { *reason = dup_text("internal error in the test plugin"); return CTLIVE_POLICY_ERROR; }
            if (strstr(req, "\"contactID\":\"badverdict\"")) { *verdict = 7; return CTLIVE_POLICY_OK; }
            if (strstr(req, "\"contactID\":\"print\"")) { printf("garbage on stdout\n"); fflush(stdout); }
            if (strstr(req, "\"contactID\":\"hugereason\"")) {
                size_t n = 64u << 20; char *r = malloc(n + 1); memset(r, 'x', n); r[n] = 0;
                *verdict = CTLIVE_POLICY_ACCEPT; *reason = r; return CTLIVE_POLICY_OK;
            }
            if (strstr(req, "\"contactID\":\"slow\"")) usleep(i->sleep_ms * 1000);
            if (strstr(req, "\"contactID\":\"abstain\"")) { *verdict = CTLIVE_POLICY_ABSTAIN; *reason = dup_text("test abstains"); return CTLIVE_POLICY_OK; }
            if (strstr(req, "\"contactID\":\"refuse\"")) { *verdict = CTLIVE_POLICY_REFUSE; *reason = dup_text("test refuses"); return CTLIVE_POLICY_OK; }
            *verdict = CTLIVE_POLICY_ACCEPT;
            *reason = dup_text("test accepts");
            return CTLIVE_POLICY_OK;
        }

        static void t_free(char *t) { free(t); }
        static void t_destroy(void *p) { free(p); }

        typedef struct { ctlive_policy_plugin_descriptor d; void *future_field; } bigger;

        static const bigger descriptor = { {
        #ifdef STRUCT_SIZE
            STRUCT_SIZE,
        #elif defined(BIGGER)
            sizeof(bigger),
        #else
            sizeof(ctlive_policy_plugin_descriptor),
        #endif
            ABI_MAJOR, ABI_MINOR, PLUGIN_ID, PLUGIN_NAME, "0.1.0", "A plugin that misbehaves on request.", "MIT",
            t_create,
        #ifdef NO_DECIDE
            NULL,
        #else
            t_decide,
        #endif
            t_free, t_destroy }, (void *)1 };

        #ifndef NO_ENTRY
        CTLIVE_POLICY_EXPORT const ctlive_policy_plugin_descriptor *ctlive_policy_plugin_entry(void) { return &descriptor.d; }
        #else
        CTLIVE_POLICY_EXPORT int some_other_symbol(void) { return descriptor.d.abi_major; }
        #endif
        """#

    /// Compiles the test plugin with `defines` into `directory/name` using `cc -shared`.
    @discardableResult
    static func compileTestPlugin(_ name: String, in directory: String, defines: [String] = []) throws -> String {
        let source = "\(directory)/\(name).c"
        try testPluginSource.write(toFile: source, atomically: true, encoding: .utf8)
        let output = "\(directory)/\(name)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["cc", "-shared", "-fPIC", "-O0", "-I", headerDirectory] + defines.map { "-D\($0)" } + ["-o", output, source]
        let stderr = Pipe()
        process.standardError = stderr
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw CompileError(message: "cc failed for \(name): \(text)")
        }
        return output
    }

    /// A decision context with sensible defaults.
    static func context(
        contactID: String = "contact-1", queue: String? = nil, customerID: String = "customer-1",
        attributes: [String: String] = [:], agent: String = "A1", activeVideoSessions: Int = 0, timeZone: String? = nil,
        useVideo: Bool = true, utc: String = "2026-11-27T10:00:00Z", recordersIdle: Int = 1, agentConnected: Bool = true
    ) -> DecisionContext {
        let date = try! Date(utc, strategy: .iso8601)
        return DecisionContext(
            contactID: contactID, queue: queue, customer: .init(id: customerID, attributes: attributes),
            agent: .init(id: agent, activeVideoSessions: activeVideoSessions, timeZone: timeZone),
            request: .init(useAudio: true, useVideo: useVideo, divID: "video"),
            time: .init(date, agentTimeZone: timeZone), recorders: .init(idle: recordersIdle),
            chat: .init(messages: 5, durationSeconds: 120), agentConnected: agentConnected)
    }

    static func json(_ context: DecisionContext) -> String {
        String(decoding: try! JSONEncoder().encode(context), as: UTF8.self)
    }

    /// Writes `text` as a policy file in `directory` and returns its path.
    static func writePolicy(_ text: String, in directory: String, name: String = "policy.json") throws -> String {
        let path = "\(directory)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func engine(policy: String, directories: [String]? = nil, audit: String? = nil) throws -> PolicyEngine {
        try PolicyEngine(
            policyPath: policy, pluginDirectories: directories ?? [buildDirectory], auditLogPath: audit, logger: logger)
    }
}

struct CompileError: Error { var message: String }

extension PluginInstance {
    /// Decides and expects a verdict.
    func verdict(_ context: DecisionContext, file: StaticString = #filePath, line: UInt = #line) -> Verdict? {
        switch decide(requestJSON: Fixtures.json(context)) {
        case .verdict(let verdict): return verdict
        case .error(let message):
            XCTFail("plugin error: \(message)", file: file, line: line)
            return nil
        }
    }
}
