import Foundation

/// A replay asked for through the environment, which every check reads (not only those built
/// by `CheckConfiguration.fromEnvironment`): `IOMMU_CHECK_REPLAY` holds the base64 choice
/// sequence a failure printed, and `IOMMU_CHECK_REPLAY_CHECK`, when set, names the one check
/// that replays it; every other check then runs nothing (a test run selects tests, not
/// checks, and a test may hold several). A check that replays appends a line to the file
/// `IOMMU_CHECK_REPLAY_RECORD` names, so a runner can tell a replay from a filter that
/// matched nothing (`iommu-check replay-test`).
public struct ReplayRequest: Sendable, Equatable {
    public var bytes: [UInt8]
    /// The check that replays; nil: every check.
    public var check: String?

    public init(bytes: [UInt8], check: String? = nil) {
        self.bytes = bytes
        self.check = check
    }

    /// The request in `environment`, nil if there is none; a malformed one is an error that
    /// names the variable.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> ReplayRequest? {
        guard let text = environment["IOMMU_CHECK_REPLAY"] else { return nil }
        guard let data = Data(base64Encoded: text) else {
            throw ConfigurationError(variable: "IOMMU_CHECK_REPLAY", value: text, expected: "a base64 choice sequence as printed by a failure")
        }
        let check = environment["IOMMU_CHECK_REPLAY_CHECK"]
        if let check, check.isEmpty {
            throw ConfigurationError(variable: "IOMMU_CHECK_REPLAY_CHECK", value: check, expected: "the name of the check to replay, as a failure prints it")
        }
        return ReplayRequest(bytes: [UInt8](data), check: check)
    }

    /// Notes in `IOMMU_CHECK_REPLAY_RECORD`'s file, if one is named, that `check` replayed and
    /// whether it failed.
    static func record(check: String, failed: Bool, _ environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["IOMMU_CHECK_REPLAY_RECORD"], let handle = FileHandle(forWritingAtPath: path) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: Data("\(failed ? "failed" : "passed") \(check)\n".utf8))
    }

    /// The environment assignment that asks for this replay, quoted for a POSIX shell.
    public var environmentAssignment: String {
        let choices = "IOMMU_CHECK_REPLAY=\(Data(bytes).base64EncodedString())"
        return check.map { "\(choices) IOMMU_CHECK_REPLAY_CHECK=\(shellQuoted($0))" } ?? choices
    }
}

/// `text` as one word for a POSIX shell.
public func shellQuoted(_ text: String) -> String {
    guard text.contains(where: { !($0.isLetter || $0.isNumber || "-_./:=,@%+".contains($0)) }) || text.isEmpty else { return text }
    return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
