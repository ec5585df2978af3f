import Foundation
import IOMMUSpec

/// The checker's side of one plug-in worker process. A call sends a request and serves the
/// worker's callbacks until the result arrives. If the worker dies or does not answer within
/// the timeout, the connection is dead and says why; the pool starts a new worker for the
/// next case, so the campaign goes on.
final class WorkerConnection {
    private let process: Process
    private let channel: FrameChannel
    /// The write end of the worker's standard input. Closed through its FileHandle, never by
    /// descriptor: the handle closes its descriptor again when it is freed, and by then another
    /// thread may own that number (a second close broke a concurrent worker's pipe).
    private let toWorkerHandle: FileHandle
    /// Held so the read end stays open, by this object, for as long as the channel uses it.
    private let fromWorkerHandle: FileHandle
    let timeout: Double
    /// Why the worker is gone, once it is.
    private(set) var death: String?

    init(executable: String, pluginPath: String, timeout: Double) throws(PluginError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["worker", "--plugin", pluginPath]
        // A crashing plug-in is expected here: skip Swift's backtracer, which takes far longer
        // than restarting the worker.
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        // Under `swift test --enable-code-coverage` a worker killed as hung or crashed would
        // leave a truncated profile that makes the coverage merge fail; workers write none.
        environment["LLVM_PROFILE_FILE"] = "/dev/null"
        process.environment = environment
        let toWorker = Pipe(), fromWorker = Pipe()
        process.standardInput = toWorker
        process.standardOutput = fromWorker
        do {
            try process.run()
        } catch {
            throw PluginError("cannot start the plug-in worker '\(executable)': \(error)")
        }
        self.process = process
        self.timeout = timeout
        toWorkerHandle = toWorker.fileHandleForWriting
        fromWorkerHandle = fromWorker.fileHandleForReading
        channel = FrameChannel(input: fromWorker.fileHandleForReading.fileDescriptor, output: toWorker.fileHandleForWriting.fileDescriptor)
        switch channel.receive(timeout: max(timeout, 10)) {
        case .success(let hello) where hello.first == FrameKind.hello.rawValue && hello.count >= 2:
            if hello[1] != 0 {
                var index = 2
                let message = Words.unpack(hello, &index) ?? "the worker could not load the plug-in"
                process.waitUntilExit()
                throw PluginError(message)
            }
        default:
            throw PluginError("the plug-in worker '\(executable)' did not start: \(describeExit())")
        }
    }

    deinit {
        if process.isRunning {
            try? toWorkerHandle.close()
            kill()
            process.waitUntilExit()
        }
    }

    /// Runs `request`; `callback` answers the worker's host callbacks. On success returns the
    /// foreign-failure text the worker reported (empty for none) and the result words.
    func call(_ request: [UInt64], during description: String, callback: ([UInt64]) -> [UInt64]) -> Result<(failure: String, results: [UInt64]), PluginError> {
        if let death { return .failure(PluginError(death)) }
        guard channel.send([FrameKind.request.rawValue] + request) else { return .failure(die("closed its input during \(description)")) }
        while true {
            switch channel.receive(timeout: timeout) {
            case .success(let frame):
                guard let kind = frame.first else { return .failure(die("sent an empty frame during \(description)")) }
                if kind == FrameKind.result.rawValue {
                    var index = 1
                    guard let failure = Words.unpack(frame, &index) else { return .failure(die("sent a malformed result during \(description)")) }
                    return .success((failure, Array(frame[index...])))
                }
                guard kind == FrameKind.callback.rawValue else { return .failure(die("sent frame kind \(kind) during \(description)")) }
                let answer = callback(Array(frame.dropFirst()))
                guard channel.send([FrameKind.callbackResult.rawValue] + answer) else { return .failure(die("closed its input during \(description)")) }
            case .failure(.timedOut):
                kill()
                return .failure(die("hung: no answer within \(timeout) s during \(description), so it was killed"))
            case .failure(.closed):
                return .failure(die("\(describeExit()) during \(description)"))
            case .failure(.malformed(let what)):
                return .failure(die("sent \(what) during \(description)"))
            }
        }
    }

    private func die(_ message: String) -> PluginError {
        death = "the plug-in worker \(message)"
        if process.isRunning { kill() }
        return PluginError(death!)
    }

    /// SIGKILL, not SIGTERM: a worker started from a thread that blocks SIGTERM (libdispatch's
    /// threads do, and the mask survives exec) would ignore it and hang the checker in wait.
    private func kill() {
        _ = Glibc.kill(process.processIdentifier, SIGKILL)
    }

    /// "crashed with signal 11 (SIGSEGV)" or "exited with status 3".
    private func describeExit() -> String {
        process.waitUntilExit()
        let status = process.terminationStatus
        if process.terminationReason == .uncaughtSignal {
            let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGTERM: "SIGTERM"]
            return "crashed with signal \(status)\(names[status].map { " (\($0))" } ?? "")"
        }
        return "exited with status \(status)"
    }
}

/// Keeps one live worker per plug-in check, and replaces it when it dies.
final class WorkerPool: @unchecked Sendable {
    let executable: String
    let pluginPath: String
    let timeout: Double
    private var current: WorkerConnection?
    private let lock = NSLock()

    init(executable: String, pluginPath: String, timeout: Double) {
        self.executable = executable
        self.pluginPath = pluginPath
        self.timeout = timeout
    }

    func connection() throws(PluginError) -> WorkerConnection {
        lock.lock()
        defer { lock.unlock() }
        if let current, current.death == nil { return current }
        let fresh = try WorkerConnection(executable: executable, pluginPath: pluginPath, timeout: timeout)
        current = fresh
        return fresh
    }
}
