import IOMMUOptimized
import IOMMUSpec

/// Planted bugs of the Interrupts surface, each a switch on `InterruptOptimized`.
public enum InterruptMutants {
    static let catalogue: [(bug: InterruptBug, mutant: Mutant)] = [
        (.noLatchOnReallocation, Mutant(
            name: "no-latch-on-reallocation", surface: .interrupts,
            summary: "growing the host index disables every vector and re-enables more, and a raise in the gap is never replayed",
            source: "seed 003: QEMU vfio_msix_vector_do_use disables all vectors and re-enables 0..n (VFIO_IRQ_INFO_NORESIZE)")),
        (.pendingNotDeliveredOnUnmask, Mutant(
            name: "pending-not-delivered-on-unmask", surface: .interrupts,
            summary: "unmasking a vector with its pending bit set does not fire it",
            source: "QEMU hw/pci/msix.c msix_handle_mask_update must fire a pending vector on unmask")),
        (.pendingDeliveredTwice, Mutant(
            name: "pending-delivered-twice", surface: .interrupts,
            summary: "firing a pending vector does not clear its pending bit, so a later unmask fires it again",
            source: "msix.c msix_clr_pending before msix_notify")),
        (.staleMessage, Mutant(
            name: "stale-message", surface: .interrupts,
            summary: "an entry written while its vector is unmasked does not update the interrupt route; the old address/data is delivered",
            source: "KVM MSI routes must follow table writes (QEMU kvm_irqchip_update_msi_route)")),
        (.imsPASIDNotProgrammed, Mutant(
            name: "ims-pasid-not-programmed", surface: .interrupts,
            summary: "the guest's PASID for an IMS entry is never programmed into the host entry, so the wrong PASID fires it",
            source: "seed 003: idxd IMS entries carry a PASID so one mdev cannot raise another's interrupt")),
        (.raiseDuringFunctionMaskDropped, Mutant(
            name: "raise-during-function-mask-dropped", surface: .interrupts,
            summary: "a raise while the function mask is set is dropped instead of setting the pending bit",
            source: "PCI MSI-X: Function Mask defers messages to the pending bits; msix.c msix_is_masked")),
        (.pendingMask32Bits, Mutant(
            name: "pending-mask-32-bits", surface: .interrupts,
            summary: "the VMM keeps the MSI-X pending bits in 32 bits: a raise on a masked vector 32 or above is forgotten",
            source: "QEMU hw/pci/msix.c keeps one pending bit per vector (msix_set_pending); tables here have up to 64 vectors, the ABI's pending word"))
    ]

    public static var all: [Mutant] { catalogue.map(\.mutant) }

    public static func make(_ name: String, configuration: InterruptConfiguration, host: InterruptHost) -> InterruptOptimized? {
        guard let entry = catalogue.first(where: { $0.mutant.name == name }) else { return nil }
        let system = InterruptOptimized(configuration: configuration, host: host)
        system.plantedBug = entry.bug
        return system
    }
}
