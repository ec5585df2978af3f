/// The contract of one real isolation interface, as rule switches. The rules every interface
/// shares (ownership counts, viability, the group-wide PASID table, where DMA goes) are the
/// kernel's and hold under every preset; docs/SEMANTICS.md ("Isolation") gives each its source.
public struct IsolationPolicy: Hashable, Sendable, CustomStringConvertible {
    /// How a user takes devices: a whole group at once (a VFIO container), or device by device
    /// (a VFIO device cdev bound to an iommufd).
    public var interface: OwnershipInterface
    /// Whether PASIDs can be attached at all.
    public var pasid: PASIDSupport
    /// What untagged DMA from an owned group attached to no domain does.
    public var detached: DetachedDMA
    /// What attaching a group that is already attached does.
    public var reattach: Reattach

    public init(interface: OwnershipInterface, pasid: PASIDSupport, detached: DetachedDMA, reattach: Reattach) {
        self.interface = interface
        self.pasid = pasid
        self.detached = detached
        self.reattach = reattach
    }

    /// VFIO_GROUP_SET_CONTAINER and the type1 container: the group API of iommu.c, no PASIDs.
    public static let vfioContainer = IsolationPolicy(interface: .group, pasid: .none, detached: .blocked, reattach: .refused)
    /// VFIO device cdevs bound to an iommufd: the counted device API, group-wide PASIDs.
    public static let iommufd = IsolationPolicy(interface: .device, pasid: .groupWide, detached: .blocked, reattach: .refused)
    /// A virtio-iommu device with VIRTIO_IOMMU_F_BYPASS_CONFIG and bypass = 1 (QEMU's default,
    /// boot-bypass=true): endpoints attached to no domain are in bypass.
    public static let virtioIOMMU = IsolationPolicy(interface: .group, pasid: .none, detached: .bypass, reattach: .replaces)
    /// A virtio-iommu device whose endpoints attached to no domain are blocked (bypass = 0).
    public static let virtioIOMMUNoBypass = virtioIOMMU.with { $0.detached = .blocked }

    public var description: String { presetName }
}

public enum OwnershipInterface: String, Hashable, Sendable, CaseIterable {
    /// claim, release, attach and detach name a group (iommu_group_claim_dma_owner).
    case group
    /// claim-device, release-device, attach-device and detach-device name a device
    /// (iommu_device_claim_dma_owner, counted per owner).
    case device
}

public enum PASIDSupport: String, Hashable, Sendable, CaseIterable {
    /// No PASID interface: attach-pasid and detach-pasid fail with no-pasid-support.
    case none
    /// One domain per (group, PASID), programmed on every PASID-capable device of the group.
    case groupWide = "group-wide"
}

public enum DetachedDMA: String, Hashable, Sendable, CaseIterable {
    /// The blocking domain faults it (iommu.c: an owned group is blocked, not in its default domain).
    case blocked
    /// Bypass: the endpoint reaches guest-physical memory untranslated (virtio-iommu bypass).
    case bypass
}

public enum Reattach: String, Hashable, Sendable, CaseIterable {
    /// Attaching an attached group fails with already-attached (iommu.c __iommu_attach_group: EBUSY).
    case refused
    /// The new domain replaces the old (virtio-iommu ATTACH: "as if the driver issued a DETACH").
    case replaces
}

extension IsolationPolicy: SwitchedPolicy {
    public static let presets: [(name: String, policy: IsolationPolicy)] = [
        ("vfio-container", .vfioContainer),
        ("iommufd", .iommufd),
        ("virtio-iommu", .virtioIOMMU),
        ("virtio-iommu-no-bypass", .virtioIOMMUNoBypass),
    ]

    public static let switches: [PolicySwitch<IsolationPolicy>] = [
        .choice("interface", \.interface) {
            switch $0 {
            case .group: "a user takes a whole group: claim fails with already-claimed if it holds the group, owned-by-other if another user does, not-viable while a kernel DMA driver is bound to a device of it; attach and detach act on every device of the group"
            case .device: "a user takes devices one by one (bound to the user-access driver): ownership of the group is counted, so the same user may claim every device and the group returns to the kernel's default domain only when the last is released; another user gets owned-by-other; a device cannot be claimed twice (already-bound); attaching a second device to another domain than the group's fails with attached-elsewhere, attaching an attached device moves the whole group"
            }
        },
        .choice("pasid", \.pasid) {
            switch $0 {
            case .none: "there is no PASID interface: attach-pasid and detach-pasid fail with no-pasid-support"
            case .groupWide: "a PASID is attached per group: the domain is programmed on every PASID-capable device of the group, a second device naming another domain fails with attached-elsewhere, and the PASID is freed when the last device that attached it detaches"
            }
        },
        .choice("detached", \.detached) {
            switch $0 {
            case .blocked: "untagged DMA from an owned group attached to no domain is blocked"
            case .bypass: "untagged DMA from an owned group attached to no domain bypasses translation (identity)"
            }
        },
        .choice("reattach", \.reattach) {
            switch $0 {
            case .refused: "attaching a group that is attached fails with already-attached"
            case .replaces: "attaching a group that is attached replaces its domain"
            }
        },
    ]
}
