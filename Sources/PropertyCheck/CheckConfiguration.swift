import Foundation

/// How a check runs: seed, number of cases, shrink budget, health thresholds, where failures
/// are saved and replayed from. `fromEnvironment` lets CI and nightly jobs set the seed, cases
/// and budget without code changes.
public struct CheckConfiguration: Sendable {
    /// Names the check in reports, regression files and the default replay command.
    public var name: String
    public var seed: UInt64
    public var cases: Int
    public var maxChoices: Int = 100_000
    public var shrinkBudget = Shrinker.Budget()
    public var health = HealthCheck()
    /// A directory whose files (byte-encoded choice sequences) are replayed before generation.
    public var regressionsDirectory: String?
    /// Whether a new shrunk failure is written to `regressionsDirectory`.
    public var savesRegressions = false
    /// When set, the run replays only this byte-encoded choice sequence. When nil, a replay
    /// asked for in the environment (`ReplayRequest`) applies, unless `readsEnvironmentReplay`
    /// is off.
    public var replay: [UInt8]?
    /// Whether `IOMMU_CHECK_REPLAY` applies to this check (the command line turns it off: its
    /// own `--replay` is the way there).
    public var readsEnvironmentReplay = true
    /// The environment a replay request is read from (the process's, unless a test sets one).
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Inputs replayed after the regressions and before generation (a shipped seed corpus):
    /// a failing one is shrunk and reported like a saved regression.
    public var corpus: [(name: String, bytes: [UInt8])] = []
    /// The shell command that replays a failure, given its base64 choice sequence. The default
    /// runs every test with the replay bound to this check's name, which is right wherever the
    /// check lives; a runner that knows the test (the Swift Testing integration) narrows it.
    public var replayCommand: @Sendable (_ base64: String) -> String
    /// Called every `progressInterval` cases with (cases done, cases planned).
    public var progress: (@Sendable (Int, Int) -> Void)?
    /// Called while a failure shrinks, with (runs so far, current length in choices), at most
    /// every `shrinkProgressInterval` runs.
    public var shrinkProgress: (@Sendable (Int, Int) -> Void)?
    public var shrinkProgressInterval = 200
    /// Asked before each generated case: true ends the run there, with the statistics of the
    /// cases before it (the command line's SIGINT). Cases already running finish.
    public var stopRequested: (@Sendable () -> Bool)?
    /// Threads the generated cases run on. The verdict, the shrunk failure and the statistics
    /// are the same for any count: cases run in blocks, and the failing case with the lowest
    /// index wins, with the statistics of the cases up to it. The test case must then be safe
    /// to call from several threads at once (each call building its own state).
    public var jobs = 1
    /// The index of the first generated case: a run of `cases` cases from `firstCase` is that
    /// part of the run from 0, case for case (a campaign resumed after a failure).
    public var firstCase = 0
    /// Called before the shrunk failure is confirmed, so it runs as its replay command will:
    /// a plug-in check starts a fresh worker here. A failure that then passes is reported as
    /// not reproducing, with the first failure's message.
    public var freshStart: (@Sendable () -> Void)?
    public var progressInterval = 1_000
    /// Edge and small-value bias of random generation (`ChoiceStream.edgeBias`); the detection
    /// benchmark turns it off to measure it.
    public var edgeBias = true

    public init(name: String, seed: UInt64? = nil, cases: Int = 100) {
        self.name = name
        self.seed = seed ?? Self.defaultSeed(for: name)
        self.cases = cases
        self.replayCommand = { base64 in "IOMMU_CHECK_REPLAY=\(base64) IOMMU_CHECK_REPLAY_CHECK=\(shellQuoted(name)) swift test" }
    }

    /// A fixed seed per check name, so `swift test` is reproducible unless a seed is given.
    public static func defaultSeed(for name: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01B3 }
        return hash
    }

    /// The configuration `name` gets from the environment:
    /// `IOMMU_CHECK_SEED` (decimal, 0x-hex, or `random`), `IOMMU_CHECK_CASES`,
    /// `IOMMU_CHECK_SHRINK_RUNS`, `IOMMU_CHECK_SHRINK_SECONDS`, `IOMMU_CHECK_REPLAY` (base64).
    /// A malformed value is an error that names the variable, not a silent default.
    public static func fromEnvironment(
        name: String,
        cases: Int = 100,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> CheckConfiguration {
        var configuration = CheckConfiguration(name: name, cases: cases)
        configuration.environment = environment
        if let text = environment["IOMMU_CHECK_SEED"] { configuration.seed = try parseSeed(text) }
        if let text = environment["IOMMU_CHECK_CASES"] {
            configuration.cases = try parsePositive(text, variable: "IOMMU_CHECK_CASES")
        }
        if let text = environment["IOMMU_CHECK_SHRINK_RUNS"] {
            configuration.shrinkBudget.runs = try parsePositive(text, variable: "IOMMU_CHECK_SHRINK_RUNS")
        }
        if let text = environment["IOMMU_CHECK_SHRINK_SECONDS"] {
            guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
                throw ConfigurationError(variable: "IOMMU_CHECK_SHRINK_SECONDS", value: text, expected: "a positive number of seconds")
            }
            configuration.shrinkBudget.seconds = seconds
        }
        // Checked here so a malformed one fails before anything runs; the check applies it.
        _ = try ReplayRequest.fromEnvironment(environment)
        return configuration
    }

    /// Parses a seed: decimal, `0x` hexadecimal, or `random` (a fresh seed, printed with any failure).
    public static func parseSeed(_ text: String) throws(ConfigurationError) -> UInt64 {
        if text == "random" { return UInt64.random(in: .min ... .max) }
        let parsed = text.lowercased().hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        guard let seed = parsed else {
            throw ConfigurationError(variable: "IOMMU_CHECK_SEED", value: text, expected: "a decimal or 0x-hex unsigned 64-bit integer, or 'random'")
        }
        return seed
    }

    private static func parsePositive(_ text: String, variable: String) throws(ConfigurationError) -> Int {
        guard let value = Int(text), value > 0 else {
            throw ConfigurationError(variable: variable, value: text, expected: "a positive integer")
        }
        return value
    }
}

/// A configuration value that cannot be used; says which, what it was, and what was expected.
public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    public let variable: String
    public let value: String
    public let expected: String

    public init(variable: String, value: String, expected: String) {
        self.variable = variable
        self.value = value
        self.expected = expected
    }

    public var description: String { "\(variable)='\(value)' is not usable: expected \(expected)" }
}
