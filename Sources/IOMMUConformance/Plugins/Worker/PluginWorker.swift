import Foundation
import IOMMUReference
import IOMMUSpec

/// The worker side: `iommu-check worker --plugin PATH` loads the plug-in and serves requests on
/// its standard input and output, so the checker survives a plug-in that crashes or hangs.
public enum PluginWorker {
    /// Serves until the checker closes the channel; returns the process exit status.
    public static func serve(pluginPath: String, sharedPath: String? = nil, spinMicroseconds: UInt64 = 0) -> Int32 {
        WorkerRoundTrips.configure(spinMicroseconds: spinMicroseconds)
        // The signal mask survives exec: undo whatever the checker's thread blocked, so the
        // plug-in runs as it would on its own.
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        // The protocol gets its own descriptors, close-on-exec; whatever the plug-in prints goes
        // to stderr, and what it reads from stdin is end of file.
        let protocolInput = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3)
        let protocolOutput = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)
        dup2(STDERR_FILENO, STDOUT_FILENO)
        let null = open("/dev/null", O_RDONLY)
        if null >= 0 { dup2(null, STDIN_FILENO); close(null) }
        let channel = FrameChannel(input: protocolInput, output: protocolOutput)
        watchParent()
        let library: PluginLibrary
        do {
            library = try PluginLibrary(path: pluginPath)
        } catch {
            _ = channel.send([FrameKind.hello.rawValue, 1] + Words.pack(error.description))
            return 1
        }
        // Mapped before the hello, which tells the checker it may use it.
        let shared = sharedPath.flatMap(SharedFrames.attach)
        guard channel.send(LoadedPlugin(library).helloWords) else { return 1 }
        if let shared { channel.attach(shared, toWorker: false) }
        let server = WorkerServer(library: library, channel: channel)
        while case .success(let frame) = channel.receive(timeout: nil) {
            guard frame.first == FrameKind.request.rawValue else { return 2 }
            guard server.answer(Array(frame.dropFirst())) else { return 2 }
        }
        return 0
    }
}

/// Exits the worker when the checker is gone (its parent changes), even while the plug-in
/// spins in a call: a checker stopped by SIGINT or SIGTERM leaves no worker at 100% CPU.
private func watchParent() {
    let parent = getppid()
    var thread = pthread_t()
    let started = pthread_create(&thread, nil, { parent in
        let checker = pid_t(Int(bitPattern: parent))
        while getppid() == checker { usleep(200_000) }
        _exit(4)
    }, UnsafeMutableRawPointer(bitPattern: Int(parent)))
    if started == 0 { pthread_detach(thread) }
}

/// Dispatches requests to in-process plug-in wrappers over the worker's copies of the hosts.
final class WorkerServer {
    let library: PluginLibrary
    let channel: FrameChannel
    private var objects: [UInt64: AnyObject] = [:]
    private var nextHandle: UInt64 = 1

    init(library: PluginLibrary, channel: FrameChannel) {
        self.library = library
        self.channel = channel
    }

    private static let creates: Set<UInt64> = [WorkerOp.asCreate.rawValue, WorkerOp.isoCreate.rawValue, WorkerOp.shadowCreate.rawValue, WorkerOp.irqCreate.rawValue,
                                               WorkerOp.pdmaCreate.rawValue]
    /// What a batch may not hold: requests that make or end an object, and batches.
    private static let notInBatch: Set<WorkerOp> = [.asCreate, .isoCreate, .shadowCreate, .irqCreate, .pdmaCreate, .destroy, .batch]

    /// Handles one request and sends its result frame.
    func answer(_ request: [UInt64]) -> Bool {
        let results = handle(request)
        let target = request.count > 1 && !Self.creates.contains(request[0]) ? objects[request[1]] : nil
        let failure = (target as? ReportsForeignFailures)?.takeForeignFailure() ?? ""
        return channel.send([FrameKind.result.rawValue] + Words.pack(failure) + results)
    }

    private func store(_ object: AnyObject) -> [UInt64] {
        let handle = nextHandle
        nextHandle += 1
        objects[handle] = object
        return [0, handle]
    }

    private func handle(_ request: [UInt64]) -> [UInt64] {
        guard let first = request.first, let op = WorkerOp(rawValue: first) else { return [UInt64.max] }
        let args = Array(request.dropFirst())
        func arg(_ i: Int) -> UInt64 { i < args.count ? args[i] : 0 }
        func int(_ i: Int) -> Int { Int(truncatingIfNeeded: min(arg(i), UInt64(Int32.max))) }
        let object = objects[arg(0)]
        switch op {
        case .destroy:
            objects[arg(0)] = nil
            return []
        case .batch:
            // handle, count, then each request as its length and words (opcode, arguments).
            var results = [arg(1)], at = 2
            let count = Int(min(arg(1), 64))
            for done in 0..<count {
                let length = Int(min(arg(at), UInt64(args.count)))
                guard length >= 1, at + 1 + length <= args.count, let inner = WorkerOp(rawValue: args[at + 1]), !Self.notInBatch.contains(inner) else { return [UInt64.max] }
                let answer = handle([inner.rawValue, arg(0)] + args[(at + 2)..<(at + 1 + length)])
                results += [UInt64(answer.count)] + answer
                at += 1 + length
                // A map that was not carried out ends the case: the probes after it are not run,
                // as in process; their answers come back empty.
                if inner == .asMap && answer == [WorkerCoding.status(.unobservable)] {
                    results += Array(repeating: 0, count: count - done - 1)
                    break
                }
            }
            return results
        case .asCreate:
            guard let configuration = WorkerCoding.configuration(args), let space = try? PluginAddressSpace(library: library, configuration: configuration) else { return [1] }
            return store(space)
        case .asTranslateMany:
            guard let space = object as? PluginAddressSpace else { return [UInt64.max] }
            let count = min(int(1), 1 << 12, (args.count - 2) / 2)
            let probes = (0..<max(count, 0)).map { (iova: arg(2 + 2 * $0), access: arg(3 + 2 * $0) == 2 ? Access.write : .read) }
            // One translate_many call where the plug-in has it.
            return space.translations(probes).flatMap { answer -> [UInt64] in
                switch answer {
                case .success(let phys): [0, phys]
                case .failure(let fault): [UInt64((TranslationFault.allCases.firstIndex(of: fault) ?? 0) + 1), 0]
                }
            }
        case .asMap, .asUnmap, .asUnmapAll, .asTranslate, .asMappings:
            guard let space = object as? PluginAddressSpace else { return [UInt64.max] }
            switch op {
            case .asMap:
                return [WorkerCoding.status(space.map(iova: arg(1), length: arg(2), phys: arg(3), permissions: Permissions(rawValue: UInt8(truncatingIfNeeded: arg(4)))).failureOrNil)]
            case .asUnmap: return WorkerCoding.words(space.unmap(iova: arg(1), length: arg(2)))
            case .asUnmapAll: return WorkerCoding.words(space.unmapAll(iova: arg(1), length: arg(2)))
            case .asTranslate:
                switch space.translate(iova: arg(1), access: arg(2) == 2 ? .write : .read) {
                case .success(let phys): return [0, phys]
                case .failure(let fault): return [UInt64(TranslationFault.allCases.firstIndex(of: fault)! + 1), 0]
                }
            default: return WorkerCoding.extentWords(space.mappings(in: arg(1)...max(arg(1), arg(2))))
            }
        case .isoCreate:
            guard let topology = WorkerCoding.topology(args) else { return [1] }
            guard let probed = try? ProbedIsolation(library: library, topology: topology) else { return [1] }
            return store(probed)
        case .isoStep:
            // handle, focus flag (1: a list follows), focus count, the groups, then the operation.
            guard let probed = object as? ProbedIsolation, args.count >= 4 else { return [UInt64.max] }
            let count = Int(min(arg(2), UInt64(args.count)))
            guard args.count >= 4 + count else { return [UInt64.max] }
            let focus = arg(1) == 1 ? args[3..<(3 + count)].map { Int(min($0, 1 << 20)) } : nil
            let inner = args[3 + count]
            guard inner != WorkerOp.isoStep.rawValue else { return [UInt64.max] }
            return probed.step(focus: focus) { handle([inner, arg(0)] + args[(4 + count)...]) }
        case .isoBind, .isoClaim, .isoRelease, .isoAttach, .isoDetach, .isoAttachPASID, .isoDetachPASID, .isoDMA, .isoOwner,
             .isoClaimDevice, .isoReleaseDevice, .isoAttachDevice, .isoDetachDevice:
            guard let system = (object as? ProbedIsolation)?.system else { return [UInt64.max] }
            let result: Result<Void, IsolationError>
            switch op {
            case .isoBind: result = system.bind(device: int(1), driver: Driver.allCases[min(int(2), Driver.allCases.count - 1)])
            case .isoClaimDevice: result = system.claimDevice(context: int(1), device: int(2))
            case .isoReleaseDevice: result = system.releaseDevice(context: int(1), device: int(2))
            case .isoAttachDevice: result = system.attachDevice(context: int(1), device: int(2), domain: int(3))
            case .isoDetachDevice: result = system.detachDevice(context: int(1), device: int(2))
            case .isoClaim: result = system.claim(context: int(1), group: int(2))
            case .isoRelease: result = system.release(context: int(1), group: int(2))
            case .isoAttach: result = system.attach(context: int(1), group: int(2), domain: int(3))
            case .isoDetach: result = system.detach(context: int(1), group: int(2))
            case .isoAttachPASID: result = system.attachPASID(context: int(1), device: int(2), pasid: UInt32(truncatingIfNeeded: arg(3)), domain: int(4))
            case .isoDetachPASID: result = system.detachPASID(context: int(1), device: int(2), pasid: UInt32(truncatingIfNeeded: arg(3)))
            case .isoDMA:
                let pasid = arg(2) == 0 ? nil : UInt32(truncatingIfNeeded: arg(2))
                return WorkerCoding.words(system.dma(device: int(1), pasid: pasid, iova: arg(3), access: arg(4) == 2 ? .write : .read))
            default:
                return [system.owner(of: int(1)).map { UInt64($0) } ?? UInt64.max]
            }
            switch result {
            case .success: return [0]
            case .failure(let error): return [UInt64(IsolationError.allCases.firstIndex(of: error)! + 1)]
            }
        case .shadowCreate:
            guard let configuration = WorkerCoding.shadowConfiguration(args), let mirror = try? ShadowMirror(library: library, configuration: configuration) else { return [1] }
            return store(mirror)
        case .shadowInvalidate:
            guard let mirror = object as? ShadowMirror else { return [UInt64.max] }
            let domain = int(2)
            let invalidation: Invalidation = switch arg(1) {
            case 0: .pageSelective(domain: domain, iova: arg(3), order: int(4))
            case 1: .domain(domain)
            case 2: .global
            default: .context(domain)
            }
            if arg(5) == 1 && !WorkerCoding.load(args[6...], into: mirror.guest) { return [UInt64.max] }
            return mirror.invalidate(invalidation)
        case .irqCreate:
            guard args.count >= 4 else { return [1] }
            let configuration = InterruptConfiguration(vectors: int(0), dynamicAllocation: arg(1) != 0, defaultPASID: UInt32(truncatingIfNeeded: arg(2)),
                                                       policy: arg(3) == 0 ? .emulated : .passThrough)
            guard let mirror = try? InterruptMirror(library: library, configuration: configuration) else { return [1] }
            return store(mirror)
        case .irqStep:
            guard let mirror = object as? InterruptMirror else { return [UInt64.max] }
            return mirror.step(args[1...])
        case .pdmaCreate:
            guard let configuration = ProtectedDMACoding.configuration(args), let mirror = try? ProtectedDMAMirror(library: library, configuration: configuration) else { return [1] }
            return store(mirror)
        case .pdmaStep:
            guard let mirror = object as? ProtectedDMAMirror else { return [UInt64.max] }
            return mirror.step(args[1...])
        default:
            return [UInt64.max]
        }
    }
}

extension Result {
    /// The error of a failure, nil for a success.
    var failureOrNil: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// A shadow plug-in in the worker, over copies of the checker's guest and host: the checker
/// sends the guest table when it changed, the plug-in resyncs against the copies in this
/// process, and the host calls it made (with the statuses it got) go back in one answer. The
/// checker replays them on its own host under its monitor, as it replays a recorded trace,
/// and checks each status is the one its host gives. One round trip per invalidation.
final class ShadowMirror: ReportsForeignFailures {
    let guest: GuestIOMMU
    let host: ShadowHost
    let layer: PluginShadow

    init(library: PluginLibrary, configuration: ShadowConfiguration) throws(ImplementationUnavailable) {
        guest = GuestIOMMU(configuration: configuration)
        host = ShadowHost(configuration: configuration) { AddressSpaceModel(configuration: $0) }
        layer = try PluginShadow(library: library, configuration: configuration, guest: guest, host: host)
    }

    func invalidate(_ invalidation: Invalidation) -> [UInt64] {
        var calls: [(call: ShadowHost.Call, error: AddressSpaceError?)] = []
        host.onCall = { call, done, error in if done { calls.append((call, error)) } }
        let result = layer.invalidate(invalidation)
        host.onCall = nil
        return [result == .insufficientResources ? 1 : 0] + WorkerCoding.callWords(calls)
    }

    func takeForeignFailure() -> String? { layer.takeForeignFailure() }
    var foreignFailurePending: Bool { layer.foreignFailurePending }
}
