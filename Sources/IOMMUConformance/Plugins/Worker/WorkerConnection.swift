import Foundation
import IOMMUSpec

/// The checker's side of one plug-in worker process. A call sends a request and waits for its
/// result (the worker answers the plug-in's host callbacks from its own copies of the hosts).
/// If the worker dies or does not answer within the timeout, the connection is dead and says
/// why; the pool starts a new worker for the next case, so the campaign goes on.
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

    /// What the worker's hello said about the plug-in it loaded.
    private(set) var loaded = LoadedPlugin(name: "", abiVersion: 0, surfaces: [], refusals: [:])

    init(executable: String, pluginPath: String, timeout: Double) throws(PluginError) {
        // A worker that dies between two calls must be reported, not kill the checker with
        // SIGPIPE on the next write (exit 141, nothing printed).
        _ = Self.ignorePipeSignal
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        // Frames that fit travel through shared memory (SharedFrames); the pipe stays for the
        // rest, for wake-ups, and to tell when the worker is gone.
        let shared = SharedFrames.create()
        defer { shared?.unlinkName() }
        process.arguments = ["worker", "--plugin", pluginPath] + (shared.map { ["--shared", $0.path, "--spin-us", String(WorkerRoundTrips.spinNanoseconds / 1000)] } ?? [])
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
        switch channel.receive(timeout: max(2 * timeout, 2), alive: { Self.running(process) }) {
        case .success(let hello) where hello.first == FrameKind.hello.rawValue && hello.count >= 2:
            if hello[1] != 0 {
                var index = 2
                let message = Words.unpack(hello, &index) ?? "the worker could not load the plug-in"
                killGroup()
                throw PluginError(message)
            }
            guard let loaded = LoadedPlugin(hello: hello) else {
                killGroup()
                throw PluginError("the plug-in worker '\(executable)' sent a malformed hello (is it the same iommu-check?)")
            }
            self.loaded = loaded
            if let shared, shared.workerMapped { channel.attach(shared, toWorker: true) }
        case .failure(.timedOut):
            killGroup()
            throw PluginError("the plug-in worker did not finish loading '\(pluginPath)' within \(max(2 * timeout, 2)) s (a constructor or iommu_check_plugin_v2 that does not return?), so it was killed")
        default:
            throw PluginError("the plug-in worker did not start with '\(pluginPath)': it \(describeExit()) while loading it (a constructor or iommu_check_plugin_v2 that exits or crashes?)")
        }
    }

    private static let ignorePipeSignal: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Whether the worker still runs. Foundation's `isRunning` stays true for a while after
    /// the worker died (until its monitor thread reaps it), and forever when a child the
    /// plug-in forked holds the pipe; `WNOWAIT` asks the kernel without reaping it.
    private static func running(_ process: Process) -> Bool { exitStatus(process) == nil }

    deinit {
        try? toWorkerHandle.close()
        killGroup()
    }

    /// Runs `request`. On success returns the foreign-failure text the worker reported (empty
    /// for none) and the result words. `description` is built only for a failure.
    func call(_ request: [UInt64], during description: @autoclosure () -> String) -> Result<(failure: String, results: [UInt64]), PluginError> {
        if let death { return .failure(PluginError(death)) }
        guard channel.send([FrameKind.request.rawValue] + request) else { return .failure(die("\(describeExit()) before \(description())")) }
        switch channel.receive(timeout: timeout, alive: { [process] in Self.running(process) }) {
        case .success(let frame):
            guard frame.first == FrameKind.result.rawValue else {
                return .failure(die(frame.first.map { "sent frame kind \($0) during \(description())" } ?? "sent an empty frame during \(description())"))
            }
            var index = 1
            guard let failure = Words.unpack(frame, &index) else { return .failure(die("sent a malformed result during \(description())")) }
            return .success((failure, Array(frame[index...])))
        case .failure(.timedOut):
            killGroup()
            return .failure(die("hung: no answer within \(timeout) s during \(description()), so it was killed"))
        case .failure(.closed):
            return .failure(die("\(describeExit()) during \(description())"))
        case .failure(.malformed(let what)):
            return .failure(die("sent \(what) during \(description())"))
        }
    }

    private func die(_ message: String) -> PluginError {
        death = "the plug-in worker \(message)"
        killGroup()
        return PluginError(death!)
    }

    /// SIGKILL to the worker's process group, so children a plug-in forked (which hold the
    /// worker's pipes) go with it. SIGKILL, not SIGTERM: a worker started from a thread that
    /// blocks SIGTERM (libdispatch's threads do, and the mask survives exec) would ignore it.
    /// The worker leads its own group (Foundation's Process starts it so); if it did not, the
    /// group kill fails and the worker alone is killed.
    private func killGroup() {
        let pid = process.processIdentifier
        guard pid > 0 else { return }
        if getpgid(pid) == pid { _ = systemKill(-pid, SIGKILL) }
        _ = systemKill(pid, SIGKILL)
    }

    /// "crashed with signal 11 (SIGSEGV)" or "exited with status 3". A worker that is still
    /// running (it closed its output) is killed after a second, so this never hangs.
    private func describeExit() -> String {
        let deadline = ContinuousClock.now + .seconds(1)
        var killed = false
        while true {
            if let (code, status) = Self.exitStatus(process) {
                if killed { return "closed its channel while still running, and was killed" }
                if code == CLD_EXITED { return "exited with status \(status)" }
                return "crashed with signal \(status)\(Self.signalNames[status].map { " (\($0))" } ?? "")"
            }
            if ContinuousClock.now > deadline, !killed {
                killGroup()
                killed = true
            }
            usleep(1000)
        }
    }

    private static let signalNames: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGTERM: "SIGTERM"]

    /// How the worker ended (`CLD_EXITED` and its status, or the signal), nil while it runs.
    /// Asked with `WNOWAIT`, which leaves the worker for Foundation to reap.
    private static func exitStatus(_ process: Process) -> (code: Int32, status: Int32)? {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(process.processIdentifier), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else {
            // Already reaped by Foundation: its record has the answer.
            guard !process.isRunning else { return nil }
            return (process.terminationReason == .exit ? Int32(CLD_EXITED) : Int32(CLD_KILLED), process.terminationStatus)
        }
        guard info._sifields._sigchld.si_pid != 0 else { return nil }
        return (info.si_code, info._sifields._sigchld.si_status)
    }
}

/// The plug-in as the worker loaded it: the checker never loads it itself in worker mode, so a
/// constructor or entry point that exits, crashes, hangs or prints cannot touch the checker.
struct LoadedPlugin {
    var name: String
    var abiVersion: UInt32
    var surfaces: [Surface]
    /// Why a table the plug-in has is not used, by surface (version-1 isolation and shadow).
    var refusals: [Surface: String]
    var capabilities = PluginCapabilities()

    /// The surfaces whose refusal the hello carries, in its order.
    private static let refusable: [Surface] = [.isolation, .shadow]

    init(name: String, abiVersion: UInt32, surfaces: [Surface], refusals: [Surface: String]) {
        (self.name, self.abiVersion, self.surfaces, self.refusals) = (name, abiVersion, surfaces, refusals)
    }

    init(_ library: PluginLibrary) {
        self.init(name: library.name, abiVersion: library.abiVersion, surfaces: library.surfaces, refusals: library.refusals)
        capabilities = library.capabilities
    }

    /// hello, 0, surface mask, ABI version, name, isolation refusal, shadow refusal ("" for
    /// none), the capabilities' eight words.
    var helloWords: [UInt64] {
        let mask = surfaces.reduce(UInt64(0)) { mask, surface in mask | 1 << UInt64(Surface.allCases.firstIndex(of: surface) ?? 0) }
        return [FrameKind.hello.rawValue, 0, mask, UInt64(abiVersion)] + Words.pack(name) + Self.refusable.flatMap { Words.pack(refusals[$0] ?? "") } + capabilities.words
    }

    init?(hello: [UInt64]) {
        guard hello.count >= 4, hello[3] <= UInt64(UInt32.max) else { return nil }
        var index = 4
        guard let name = Words.unpack(hello, &index) else { return nil }
        var refusals: [Surface: String] = [:]
        for surface in Self.refusable {
            guard let refusal = Words.unpack(hello, &index) else { return nil }
            if !refusal.isEmpty { refusals[surface] = refusal }
        }
        let surfaces = Surface.allCases.enumerated().filter { hello[2] & 1 << UInt64($0.offset) != 0 }.map(\.element)
        self.init(name: name, abiVersion: UInt32(hello[3]), surfaces: surfaces, refusals: refusals)
        guard let capabilities = PluginCapabilities(words: hello[index...]) else { return nil }
        self.capabilities = capabilities
    }
}

/// Keeps one live worker per plug-in check and thread (cases of a `--jobs` run each use the
/// worker of their thread), and replaces one when it dies.
final class WorkerPool: @unchecked Sendable {
    let executable: String
    let pluginPath: String
    let timeout: Double
    private var workers: [pthread_t: (connection: WorkerConnection, generation: Int)] = [:]
    private let lock = NSLock()

    init(executable: String, pluginPath: String, timeout: Double) {
        self.executable = executable
        self.pluginPath = pluginPath
        self.timeout = timeout
    }

    /// What the first worker reported about the plug-in.
    private(set) var loaded: LoadedPlugin?

    /// Bumped by `retireAll`: a worker from an older generation is replaced.
    nonisolated(unsafe) private static var generation = 0
    private static let generationLock = NSLock()

    /// Makes every pool start a fresh worker for its next case (a failure is confirmed in a
    /// fresh process, as its replay command runs it).
    static func retireAll() {
        generationLock.lock()
        generation += 1
        generationLock.unlock()
    }

    func connection() throws(PluginError) -> WorkerConnection {
        Self.generationLock.lock()
        let generation = Self.generation
        Self.generationLock.unlock()
        let thread = pthread_self()
        lock.lock()
        if let current = workers[thread], current.connection.death == nil, current.generation == generation {
            lock.unlock()
            return current.connection
        }
        workers[thread] = nil
        lock.unlock()
        // Started outside the lock: other threads' workers go on meanwhile.
        let fresh = try WorkerConnection(executable: executable, pluginPath: pluginPath, timeout: timeout)
        lock.lock()
        workers[thread] = (fresh, generation)
        if loaded == nil { loaded = fresh.loaded }
        lock.unlock()
        return fresh
    }
}
