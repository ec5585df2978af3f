import IOMMUOptimized
import IOMMUSpec

/// Planted bugs of the Interrupts surface, each a switch on `InterruptOptimized`.
public enum InterruptMutants {
    package static let catalogue = MutantCatalogue<InterruptBug>(.interrupts, [
        (.noLatchOnReallocation, name: "no-latch-on-reallocation",
            summary: "growing the host index disables every vector and re-enables more, and a raise in the gap is never replayed",
            source: "seed 003: QEMU vfio_msix_vector_do_use disables all vectors and re-enables 0..n (VFIO_IRQ_INFO_NORESIZE)"),
        (.pendingNotDeliveredOnUnmask, name: "pending-not-delivered-on-unmask",
            summary: "unmasking a vector with its pending bit set does not fire it",
            source: "QEMU hw/pci/msix.c msix_handle_mask_update must fire a pending vector on unmask"),
        (.pendingDeliveredTwice, name: "pending-delivered-twice",
            summary: "firing a pending vector does not clear its pending bit, so a later unmask fires it again",
            source: "msix.c msix_clr_pending before msix_notify"),
        (.staleMessage, name: "stale-message",
            summary: "an entry written while its vector is unmasked does not update the interrupt route; the old address/data is delivered",
            source: "KVM MSI routes must follow table writes (QEMU kvm_irqchip_update_msi_route)"),
        (.imsPASIDNotProgrammed, name: "ims-pasid-not-programmed",
            summary: "the guest's PASID for an IMS entry is never programmed into the host entry, so the wrong PASID fires it",
            source: "seed 003: idxd IMS entries carry a PASID so one mdev cannot raise another's interrupt"),
        (.raiseDuringFunctionMaskDropped, name: "raise-during-function-mask-dropped",
            summary: "a raise while the function mask is set is dropped instead of setting the pending bit",
            source: "PCI MSI-X: Function Mask defers messages to the pending bits; msix.c msix_is_masked"),
        (.pendingMask32Bits, name: "pending-mask-32-bits",
            summary: "the VMM keeps the MSI-X pending bits in 32 bits: a raise on a masked vector 32 or above is forgotten",
            source: "QEMU hw/pci/msix.c keeps one pending bit per vector (msix_set_pending); tables here have up to 64 vectors, the ABI's pending word")
    ])

    public static var all: [Mutant] { catalogue.all }
}
