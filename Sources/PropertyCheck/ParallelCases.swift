import Foundation

/// The generated cases of a check, run on `jobs` threads. Cases are taken in blocks of
/// consecutive indices, each block by one thread in order, with its own statistics. When a case
/// fails, no block starting after it is taken; the lowest failing index wins, and only the
/// blocks up to it count, so the result is the same as one thread's, for any number of jobs.
final class ParallelCases: @unchecked Sendable {
    private(set) var failure: (index: Int, choices: [UInt64], found: CaseFailure)?
    private(set) var casesRun = 0
    /// A stop was requested before every case ran.
    private(set) var interrupted = false
    let statistics = Statistics()

    private let lock = NSLock()
    private var nextBlock = 0
    private var blocks: [(start: Int, statistics: Statistics, cases: Int)] = []
    private var done = 0
    private static let blockSize = 16

    private let stopRequested: (@Sendable () -> Bool)?

    init(_ configuration: CheckConfiguration, kindNames: [String], _ testCase: @escaping TestCase) {
        let cases = configuration.cases
        stopRequested = configuration.stopRequested
        // The test case builds its own state on every call (the contract of `jobs`).
        let shared = UncheckedBox(testCase)
        DispatchQueue.concurrentPerform(iterations: configuration.jobs) { _ in
            self.work(configuration, kindNames: kindNames, shared.value)
        }
        let last = failure?.index ?? cases
        for block in blocks.sorted(by: { $0.start < $1.start }) where block.start <= last {
            statistics.merge(block.statistics)
            casesRun += block.cases
        }
    }

    /// The next block's first index, or nil when the run is over (all taken, or past a failure).
    private func takeBlock(_ cases: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        let start = nextBlock * Self.blockSize
        guard start < cases, start <= (failure?.index ?? .max) else { return nil }
        if let stop = stopRequested, stop() {
            interrupted = true
            return nil
        }
        nextBlock += 1
        return start
    }

    private func work(_ configuration: CheckConfiguration, kindNames: [String], _ testCase: TestCase) {
        let stream = ChoiceStream(.random(seed: 0), maxChoices: configuration.maxChoices)
        stream.edgeBias = configuration.edgeBias
        while let start = takeBlock(configuration.cases) {
            let local = Statistics()
            stream.statistics = local
            var ran = 0
            for index in start..<min(start + Self.blockSize, configuration.cases) {
                stream.reset(.random(seed: caseSeed(runSeed: configuration.seed, caseIndex: configuration.firstCase + index)))
                let verdict = testCase(stream)
                ran += 1
                var failed = false
                switch verdict {
                case .pass: local.count(case: false, overran: stream.overran)
                case .discard: local.count(case: true, overran: stream.overran)
                case .fail(let found):
                    local.count(case: false, overran: stream.overran)
                    lock.lock()
                    if index < (failure?.index ?? .max) { failure = (index, stream.choices, found) }
                    lock.unlock()
                    failed = true
                }
                report(configuration)
                if failed { break }
            }
            local.fold(kindNames: kindNames)
            lock.lock()
            blocks.append((start, local, ran))
            lock.unlock()
        }
    }

    private func report(_ configuration: CheckConfiguration) {
        guard let progress = configuration.progress else { return }
        lock.lock()
        done += 1
        let now = done
        lock.unlock()
        if now % configuration.progressInterval == 0 { progress(now, configuration.cases) }
    }
}

/// A value handed to other threads under a contract the type system cannot see.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
