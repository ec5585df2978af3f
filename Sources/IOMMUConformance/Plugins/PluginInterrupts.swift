import CIOMMUCheck
import IOMMUSpec

/// A plug-in's MSI-X virtualization, called in this process; its host calls reach `host`.
final class PluginInterrupts: InterruptSystem, ReportsForeignFailures {
    private let library: PluginLibrary
    private let ops: iommu_check_interrupt_ops
    private var handle: UnsafeMutableRawPointer?
    private let table: UnsafeMutablePointer<iommu_check_interrupt_host>
    let host: any InterruptHostInterface
    private let vectors: Int
    fileprivate let failures = ForeignFailureBox()

    init(library: PluginLibrary, configuration: InterruptConfiguration, host: any InterruptHostInterface) throws(ImplementationUnavailable) {
        guard let ops = library.interrupts else {
            throw ImplementationUnavailable("plug-in '\(library.name)' does not provide the interrupts surface")
        }
        self.library = library
        self.ops = ops
        self.host = host
        vectors = configuration.vectors
        table = .allocate(capacity: 1)
        table.initialize(to: iommu_check_interrupt_host(
            context: nil,
            enable: { context, count in PluginInterrupts.unwrap(context, "enable")?.hostCall { $0.enable(count: Int(count)) } ?? 1 },
            disable: { context in PluginInterrupts.unwrap(context, "disable")?.host.disable() },
            grow: { context, count in PluginInterrupts.unwrap(context, "grow")?.hostCall { $0.grow(to: Int(count)) } ?? 1 },
            allocated: { context in UInt32(PluginInterrupts.unwrap(context, "allocated")?.host.allocated ?? 0) },
            set_trigger: { context, vector in PluginInterrupts.unwrap(context, "set_trigger")?.host.setTrigger(vector: Int(vector)) },
            set_pasid: { context, vector, has, pasid in PluginInterrupts.unwrap(context, "set_pasid")?.host.setPASID(vector: Int(vector), pasid: has == 0 ? nil : pasid) },
            latched_bits: { context in PluginInterrupts.unwrap(context, "latched_bits")?.host.latchedBits ?? 0 },
            take_latched: { context, vector in UInt32(clamping: PluginInterrupts.unwrap(context, "take_latched")?.host.takeLatched(vector: Int(vector)) ?? 0) },
            deliver: { context, vector, address, data in PluginInterrupts.unwrap(context, "deliver")?.host.deliver(vector: Int(vector), address: address, data: data) }))
        table.pointee.context = CallbackContext.make(self)
        var config = iommu_check_interrupt_config(vectors: UInt32(configuration.vectors), dynamic_allocation: configuration.dynamicAllocation ? 1 : 0,
                                                  default_pasid: configuration.defaultPASID, disabled_raises: configuration.policy.disabled == .pending ? 0 : 1)
        handle = ops.create!(&config, table)
        guard handle != nil else {
            table.deallocate()
            throw ImplementationUnavailable.refused("plug-in '\(library.name)' refused the interrupt configuration \(configuration)")
        }
    }

    deinit {
        ops.destroy!(handle)
        CallbackContext<PluginInterrupts>.end(table.pointee.context)
        table.deallocate()
    }

    private static func unwrap(_ context: UnsafeMutableRawPointer?, _ name: String) -> PluginInterrupts? {
        guard let owner = CallbackContext<PluginInterrupts>.owner(context, name), owner.callbackGuard.onCallingThread(name, owner.failures) else { return nil }
        return owner
    }

    private let callbackGuard = CallbackGuard()

    private func hostCall(_ call: (any InterruptHostInterface) -> Result<Void, InterruptHost.HostError>) -> Int32 {
        if case .success = call(host) { return 0 }
        return 1
    }

    func takeForeignFailure() -> String? { failures.take() ?? LateCallbacks.take() }
    var foreignFailurePending: Bool { failures.pending }

    private func vector(_ value: Int) -> UInt32 { UInt32(clamping: value) }

    func setEnabled(_ enabled: Bool) { ops.set_enabled!(handle, enabled ? 1 : 0) }
    func setFunctionMask(_ masked: Bool) { ops.set_function_mask!(handle, masked ? 1 : 0) }
    func writeEntry(vector: Int, address: UInt64, data: UInt32) { ops.write_entry!(handle, self.vector(vector), address, data) }
    func setVectorMask(vector: Int, masked: Bool) { ops.set_vector_mask!(handle, self.vector(vector), masked ? 1 : 0) }
    func setPASID(vector: Int, pasid: UInt32?) { ops.set_pasid!(handle, self.vector(vector), pasid == nil ? 0 : 1, pasid ?? 0) }
    func hostTriggered(vector: Int) { ops.host_triggered!(handle, self.vector(vector)) }

    func pendingBits() -> UInt64 {
        let bits = ops.pending_bits!(handle)
        if vectors < 64 && bits >> UInt64(vectors) != 0 {
            failures.record("pending_bits returned \(hex(bits)), with bits beyond the \(vectors)-vector table")
        }
        return bits
    }
}
