import IOMMUSpec
import PropertyCheck

extension InterruptCheck: SurfaceDefinition {
    public static var surface: Surface { .interrupts }
    static let fixedAxes: Set<String> = ["--vectors", "--dynamic-allocation"]

    static func make(_ implementation: ImplementationChoice, policy: String?, stateful: StatefulOptions, fixed: FixedConfiguration) throws(ImplementationUnavailable) -> InterruptCheck {
        var check = try InterruptCheck(stateful: stateful, policy: InterruptPolicy.commandLine(policy), implementation: implementation)
        check.fixed = fixed
        return check
    }

    static func contract(policy: String?) throws(ImplementationUnavailable) -> String {
        contractText + "\n" + (try InterruptPolicy.contractLines(policy))
    }

    private static let contractText = """
        Interrupts (docs/SEMANTICS.md, "Interrupts"; QEMU hw/pci/msix.c, hw/vfio/pci.c, linux vfio_pci_intrs.c and pci_write_msg_msix, seed 003)
        a vector is masked if MSI-X is disabled, the function mask is set, or its own mask bit is set
        a raise on a masked vector sets its pending bit; unmasking a vector with its bit set clears it and delivers once
        the raises of one step on one unmasked vector may be one interrupt (an eventfd counts, QEMU
          reads and clears it, then notifies once): at least one delivery where the model has any,
          never more than raises, none that no raise caused, none lost while the host reallocates
          vectors (disable and re-enable, or dynamic grow)
        the message delivered is the entry's at delivery; an entry rewritten while its vector is
          unmasked may deliver the old or the new message until the vector is next masked
          (PCI: "the result is undefined")
        the host latches raises on a vector it has no host vector for, as a pending bit: several are one
        IMS: an entry tagged with a PASID fires only for a raise carrying that PASID; untagged entries use
          the device's default PASID
        the host may or may not grow an enabled index (dynamic MSI-X); both must lose nothing
        raises are injected between any two host calls of one guest operation
    """
}
