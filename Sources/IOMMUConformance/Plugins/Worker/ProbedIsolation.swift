import IOMMUSpec

/// An isolation plug-in in the worker, probed here: at every checkpoint the worker takes the
/// view the checker's monitor would ask for (every group's owner, DMA from the devices of the
/// groups in focus), and after the operation the view of every device. The checker judges
/// them all from one answer: one round trip per operation instead of three per checkpoint
/// and two after it.
final class ProbedIsolation: ReportsForeignFailures {
    let system: PluginIsolation
    let topology: Topology
    let pasids: [UInt32?]
    /// The groups checkpoints probe during the current operation (nil: every group).
    var focus: [Int]?
    /// The views taken at this operation's checkpoints, in order, each `viewWords`.
    private(set) var views: [[UInt64]] = []
    private var viewWordCount = 0
    /// Words of views kept per operation: a plug-in that loops calling `checkpoint` cannot fill
    /// the worker's memory before its timeout.
    static let viewWordLimit = 1 << 21
    private var overflow: String?

    init(library: PluginLibrary, topology: Topology) throws(ImplementationUnavailable) {
        let owner = WeakReference<ProbedIsolation>()
        system = try PluginIsolation(library: library, topology: topology, checkpoint: { owner.value?.checkpoint() })
        self.topology = topology
        pasids = [nil] + topology.probedPASIDs.map { Optional($0) }
        owner.value = self
    }

    private func checkpoint() {
        guard viewWordCount < Self.viewWordLimit else {
            overflow = overflow ?? "the plug-in called checkpoint more than \(views.count) times in one operation (the worker keeps no more views)"
            return
        }
        let view = viewWords(groups: focus)
        viewWordCount += view.count
        views.append(view)
    }

    /// Runs `operation` with the checkpoint focus it came with; returns its results, then the
    /// checkpoint views and the view after it.
    func step(focus: [Int]?, _ operation: () -> [UInt64]) -> [UInt64] {
        self.focus = focus?.filter { topology.groups.indices.contains($0) }
        views = []
        viewWordCount = 0
        let results = operation()
        var answer = [UInt64(results.count)] + results
        answer.append(UInt64(views.count))
        for view in views { answer += view }
        return answer + viewWords(groups: nil)
    }

    /// Every group's owner (UInt64.max: the kernel), then the outcome of each probe: by device
    /// (`IsolationView.devices`), PASID (untagged first), access.
    func viewWords(groups: [Int]?) -> [UInt64] {
        var words = (0..<topology.groups.count).map { system.owner(of: $0).map { UInt64(truncatingIfNeeded: $0) } ?? UInt64.max }
        for device in IsolationView.devices(of: groups, topology) {
            for pasid in pasids {
                for access in Access.allCases {
                    WorkerCoding.append(system.dma(device: device, pasid: pasid, iova: IsolationProbe.iova, access: access), to: &words)
                }
            }
        }
        return words
    }

    func takeForeignFailure() -> String? {
        defer { overflow = nil }
        return overflow ?? system.takeForeignFailure()
    }

    var foreignFailurePending: Bool { overflow != nil || system.foreignFailurePending }
}

/// A reference to an object created after the closure that needs it.
final class WeakReference<Object: AnyObject> {
    weak var value: Object?
}
